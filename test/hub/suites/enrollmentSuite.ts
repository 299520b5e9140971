import { describe, expect, it } from "vitest";
import { generateEd25519 } from "../../../src/hub/ed25519.js";
import { signEnrollProof } from "../../../src/hub/nodeAuth.js";
import type { TestHub } from "../helpers.js";

export function enrollmentSuite(t: TestHub): void {
  describe("enrollment", () => {
    it("enrolls a device: node id, merged labels (token labels win), pinned publisher keys", async () => {
      const pub = await t.newPublisher();
      const token = await t.enrollmentToken({ labels: { site: "berlin", role: "gateway" } });
      expect(token).toMatch(/^pet_[0-9a-f]{16}_/);
      const { res, node } = await t.enroll(token, { role: "camera", arch: "arm64" });
      expect(res.status).toBe(201);
      expect(node!.id).toMatch(/^node_/);
      expect(res.json.orgId).toBe(t.orgId);
      expect(res.json.labels).toEqual({ site: "berlin", role: "gateway", arch: "arm64" });
      expect(res.json.publisherKeys).toContainEqual({ keyId: pub.keyId, publisherId: pub.id, publisherName: expect.any(String), publicKey: pub.publicKey });
      expect(res.json.requestSigning).toEqual({ scheme: "palisade-node-v1", clockWindowSeconds: 300 });
      const shown = await t.req("GET", `/v1/nodes/${node!.id}`);
      expect(shown.json).toMatchObject({ id: node!.id, publicKey: node!.publicKey, status: "never-seen", agentVersion: "0.1.0", hostname: "dev" });
    });

    it("refuses a single-use token the second time (409, use count unchanged)", async () => {
      const token = await t.enrollmentToken();
      expect((await t.enroll(token)).res.status).toBe(201);
      const again = await t.enroll(token);
      expect(again.res.status).toBe(409);
      expect(again.res.json.error.code).toBe("HUB_ENROLLMENT_USED_UP");
      expect(again.res.json.error.message).toContain("used 1 of 1 times");
    });

    it("lets exactly N devices through an N-use token, even all at once", async () => {
      const token = await t.enrollmentToken({ maxUses: 3 });
      const results = await Promise.all(Array.from({ length: 12 }, () => t.enroll(token)));
      const statuses = results.map((r) => r.res.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(3);
      expect(statuses.filter((s) => s === 409)).toHaveLength(9);
      const list = await t.req("GET", "/v1/enrollment-tokens");
      const row = list.json.find((e: { uses: number; maxUses: number }) => e.maxUses === 3);
      expect(row.uses).toBe(3);
      const nodes = new Set(results.filter((r) => r.node).map((r) => r.node!.id));
      expect(nodes.size).toBe(3);
    });

    it("refuses an expired token with 410", async () => {
      const token = await t.enrollmentToken();
      const id = `enr_${token.slice(4, 20)}`;
      await t.hub.db.updateTable("enrollment_tokens").set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where("id", "=", id).execute();
      const r = await t.enroll(token);
      expect(r.res.status).toBe(410);
      expect(r.res.json.error).toMatchObject({ code: "HUB_ENROLLMENT_EXPIRED", hint: expect.stringContaining("new enrollment token") });
    });

    it("refuses revoked, unknown and wrong-kind tokens (401)", async () => {
      const token = await t.enrollmentToken();
      const id = `enr_${token.slice(4, 20)}`;
      expect((await t.req("POST", `/v1/enrollment-tokens/${id}/revoke`)).status).toBe(200);
      const revoked = await t.enroll(token);
      expect(revoked.res.status).toBe(401);
      expect(revoked.res.json.error.message).toContain("revoked");
      const unknown = await t.enroll(token.slice(0, -3) + "xyz");
      expect(unknown.res.json.error.code).toBe("HUB_ENROLLMENT_TOKEN");
      const apiToken = await t.enroll(t.adminToken);
      expect(apiToken.res.json.error.message).toContain("API token");
    });

    it("requires proof that the device holds the key, bound to the token", async () => {
      const token = await t.enrollmentToken();
      const { publicKey } = generateEd25519();
      const other = generateEd25519();
      const r = await t.req("POST", "/v1/enroll", {
        token: null,
        body: { token, publicKey, proof: signEnrollProof(other.privateKey, other.publicKey, token), agentVersion: "0.1.0" },
      });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("HUB_NODE_AUTH");
      // The failed attempt did not consume the token's only use.
      expect((await t.enroll(token)).res.status).toBe(201);
    });

    it("refuses enrolling the same public key twice", async () => {
      const token = await t.enrollmentToken({ maxUses: 2 });
      const { publicKey, privateKey } = generateEd25519();
      const body = { token, publicKey, proof: signEnrollProof(privateKey, publicKey, token), agentVersion: "0.1.0" };
      expect((await t.req("POST", "/v1/enroll", { token: null, body })).status).toBe(201);
      const again = await t.req("POST", "/v1/enroll", { token: null, body });
      expect(again.status).toBe(409);
      expect(again.json.error.code).toBe("HUB_CONFLICT");
    });
  });
}
