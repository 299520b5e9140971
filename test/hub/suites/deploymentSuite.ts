import { describe, expect, it } from "vitest";
import { envelope, unique, type TestHub } from "../helpers.js";

const DS = "/v1/node/desired-state";
const digests = (body: { workloads: { bundle: { digest: string } }[] }) => body.workloads.map((w) => w.bundle.digest);

export function deploymentSuite(t: TestHub): void {
  describe("deployments and desired state", () => {
    it("gives the bundle to matching nodes only", async () => {
      const zone = unique("zone");
      const pub = await t.newPublisher();
      const inside = await t.newNode({ zone, tier: "edge" });
      const outside = await t.newNode({ zone: `${zone}-other`, tier: "edge" });
      const up = await t.upload(pub, envelope(unique("app"), 1));
      const dep = await t.req("POST", "/v1/deployments", { token: pub.token, body: { name: unique("d"), bundleDigest: up.json.digest, selector: { matchLabels: { zone } } } });
      expect(dep.status).toBe(201);
      expect(dep.json).toMatchObject({ bundleDigest: up.json.digest, revision: 1, bundleVersion: 1, publisherId: pub.id });
      const a = await t.nodeReq(inside, "GET", DS);
      expect(a.status).toBe(200);
      expect(a.json.format).toBe("palisade.desired-state/v1");
      expect(digests(a.json)).toEqual([up.json.digest]);
      expect(a.json.workloads[0]).toMatchObject({ deployment: dep.json.name, deploymentId: dep.json.id, bundle: { name: up.json.name, version: 1, keyId: pub.keyId } });
      const b = await t.nodeReq(outside, "GET", DS);
      expect(digests(b.json)).toEqual([]);
      // …and the other node may not fetch it either.
      expect((await t.nodeReq(outside, "GET", `/v1/node/bundles/${up.json.digest}`)).status).toBe(404);
    });

    it("answers 304 while nothing changed, and a new ETag after a change", async () => {
      const zone = unique("zone");
      const pub = await t.newPublisher();
      const node = await t.newNode({ zone });
      const name = unique("app");
      const v1 = await t.upload(pub, envelope(name, 1));
      const dep = await t.req("POST", "/v1/deployments", { token: pub.token, body: { name: unique("d"), bundleDigest: v1.json.digest, selector: { matchLabels: { zone } } } });
      const first = await t.nodeReq(node, "GET", DS);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
      const same = await t.nodeReq(node, "GET", DS, undefined, { headers: { "if-none-match": etag } });
      expect(same.status).toBe(304);
      expect(same.body).toBe("");
      expect(same.headers.etag).toBe(etag);

      const v2 = await t.upload(pub, envelope(name, 2));
      const patched = await t.req("PATCH", `/v1/deployments/${dep.json.id}`, { token: pub.token, body: { bundleDigest: v2.json.digest } });
      expect(patched.status).toBe(200);
      expect(patched.json.revision).toBe(2);
      const changed = await t.nodeReq(node, "GET", DS, undefined, { headers: { "if-none-match": etag } });
      expect(changed.status).toBe(200);
      expect(changed.headers.etag).not.toBe(etag);
      expect(digests(changed.json)).toEqual([v2.json.digest]);

      // Rollbacks are refused: agents would refuse an older version anyway.
      const back = await t.req("PATCH", `/v1/deployments/${dep.json.name}`, { token: pub.token, body: { bundleDigest: v1.json.digest } });
      expect(back.status).toBe(409);
      expect(back.json.error.code).toBe("HUB_BUNDLE_VERSION");
    });

    it("identical label sets share one cached document (same ETag, one computation)", async () => {
      const zone = unique("zone");
      const n1 = await t.newNode({ zone });
      const n2 = await t.newNode({ zone });
      const before = t.server.ctx.desired.misses;
      const a = await t.nodeReq(n1, "GET", DS);
      const b = await t.nodeReq(n2, "GET", DS);
      expect(a.headers.etag).toBe(b.headers.etag);
      expect(t.server.ctx.desired.misses - before).toBeLessThanOrEqual(1);
    });

    it("follows label changes, matchExpressions and deletion", async () => {
      const zone = unique("zone");
      const pub = await t.newPublisher();
      const node = await t.newNode({ zone: "nowhere" });
      const up = await t.upload(pub, envelope(unique("app"), 1));
      const dep = await t.req("POST", "/v1/deployments", {
        body: { name: unique("d"), bundleDigest: up.json.digest, selector: { matchExpressions: [{ key: "zone", operator: "In", values: [zone] }, { key: "quarantine", operator: "DoesNotExist" }] } },
      });
      expect(dep.status).toBe(201);
      expect(digests((await t.nodeReq(node, "GET", DS)).json)).toEqual([]);
      const relabel = await t.req("PATCH", `/v1/nodes/${node.id}/labels`, { body: { labels: { zone } } });
      expect(relabel.json.labels).toEqual({ zone });
      expect(digests((await t.nodeReq(node, "GET", DS)).json)).toEqual([up.json.digest]);
      await t.req("PATCH", `/v1/nodes/${node.id}/labels`, { body: { labels: { quarantine: "yes" } } });
      expect(digests((await t.nodeReq(node, "GET", DS)).json)).toEqual([]);
      await t.req("PATCH", `/v1/nodes/${node.id}/labels`, { body: { labels: { quarantine: null } } });
      expect(digests((await t.nodeReq(node, "GET", DS)).json)).toEqual([up.json.digest]);
      const listed = await t.req("GET", `/v1/nodes?selector=${encodeURIComponent(`zone=${zone},!quarantine`)}`);
      expect(listed.json.map((n: { id: string }) => n.id)).toEqual([node.id]);
      expect((await t.req("DELETE", `/v1/deployments/${dep.json.id}`)).status).toBe(200);
      expect(digests((await t.nodeReq(node, "GET", DS)).json)).toEqual([]);
    });

    it("tells nodes about revoked publisher keys, and refuses to deploy bundles signed by them", async () => {
      const pub = await t.newPublisher();
      const node = await t.newNode({ zone: unique("zone") });
      const up = await t.upload(pub, envelope(unique("app"), 1));
      const before = await t.nodeReq(node, "GET", DS);
      await t.req("POST", `/v1/publishers/${pub.id}/keys/${pub.keyId}/revoke`);
      const after = await t.nodeReq(node, "GET", DS, undefined, { headers: { "if-none-match": before.headers.etag as string } });
      expect(after.status).toBe(200);
      expect(after.json.revokedKeys).toContain(pub.keyId);
      const dep = await t.req("POST", "/v1/deployments", { body: { name: unique("d"), bundleDigest: up.json.digest, selector: {} } });
      expect(dep.status).toBe(422);
      expect(dep.json.error.code).toBe("HUB_KEY_REVOKED");
    });

    it("publishers deploy only their own bundles; names are unique; selectors are checked", async () => {
      const a = await t.newPublisher();
      const b = await t.newPublisher();
      const up = await t.upload(a, envelope(unique("app"), 1));
      const name = unique("d");
      const theirs = await t.req("POST", "/v1/deployments", { token: b.token, body: { name, bundleDigest: up.json.digest, selector: { matchLabels: { x: "y" } } } });
      expect(theirs.status).toBe(403);
      expect((await t.req("POST", "/v1/deployments", { token: a.token, body: { name, bundleDigest: up.json.digest, selector: { matchLabels: { x: "y" } } } })).status).toBe(201);
      expect((await t.req("POST", "/v1/deployments", { token: a.token, body: { name, bundleDigest: up.json.digest, selector: {} } })).status).toBe(409);
      expect((await t.req("DELETE", `/v1/deployments/${name}`, { token: b.token })).status).toBe(403);
      const bad = await t.req("POST", "/v1/deployments", { body: { name: unique("d"), bundleDigest: up.json.digest, selector: { matchExpressions: [{ key: "a", operator: "In" }] } } });
      expect(bad.status).toBe(400);
      const missing = await t.req("POST", "/v1/deployments", { body: { name: unique("d"), bundleDigest: `sha256:${"f".repeat(64)}`, selector: {} } });
      expect(missing.status).toBe(404);
    });
  });
}
