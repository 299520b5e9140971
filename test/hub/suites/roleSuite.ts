import { describe, expect, it } from "vitest";
import { unique, type TestHub } from "../helpers.js";

export function roleSuite(t: TestHub): void {
  describe("API tokens and roles", () => {
    it("refuses requests without a token, with a malformed one, and with an unknown one (401)", async () => {
      const none = await t.req("GET", "/v1/nodes", { token: null });
      expect(none.status).toBe(401);
      expect(none.json.error.code).toBe("HUB_UNAUTHENTICATED");
      expect(none.headers["www-authenticate"]).toContain("Bearer");
      const junk = await t.req("GET", "/v1/nodes", { token: "hello" });
      expect(junk.json.error.code).toBe("HUB_UNAUTHENTICATED");
      // Right shape, right id, wrong secret: the constant-time hash comparison must refuse it.
      const forged = t.adminToken.slice(0, -4) + (t.adminToken.endsWith("AAAA") ? "BBBB" : "AAAA");
      const f = await t.req("GET", "/v1/nodes", { token: forged });
      expect(f.status).toBe(401);
      expect(f.json.error.message).toBe("unknown API token");
    });

    it("tells whoami, and never stores the secret (only its sha256)", async () => {
      const r = await t.req("GET", "/v1/whoami");
      expect(r.json).toMatchObject({ orgId: t.orgId, orgName: "default", role: "admin", operator: true });
      const rows = await t.hub.db.selectFrom("api_tokens").select(["secret_hash"]).execute();
      for (const row of rows) {
        expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(t.adminToken).not.toContain(row.secret_hash);
      }
      const list = await t.req("GET", "/v1/tokens");
      expect(list.body).not.toContain(t.adminToken.slice(-20));
    });

    it("a viewer reads but cannot write", async () => {
      const viewer = await t.token("viewer");
      expect((await t.req("GET", "/v1/nodes", { token: viewer })).status).toBe(200);
      expect((await t.req("GET", "/v1/deployments", { token: viewer })).status).toBe(200);
      for (const [method, url, body] of [
        ["POST", "/v1/publishers", { name: unique("p") }],
        ["POST", "/v1/enrollment-tokens", {}],
        ["POST", "/v1/tokens", { name: "x", role: "admin" }],
        ["POST", "/v1/deployments", { name: "d", bundleDigest: `sha256:${"0".repeat(64)}`, selector: {} }],
      ] as const) {
        const r = await t.req(method, url, { token: viewer, body });
        expect(r.status, url).toBe(403);
        expect(r.json.error.code).toBe("HUB_FORBIDDEN");
        expect(r.json.error.hint).toContain("admin");
      }
      // Viewers never see tokens, even without secrets.
      expect((await t.req("GET", "/v1/tokens", { token: viewer })).status).toBe(403);
    });

    it("a publisher cannot create tokens, enrollment tokens or publishers", async () => {
      const pub = await t.newPublisher();
      expect((await t.req("POST", "/v1/tokens", { token: pub.token, body: { name: "x", role: "viewer" } })).status).toBe(403);
      expect((await t.req("POST", "/v1/enrollment-tokens", { token: pub.token, body: {} })).status).toBe(403);
      expect((await t.req("POST", "/v1/publishers", { token: pub.token, body: { name: unique("p") } })).status).toBe(403);
      expect((await t.req("GET", "/v1/bundles", { token: pub.token })).status).toBe(200);
    });

    it("a publisher token must name an existing publisher of the org", async () => {
      const missing = await t.req("POST", "/v1/tokens", { body: { name: "x", role: "publisher" } });
      expect(missing.status).toBe(400);
      expect(missing.json.error.path).toBe("body.publisherId");
      const unknown = await t.req("POST", "/v1/tokens", { body: { name: "x", role: "publisher", publisherId: "pub_nope" } });
      expect(unknown.status).toBe(404);
    });

    it("a revoked token stops working at once", async () => {
      const r = await t.req("POST", "/v1/tokens", { body: { name: "short-lived", role: "viewer" } });
      expect((await t.req("GET", "/v1/whoami", { token: r.json.token })).status).toBe(200);
      const rev = await t.req("POST", `/v1/tokens/${r.json.id}/revoke`);
      expect(rev.status).toBe(200);
      expect(rev.json.revokedAt).toBeTruthy();
      const after = await t.req("GET", "/v1/whoami", { token: r.json.token });
      expect(after.status).toBe(401);
      expect(after.json.error.message).toContain("revoked");
    });

    it("an expired token is refused", async () => {
      const r = await t.req("POST", "/v1/tokens", { body: { name: "exp", role: "viewer", expiresAt: new Date(Date.now() + 60_000).toISOString() } });
      await t.hub.db.updateTable("api_tokens").set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where("id", "=", r.json.id).execute();
      const after = await t.req("GET", "/v1/whoami", { token: r.json.token });
      expect(after.status).toBe(401);
      expect(after.json.error.message).toContain("expired");
    });

    it("operator-org admins create orgs; the new org's admin sees only its own org and cannot create orgs", async () => {
      const name = unique("acme");
      const r = await t.req("POST", "/v1/orgs", { body: { name } });
      expect(r.status).toBe(201);
      expect(r.json.org).toMatchObject({ name, operator: false });
      const other = r.json.adminToken.token as string;
      expect((await t.req("GET", "/v1/orgs", { token: other })).json.map((o: { name: string }) => o.name)).toEqual([name]);
      expect((await t.req("GET", "/v1/nodes", { token: other })).json).toEqual([]);
      const denied = await t.req("POST", "/v1/orgs", { token: other, body: { name: unique("evil") } });
      expect(denied.status).toBe(403);
      expect((await t.req("POST", "/v1/orgs", { body: { name } })).status).toBe(409);
      // Orgs are isolated: the default org's publishers are invisible to it.
      await t.newPublisher();
      expect((await t.req("GET", "/v1/publishers", { token: other })).json).toEqual([]);
    });
  });
}
