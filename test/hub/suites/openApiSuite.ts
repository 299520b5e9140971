import { describe, expect, it } from "vitest";
import type { TestHub } from "../helpers.js";

export function openApiSuite(t: TestHub): void {
  describe("OpenAPI document", () => {
    it("is served without authentication and lists every route", async () => {
      const r = await t.req("GET", "/openapi.json", { token: null });
      expect(r.status).toBe(200);
      expect(r.json.openapi).toBe("3.1.0");
      const listed = Object.entries(r.json.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
      const registered = t.server.routes.map((route) => `${route.method} ${route.url.replace(/:(\w+)/g, "{$1}")}`);
      expect(listed.sort()).toEqual(registered.sort());
      for (const must of ["POST /v1/orgs", "POST /v1/tokens", "POST /v1/enrollment-tokens", "POST /v1/enroll", "GET /v1/nodes", "PATCH /v1/nodes/{id}/labels", "POST /v1/nodes/{id}/revoke", "POST /v1/publishers/{id}/keys", "POST /v1/bundles", "POST /v1/deployments", "GET /v1/audit", "GET /v1/node/desired-state", "POST /v1/node/status", "POST /v1/node/alerts"]) {
        expect(listed).toContain(must);
      }
    });

    it("describes request bodies with the schemas that validate them (strict objects), auth and errors", async () => {
      const doc = (await t.req("GET", "/openapi.json", { token: null })).json;
      const create = doc.paths["/v1/deployments"].post;
      const body = create.requestBody.content["application/json"].schema;
      expect(body.additionalProperties).toBe(false);
      expect(body.required).toEqual(expect.arrayContaining(["name", "bundleDigest", "selector"]));
      expect(body.properties.selector.additionalProperties).toBe(false);
      expect(create.security).toEqual([{ bearerToken: [] }]);
      expect(create.responses["201"]).toBeDefined();
      expect(create.responses["403"].description).toContain("HUB_FORBIDDEN");
      const ds = doc.paths["/v1/node/desired-state"].get;
      expect(ds.security).toEqual([{ nodeSignature: [] }]);
      expect(ds.responses["304"]).toBeDefined();
      expect(ds.responses["401"].description).toContain("HUB_NODE_REPLAY");
      expect(doc.paths["/v1/enroll"].post.security).toEqual([]);
      expect(doc.paths["/v1/nodes/{id}"].get.parameters).toContainEqual(expect.objectContaining({ name: "id", in: "path", required: true }));
      expect(doc.components.securitySchemes.nodeSignature.description).toContain("palisade-node-v1");
    });
  });
}
