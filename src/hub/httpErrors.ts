/**
 * The hub's one place that turns failures into HTTP responses:
 *
 *   HTTP 4xx/5xx  { "error": { "code", "message", "hint"?, "path"? } }
 *
 * `code` is a stable ERROR_CODES key (src/core/errors.ts), `path` names the
 * offending request field for validation errors (e.g. `body.selector.matchLabelz`).
 * Stack traces and database messages never reach a client; 5xx details go to
 * the hub's log under the request id.
 */
import type { FastifyError, FastifyInstance } from "fastify";
import type { ZodError, ZodType } from "zod/v4";
import { PalisadeError, asPalisadeError, type ErrorCode } from "../core/errors.js";
import { isUniqueViolation } from "./openHubDb.js";

const STATUS: Partial<Record<ErrorCode, number>> = {
  USAGE: 400,
  HUB_BAD_REQUEST: 400,
  HUB_UNAUTHENTICATED: 401,
  HUB_ENROLLMENT_TOKEN: 401,
  HUB_NODE_AUTH: 401,
  HUB_NODE_CLOCK: 401,
  HUB_NODE_REPLAY: 401,
  HUB_FORBIDDEN: 403,
  HUB_NODE_REVOKED: 403,
  HUB_NOT_FOUND: 404,
  HUB_CONFLICT: 409,
  HUB_ENROLLMENT_USED_UP: 409,
  HUB_BUNDLE_VERSION: 409,
  HUB_ENROLLMENT_EXPIRED: 410,
  HUB_BUNDLE_SIGNATURE: 422,
  HUB_KEY_REVOKED: 422,
  POLICY_YAML: 422,
  POLICY_SCHEMA: 422,
  POLICY_SEMANTIC: 422,
  HUB_STORE: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Shorthand for raising a hub error with a hint. */
export function hubError(code: ErrorCode, message: string, hint?: string, details?: Record<string, unknown>): PalisadeError {
  return new PalisadeError(code, message, { ...(hint === undefined ? {} : { hint }), ...(details === undefined ? {} : { details }) });
}

/** A 400 naming the request field at fault (e.g. `body.publisherId`). */
export function badField(path: string, message: string, hint: string): PalisadeError {
  return new PalisadeError("HUB_BAD_REQUEST", message, { hint, where: { file: "request", path } });
}

export function notFound(what: string, id: string): PalisadeError {
  return hubError("HUB_NOT_FOUND", `no ${what} "${id}" in this org`, `list them with GET /v1/${what === "node" ? "nodes" : `${what}s`}`);
}

export interface ErrorBody {
  error: { code: string; message: string; hint?: string; path?: string; details?: Record<string, unknown> };
}

export function errorBody(e: PalisadeError): ErrorBody {
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(e.hint === undefined ? {} : { hint: e.hint }),
      ...(e.where?.path === undefined ? {} : { path: e.where.path }),
      ...(e.details === undefined ? {} : { details: e.details as Record<string, unknown> }),
    },
  };
}

// PostgreSQL connection-class errors (08xxx), shutdown (57P0x) and socket errors mean "store unavailable", not "bug".
function isStoreUnavailable(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? "");
  return /^08/.test(code) || /^57P0/.test(code) || ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "SQLITE_BUSY", "SQLITE_FULL", "SQLITE_IOERR"].includes(code);
}

