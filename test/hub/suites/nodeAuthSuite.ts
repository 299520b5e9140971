import { describe, expect, it } from "vitest";
import { createHubServer } from "../../../src/hub/createHubServer.js";
import { generateEd25519 } from "../../../src/hub/ed25519.js";
import { signNodeRequest } from "../../../src/hub/nodeAuth.js";
import { envelope, unique, type TestHub } from "../helpers.js";

const DS = "/v1/node/desired-state";
const statusBody = (id: string) => ({ items: [{ id, time: new Date().toISOString(), workloads: [] }] });

export function nodeAuthSuite(t: TestHub): void {
  describe("node request signing", () => {
    it("accepts a correctly signed request and records last-seen", async () => {
      const node = await t.newNode();
      const r = await t.nodeReq(node, "GET", DS);
      expect(r.status).toBe(200);
      const shown = await t.req("GET", `/v1/nodes/${node.id}`);
      expect(shown.json.status).toBe("online");
      await t.server.ctx.activity.flush();
      const row = await t.hub.db.selectFrom("nodes").select("last_seen_at").where("id", "=", node.id).executeTakeFirstOrThrow();
      expect(row.last_seen_at).not.toBeNull();
    });

    it("refuses a tampered body", async () => {
      const node = await t.newNode();
      const signed = statusBody("a1");
      const r = await t.nodeReq(node, "POST", "/v1/node/status", signed, { sendBody: JSON.stringify(statusBody("a2")) });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("HUB_NODE_AUTH");
      expect(r.json.error.message).toContain("does not verify");
    });

    it("refuses a changed path or method", async () => {
      const node = await t.newNode();
      const headers = signNodeRequest(node.privateKey, { nodeId: node.id, method: "GET", target: DS });
      const r = await t.req("GET", `${DS}?x=1`, { token: null, headers });
      expect(r.json.error.code).toBe("HUB_NODE_AUTH");
    });

    it("refuses a signature by another key", async () => {
      const node = await t.newNode();
      const r = await t.nodeReq(node, "GET", DS, undefined, { signWith: generateEd25519().privateKey });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("HUB_NODE_AUTH");
    });

    it("refuses timestamps outside ±5 minutes, telling the hub's time", async () => {
      const node = await t.newNode();
      for (const skew of [-6 * 60_000, 6 * 60_000]) {
        const r = await t.nodeReq(node, "GET", DS, undefined, { timestampMs: Date.now() + skew });
        expect(r.status).toBe(401);
        expect(r.json.error.code).toBe("HUB_NODE_CLOCK");
        expect(r.json.error.hint).toContain("NTP");
      }
      expect((await t.nodeReq(node, "GET", DS, undefined, { timestampMs: Date.now() - 4 * 60_000 })).status).toBe(200);
    });

    it("refuses a replayed request (same nonce), even with a valid signature", async () => {
      const node = await t.newNode();
      const body = JSON.stringify(statusBody("r1"));
      const headers = signNodeRequest(node.privateKey, { nodeId: node.id, method: "POST", target: "/v1/node/status", body });
      const send = () => t.req("POST", "/v1/node/status", { token: null, headers, rawBody: body });
      expect((await send()).status).toBe(200);
      const replay = await send();
      expect(replay.status).toBe(401);
      expect(replay.json.error.code).toBe("HUB_NODE_REPLAY");
    });

    it("refuses missing or malformed headers and unknown nodes", async () => {
      const missing = await t.req("GET", DS, { token: null });
      expect(missing.status).toBe(401);
      expect(missing.json.error.message).toContain("x-palisade-signature");
      const node = await t.newNode();
      const bad = await t.nodeReq(node, "GET", DS, undefined, { headers: { "x-palisade-nonce": "short" } });
      expect(bad.json.error.code).toBe("HUB_NODE_AUTH");
      const ghost = await t.nodeReq({ ...node, id: "node_0000000000000000" }, "GET", DS);
      expect(ghost.json.error.message).toContain("unknown node");
      // An API token is not a node identity.
      expect((await t.req("GET", DS)).json.error.code).toBe("HUB_NODE_AUTH");
    });

    it("refuses a revoked node with 403 HUB_NODE_REVOKED", async () => {
      const node = await t.newNode();
      const rev = await t.req("POST", `/v1/nodes/${node.id}/revoke`, { body: { reason: "stolen" } });
      expect(rev.status).toBe(200);
      expect(rev.json).toMatchObject({ status: "revoked", revokeReason: "stolen" });
      const r = await t.nodeReq(node, "GET", DS);
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe("HUB_NODE_REVOKED");
    });

    // The hub admits concurrent requests together (one nonce statement per batch on PostgreSQL):
    // identical copies arriving at the same moment must still be accepted once.
    it("accepts exactly one of 25 identical signed requests sent at once", async () => {
      const node = await t.newNode();
      const headers = signNodeRequest(node.privateKey, { nodeId: node.id, method: "GET", target: DS });
      const answers = await Promise.all(Array.from({ length: 25 }, () => t.server.app.inject({ method: "GET", url: DS, headers })));
      const codes = answers.map((a) => (a.statusCode === 200 ? "ok" : (JSON.parse(a.body).error.code as string)));
      expect(codes.filter((c) => c === "ok")).toHaveLength(1);
      expect(codes.filter((c) => c === "HUB_NODE_REPLAY")).toHaveLength(24);
      // Other requests of the same node in the same burst are unaffected.
      const fresh = await Promise.all(Array.from({ length: 5 }, () => t.nodeReq(node, "GET", DS)));
      expect(fresh.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    });

    // The hub keeps each node's public key in memory; revocation must not wait for anything.
    it("refuses a node that was polling the moment it is revoked", async () => {
      const node = await t.newNode();
      expect((await t.nodeReq(node, "GET", DS)).status).toBe(200);
      expect((await t.nodeReq(node, "GET", DS)).status).toBe(200);
      expect((await t.req("POST", `/v1/nodes/${node.id}/revoke`, { body: { reason: "stolen" } })).status).toBe(200);
      const r = await t.nodeReq(node, "GET", DS);
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe("HUB_NODE_REVOKED");
    });

    it("gives a polling node the deployments of its new labels at its next poll", async () => {
      const zone = unique("zone");
      const pub = await t.newPublisher();
      const node = await t.newNode({ zone: `${zone}-before` });
      const up = await t.upload(pub, envelope(unique("app"), 1));
      expect((await t.req("POST", "/v1/deployments", { token: pub.token, body: { name: unique("d"), bundleDigest: up.json.digest, selector: { matchLabels: { zone } } } })).status).toBe(201);
      const before = await t.nodeReq(node, "GET", DS);
      expect(before.json.workloads).toEqual([]);
      expect((await t.req("PATCH", `/v1/nodes/${node.id}/labels`, { body: { labels: { zone } } })).status).toBe(200);
      const after = await t.nodeReq(node, "GET", DS, undefined, { headers: { "if-none-match": before.headers.etag as string } });
      expect(after.status).toBe(200);
      expect(after.json.workloads.map((w: { bundle: { digest: string } }) => w.bundle.digest)).toEqual([up.json.digest]);
    });

    if (t.backend.name === "postgres") {
      it("refuses a request replayed to another replica (nonces are shared through PostgreSQL)", async () => {
        const replica = await createHubServer({ hub: t.hub });
        try {
          const node = await t.newNode();
          const headers = signNodeRequest(node.privateKey, { nodeId: node.id, method: "GET", target: DS });
          expect((await t.req("GET", DS, { token: null, headers })).status).toBe(200);
          const r = await replica.app.inject({ method: "GET", url: DS, headers });
          expect(r.statusCode).toBe(401);
          expect(JSON.parse(r.body).error.code).toBe("HUB_NODE_REPLAY");
        } finally {
          await replica.app.close();
        }
      });

      it("accepts one of identical requests sent at once to two replicas", async () => {
        const replica = await createHubServer({ hub: t.hub });
        try {
          const node = await t.newNode();
          const headers = signNodeRequest(node.privateKey, { nodeId: node.id, method: "GET", target: DS });
          const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? t.server : replica).app.inject({ method: "GET", url: DS, headers })));
          expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(1);
          expect(answers.filter((a) => a.statusCode === 401 && JSON.parse(a.body).error.code === "HUB_NODE_REPLAY")).toHaveLength(19);
        } finally {
          await replica.app.close();
        }
      });

      it("refuses a node at once on a replica that knows its key, when another replica revoked it", async () => {
        const replica = await createHubServer({ hub: t.hub });
        try {
          const node = await t.newNode();
          const poll = () => replica.app.inject({ method: "GET", url: DS, headers: signNodeRequest(node.privateKey, { nodeId: node.id, method: "GET", target: DS }) });
          expect((await poll()).statusCode).toBe(200);
          expect((await t.req("POST", `/v1/nodes/${node.id}/revoke`)).status).toBe(200);
          const r = await poll();
          expect(r.statusCode).toBe(403);
          expect(JSON.parse(r.body).error.code).toBe("HUB_NODE_REVOKED");
        } finally {
          await replica.app.close();
        }
      });
    }
  });
}
