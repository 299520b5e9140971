import { describe, expect, it } from "vitest";
import type { Res, TestHub } from "../helpers.js";

function expectNoStack(r: Res): void {
  expect(r.body).not.toMatch(/\n\s+at |\.ts:\d+|node_modules/);
}

export function validationSuite(t: TestHub): void {
  describe("request validation and error rendering", () => {
    it("rejects an unknown nested field with a precise path and a did-you-mean hint", async () => {
      const r = await t.req("POST", "/v1/deployments", { body: { name: "d", bundleDigest: `sha256:${"0".repeat(64)}`, selector: { matchLabel: { a: "b" } } } });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        error: { code: "HUB_BAD_REQUEST", message: 'unknown field "matchLabel"', hint: 'did you mean "matchLabels"?', path: "body.selector.matchLabel" },
      });
    });

    it("rejects an unknown top-level field, listing what is allowed", async () => {
      const r = await t.req("POST", "/v1/publishers", { body: { name: "ok", colour: "red" } });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ path: "body.colour", message: 'unknown field "colour"', hint: "allowed fields here: name" });
    });

    it("names missing fields, wrong types and bad values by path", async () => {
      const missing = await t.req("POST", "/v1/tokens", { body: { role: "viewer" } });
      expect(missing.json.error).toMatchObject({ code: "HUB_BAD_REQUEST", path: "body.name", message: 'missing required field "name"' });
      const type = await t.req("POST", "/v1/enrollment-tokens", { body: { maxUses: "three" } });
      expect(type.json.error.path).toBe("body.maxUses");
      const value = await t.req("POST", "/v1/tokens", { body: { name: "x", role: "root" } });
      expect(value.json.error.path).toBe("body.role");
      const deep = await t.req("POST", "/v1/node/status", {
        token: null,
        body: { items: [] },
      });
      expect(deep.status).toBe(401); // authentication comes before validation
      const label = await t.req("POST", "/v1/enrollment-tokens", { body: { labels: { "bad key!": "x" } } });
      expect(label.json.error.path).toMatch(/^body\.labels/);
    });

    it("validates query strings and path parameters too", async () => {
      const q = await t.req("GET", "/v1/audit?limit=5000");
      expect(q.status).toBe(400);
      expect(q.json.error.path).toBe("query.limit");
      const unknown = await t.req("GET", "/v1/nodes?colour=red");
      expect(unknown.json.error.path).toBe("query.colour");
      const p = await t.req("GET", "/v1/bundles/not-a-digest");
      expect(p.json.error.path).toBe("params.digest");
    });

    it("renders malformed JSON, wrong content types and unknown routes as the same error shape", async () => {
      const bad = await t.req("POST", "/v1/publishers", { rawBody: "{not json" });
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe("HUB_BAD_REQUEST");
      expectNoStack(bad);
      const ct = await t.req("POST", "/v1/publishers", { rawBody: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
      expect(ct.status).toBe(415);
      expect(ct.json.error.code).toBe("HUB_BAD_REQUEST");
      const nf = await t.req("GET", "/v1/nope");
      expect(nf.status).toBe(404);
      expect(nf.json.error).toMatchObject({ code: "HUB_NOT_FOUND", hint: expect.stringContaining("openapi.json") });
      const poison = await t.req("POST", "/v1/publishers", { rawBody: '{"name":"x","__proto__":{"admin":true}}' });
      expect(poison.status).toBe(400);
    });

    it("never sends a stack trace, even for an internal error", async () => {
      const unknownNode = await t.req("GET", "/v1/nodes/node_missing");
      expect(unknownNode.status).toBe(404);
      expectNoStack(unknownNode);
      // Break the store under one request: the client gets a code and a request id, the log gets the rest.
      const original = t.server.ctx.desired.get.bind(t.server.ctx.desired);
      t.server.ctx.desired.get = async () => {
        throw new Error("boom at /secret/path.ts:12");
      };
      try {
        const node = await t.newNode();
        const r = await t.nodeReq(node, "GET", "/v1/node/desired-state");
        expect(r.status).toBe(500);
        expect(r.json.error.code).toBe("INTERNAL");
        expect(r.body).not.toContain("boom");
        expectNoStack(r);
      } finally {
        t.server.ctx.desired.get = original;
      }
    });
  });
}