/** Classifies anything thrown while serving a request. */
export function toHubError(err: unknown, requestId: string): { error: PalisadeError; status: number } {
  if (err instanceof PalisadeError) return { error: err, status: httpStatusOf(err.code) };
  const fe = err as Partial<FastifyError> | null;
  if (fe && typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500 && typeof fe.code === "string" && fe.code.startsWith("FST_")) {
    // Fastify's own request errors (bad JSON, wrong content type, body too large, …).
    const hint =
      fe.statusCode === 415 ? "send the body as JSON with Content-Type: application/json" : fe.statusCode === 413 ? "the body is larger than the hub accepts (4 MiB)" : "send a valid JSON body";
    return { error: hubError("HUB_BAD_REQUEST", fe.message ?? "bad request", hint), status: fe.statusCode };
  }
  if (isUniqueViolation(err)) {
    return { error: hubError("HUB_CONFLICT", "that object already exists (a concurrent request created it)", "read it back, or retry with a different name"), status: 409 };
  }
  if (isStoreUnavailable(err)) {
    return { error: hubError("HUB_STORE", "the hub's database is unavailable", `retry later; the hub's log has details (request ${requestId})`), status: 503 };
  }
  const internal = asPalisadeError(err);
  return {
    error: new PalisadeError("INTERNAL", `internal error (request ${requestId})`, { hint: "this is a bug in the hub; its log has the details under this request id", cause: internal }),
    status: 500,
  };
}

/** Installs the error and not-found handlers on `app`. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const { error, status } = toHubError(err, req.id);
    if (status >= 500) {
      const cause = error.cause ?? err;
      req.log.error({ code: error.code, err: process.env.PALISADE_DEBUG === "1" ? cause : undefined }, cause instanceof Error ? cause.message : String(cause));
    }
    if (error.code === "HUB_UNAUTHENTICATED") void reply.header("WWW-Authenticate", 'Bearer realm="palisade"');
    void reply.status(status).send(errorBody(error));
  });
  app.setNotFoundHandler((req, reply) => {
    const e = hubError("HUB_NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`, "GET /openapi.json lists every route");
    void reply.status(404).send(errorBody(e));
  });
}

// --- validation ------------------------------------------------------------

type ZodIssueLike = ZodError["issues"][number];

/** `body.items[3].id` from a part name and a zod path. */
export function formatPath(part: string, path: readonly PropertyKey[]): string {
  let s = part;
  for (const p of path) s += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return s;
}

/** One precise error from a zod failure: unknown fields first (they usually explain the rest). */
export function validationError(part: string, schema: ZodType, error: ZodError): PalisadeError {
  const issues = [...error.issues].sort((a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"));
  const issue = issues[0] as ZodIssueLike;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
  let path = formatPath(part, issue.path);
  let message: string;
  let hint = "GET /openapi.json has the request schema";
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    path = formatPath(part, [...issue.path, key]);
    const allowed = allowedKeysAt(schema, issue.path);
    message = `unknown field "${key}"`;
    const guess = allowed ? closest(key, allowed) : undefined;
    if (guess) hint = `did you mean "${guess}"?`;
    else if (allowed) hint = `allowed fields here: ${allowed.join(", ")}`;
  } else if (issue.code === "invalid_type" && /received undefined$/.test(issue.message)) {
    message = `missing required field "${String(issue.path[issue.path.length - 1] ?? part)}"`;
  } else {
    message = issue.message;
  }
  return new PalisadeError("HUB_BAD_REQUEST", `${message}${more}`, { hint, where: { file: "request", path } });
}

/** Field names the schema allows at `path` (best effort: objects inside optionals, arrays, records). */
function allowedKeysAt(schema: ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: unknown = schema;
  const step = (x: unknown): unknown => {
    for (let i = 0; i < 10; i++) {
      const def = (x as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } })._zod?.def;
      if (def && (def.type === "optional" || def.type === "nullable" || def.type === "default") && def.innerType) x = def.innerType;
      else if (def && def.type === "pipe" && def.in) x = def.in;
      else break;
    }
    return x;
  };
  for (const p of path) {
    const def = (step(s) as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return undefined;
    if (def.type === "object" && typeof p === "string") s = (def.shape as Record<string, unknown>)[p];
    else if (def.type === "array") s = def.element;
    else if (def.type === "record") s = def.valueType;
    else return undefined;
  }
  const def = (step(s) as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod?.def;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : undefined;
}

/** The allowed name within edit distance 2, if exactly one is that close. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const near = candidates.filter((c) => editDistance(word.toLowerCase(), c.toLowerCase()) <= 2);
  return near.length === 1 ? near[0] : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
