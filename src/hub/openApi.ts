/**
 * The OpenAPI 3.1 document served at GET /openapi.json, generated from the
 * route declarations (hubRoute.ts) and the zod schemas that also validate
 * requests, so the document is the API and cannot go stale.
 */
import { z, type ZodType } from "zod/v4";
import { ERROR_CODES, type ErrorCode } from "../core/errors.js";
import { PALISADE_VERSION } from "../core/version.js";
import { ErrorResponse } from "./apiSchemas.js";
import { httpStatusOf } from "./httpErrors.js";
import type { HubRoute } from "./hubRoute.js";

type Json = Record<string, unknown>;

function jsonSchema(schema: ZodType, io: "input" | "output"): Json {
  const s = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as Json;
  delete s.$schema;
  return s;
}

/** Path and query parameters from a zod object schema. */
function parameters(schema: ZodType | undefined, where: "path" | "query"): Json[] {
  if (!schema) return [];
  const s = jsonSchema(schema, "input");
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required ?? []) as string[]);
  return Object.entries(props).map(([name, p]) => ({
    name,
    in: where,
    required: where === "path" || required.has(name),
    ...(typeof p.description === "string" ? { description: p.description } : {}),
    schema: p,
  }));
}

const AUTH_ERRORS: Record<string, readonly ErrorCode[]> = {
  token: ["HUB_UNAUTHENTICATED", "HUB_FORBIDDEN"],
  node: ["HUB_NODE_AUTH", "HUB_NODE_CLOCK", "HUB_NODE_REPLAY", "HUB_NODE_REVOKED"],
  public: [],
};

function operation(route: HubRoute): Json {
  const authKind = typeof route.auth === "string" ? route.auth : "token";
  const responses: Record<string, Json> = {};
  const status = String(route.status ?? 200);
  const media = route.responseMediaType ?? "application/json";
  responses[status] = { description: "success", ...(route.response ? { content: { [media]: { schema: jsonSchema(route.response, "output") } } } : {}) };
  for (const [code, description] of Object.entries(route.otherResponses ?? {})) responses[code] = { description };

  // Group error codes by HTTP status: each status documents the codes it can carry.
  const codes = new Set<ErrorCode>([...(route.body || route.query || route.params ? (["HUB_BAD_REQUEST"] as const) : []), ...(AUTH_ERRORS[authKind] ?? []), ...(route.errors ?? [])]);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(httpStatusOf(c), [...(byStatus.get(httpStatusOf(c)) ?? []), c]);
  for (const [st, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(st)] = {
      description: list.map((c) => `${c}: ${ERROR_CODES[c]}`).join("; "),
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }

  const roles = typeof route.auth === "object" ? route.auth.roles : undefined;
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description || roles ? { description: [route.description, roles ? `Roles: ${roles.join(", ")}.` : ""].filter(Boolean).join("\n\n") } : {}),
    tags: [route.tag],
    security: authKind === "token" ? [{ bearerToken: [] }] : authKind === "node" ? [{ nodeSignature: [] }] : [],
    parameters: [...parameters(route.params, "path"), ...parameters(route.query, "query")],
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(route.body, "input") } } } } : {}),
    responses,
  };
}

export function buildOpenApi(routes: readonly HubRoute[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Palisade hub API",
      version: PALISADE_VERSION,
      description: "Fleet API of the Palisade hub. Human and CI callers send `Authorization: Bearer <API token>`; enrolled nodes sign every request (scheme palisade-node-v1, see docs/api.md). Errors are `{\"error\": {code, message, hint, path}}`.",
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorResponse, "output") },
      securitySchemes: {
        bearerToken: { type: "http", scheme: "bearer", description: "An API token (pat_…) with role admin, publisher or viewer." },
        nodeSignature: {
          type: "apiKey",
          in: "header",
          name: "X-Palisade-Signature",
          description:
            'Node request signing "palisade-node-v1": headers X-Palisade-Node, X-Palisade-Timestamp (Unix ms), X-Palisade-Nonce and X-Palisade-Signature = Ed25519 over "palisade-node-v1\\nMETHOD\\nTARGET\\nTIMESTAMP\\nNONCE\\nNODE_ID\\nhex(sha256(body))". See docs/api.md.',
        },
      },
    },
  };
}
