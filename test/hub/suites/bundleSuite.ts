import { describe, expect, it } from "vitest";
import { bundleDigest, parseBundleBytes, signBundle, verifyBundleSignature } from "../../../src/hub/bundleFormat.js";
import { generateEd25519, keyIdOf } from "../../../src/hub/ed25519.js";
import { envelope, unique, type TestHub } from "../helpers.js";

export function bundleSuite(t: TestHub): void {
  describe("signed bundles", () => {
    it("stores a correctly signed bundle under its content digest; an identical re-upload is a no-op", async () => {
      const pub = await t.newPublisher();
      const env = envelope(unique("cam"), 1);
      const r = await t.upload(pub, env);
      expect(r.status).toBe(201);
      expect(r.json).toMatchObject({ digest: bundleDigest(env), name: env.name, version: 1, publisherId: pub.id, keyId: pub.keyId });
      const again = await t.upload(pub, env);
      expect(again.status).toBe(200);
      expect(again.json.digest).toBe(r.json.digest);
      const got = await t.req("GET", `/v1/bundles/${r.json.digest}`);
      expect(got.json.envelope).toEqual(env);
      const list = await t.req("GET", `/v1/bundles?name=${env.name}`);
      expect(list.json).toHaveLength(1);
    });

    it("refuses a bad signature (422 HUB_BUNDLE_SIGNATURE)", async () => {
      const pub = await t.newPublisher();
      const env = envelope(unique("cam"), 1);
      // Signed a different envelope: the signature does not cover this digest.
      const sig = signBundle({ ...env, version: 2 }, pub.privateKey, pub.publicKey);
      const r = await t.req("POST", "/v1/bundles", { token: pub.token, body: { envelope: env, signature: sig } });
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe("HUB_BUNDLE_SIGNATURE");
      expect(r.json.error.message).toContain(bundleDigest(env));
    });

    it("refuses a signature by an unregistered key", async () => {
      const pub = await t.newPublisher();
      const stranger = generateEd25519();
      const env = envelope(unique("cam"), 1);
      const r = await t.req("POST", "/v1/bundles", { token: pub.token, body: { envelope: env, signature: signBundle(env, stranger.privateKey, stranger.publicKey) } });
      expect(r.status).toBe(422);
      expect(r.json.error.message).toContain(keyIdOf(stranger.publicKey));
    });

    it("refuses a bundle signed with a revoked publisher key", async () => {
      const pub = await t.newPublisher();
      const rev = await t.req("POST", `/v1/publishers/${pub.id}/keys/${pub.keyId}/revoke`, { body: { reason: "leaked" } });
      expect(rev.status).toBe(200);
      expect(rev.json.revokedAt).toBeTruthy();
      const r = await t.upload(pub, envelope(unique("cam"), 1));
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe("HUB_KEY_REVOKED");
      // A revoked key cannot be registered again.
      expect((await t.req("POST", `/v1/publishers/${pub.id}/keys`, { body: { publicKey: pub.publicKey } })).status).toBe(409);
    });

    it("requires versions to increase per name, and a name to stay with its publisher", async () => {
      const pub = await t.newPublisher();
      const name = unique("cam");
      expect((await t.upload(pub, envelope(name, 5))).status).toBe(201);
      const older = await t.upload(pub, envelope(name, 4));
      expect(older.status).toBe(409);
      expect(older.json.error.code).toBe("HUB_BUNDLE_VERSION");
      expect(older.json.error.hint).toContain("version 6");
      const same = await t.upload(pub, envelope(name, 5, { created: "2025-02-01T00:00:00Z" }));
      expect(same.json.error.code).toBe("HUB_BUNDLE_VERSION");
      const other = await t.newPublisher();
      const stolen = await t.upload(other, envelope(name, 9));
      expect(stolen.status).toBe(409);
      expect(stolen.json.error.code).toBe("HUB_CONFLICT");
    });

    it("a publisher token signs only with its own publisher's keys; viewers cannot upload", async () => {
      const a = await t.newPublisher();
      const b = await t.newPublisher();
      const env = envelope(unique("cam"), 1);
      const r = await t.req("POST", "/v1/bundles", { token: a.token, body: { envelope: env, signature: signBundle(env, b.privateKey, b.publicKey) } });
      expect(r.status).toBe(403);
      const viewer = await t.token("viewer");
      expect((await t.req("POST", "/v1/bundles", { token: viewer, body: { envelope: env, signature: signBundle(env, a.privateKey, a.publicKey) } })).status).toBe(403);
    });

    it("refuses a workload that does not parse, naming the field", async () => {
      const pub = await t.newPublisher();
      const env = envelope(unique("cam"), 1, { workload: "apiVersion: palisade.dev/v1\nkind: Workload\nmetadata: {name: x}\nspec: {containerz: []}\n" });
      const r = await t.upload(pub, env);
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe("POLICY_SCHEMA");
      expect(r.json.error.path).toMatch(/^body\.envelope\.workload/);
    });

    it("serves a node the exact canonical bytes, which an agent verifies against its pinned key", async () => {
      const pub = await t.newPublisher();
      const token = await t.enrollmentToken({ labels: { fetch: "yes" } });
      const { res, node } = await t.enroll(token);
      const pinned = res.json.publisherKeys.find((k: { keyId: string }) => k.keyId === pub.keyId);
      const env = envelope(unique("cam"), 1);
      const up = await t.upload(pub, env);
      const dep = await t.req("POST", "/v1/deployments", { token: pub.token, body: { name: unique("d"), bundleDigest: up.json.digest, selector: { matchLabels: { fetch: "yes" } } } });
      expect(dep.status).toBe(201);
      const ds = await t.nodeReq(node!, "GET", "/v1/node/desired-state");
      const w = ds.json.workloads.find((x: { bundle: { digest: string } }) => x.bundle.digest === up.json.digest);
      const fetched = await t.nodeReq(node!, "GET", w.bundle.url);
      expect(fetched.status).toBe(200);
      // What an agent does: bytes → digest → signature by a pinned key.
      const parsed = parseBundleBytes(Buffer.from(fetched.body, "utf8"), w.bundle.digest);
      expect(parsed).toEqual(env);
      expect(verifyBundleSignature(w.bundle.digest, { keyId: w.bundle.keyId, signature: w.bundle.signature }, pinned.publicKey)).toBe(true);
    });
  });
}
