/**
 * HTTP to the hub, shared by the agent and the fleet CLI verbs: one place
 * that turns a network failure or a hub error body into a PalisadeError with
 * the hub's own code and hint, and decides what is worth retrying.
 */
import type { IncomingHttpHeaders, IncomingMessage, RequestOptions } from "node:http";
import { ERROR_CODES, PalisadeError, type ErrorCode } from "../core/errors.js";

export interface HubFetchOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  readonly timeoutMs?: number;
}

/** A hub answer, read in full: the part of fetch's Response the callers use. */
export interface HubResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Requests `url`; returns the answer for any HTTP status (redirects are not
 * followed: a 3xx is an answer like any other, which callers refuse), throws
 * HUB_UNREACHABLE when there is none.
 *
 * node:http rather than the global fetch on purpose: fetch loads undici and
 * compiles its WebAssembly HTTP parser, ~17 MiB of resident memory that a
 * long-lived agent keeps for good (docs/benchmarks.md, "Agent footprint").
 * node:https (TLS) is loaded only for https URLs.
 */
export async function hubFetch(url: string, opts: HubFetchOptions = {}): Promise<HubResponse> {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new PalisadeError("HUB_UNREACHABLE", `cannot reach the hub: ${JSON.stringify(url)} is not a URL`, { hint: "check the hub URL", cause, details: { url } });
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const body = opts.body === undefined ? undefined : typeof opts.body === "string" ? Buffer.from(opts.body, "utf8") : Buffer.from(opts.body.buffer, opts.body.byteOffset, opts.body.byteLength);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (body !== undefined) headers["content-length"] = String(body.length);
  try {
    const mod = u.protocol === "https:" ? await import("node:https") : u.protocol === "http:" ? await import("node:http") : undefined;
    if (mod === undefined) throw Object.assign(new Error(`unsupported protocol ${u.protocol}`), { code: "ERR_INVALID_PROTOCOL" });
    const reqOpts: RequestOptions = { method: opts.method ?? "GET", headers };
    const { status, head, bytes } = await new Promise<{ status: number; head: IncomingHttpHeaders; bytes: Buffer }>((resolve, reject) => {
      // One deadline for the whole exchange (connect, send, answer), as AbortSignal.timeout gave fetch.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, timeoutMs);
      const req = mod.request(u, reqOpts, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", fail);
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, head: res.headers, bytes: Buffer.concat(chunks) });
        });
      });
      function fail(e: Error): void {
        clearTimeout(timer);
        reject(timedOut ? Object.assign(new Error("timed out"), { code: "TIMEOUT" }) : e);
      }
      req.on("error", fail);
      req.end(body);
    });
    return {
      status,
      headers: { get: (name) => joinHeader(head[name.toLowerCase()]) },
      text: async () => bytes.toString("utf8"),
      json: async () => JSON.parse(bytes.toString("utf8")) as unknown,
      arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    };
  } catch (cause) {
    const c = cause as Error & { code?: string };
    const why = c.code === "TIMEOUT" ? "timed out" : (c.code ?? c.message);
    throw new PalisadeError("HUB_UNREACHABLE", `cannot reach the hub at ${u.origin}: ${why}`, {
      hint: "check the hub URL and that the hub is running; the agent keeps retrying with backoff",
      cause,
      details: { url },
    });
  }
}

function joinHeader(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(", ") : v;
}

/** The PalisadeError for a non-2xx hub response, keeping the hub's code, hint and details. */
export async function hubResponseError(res: HubResponse, what: string): Promise<PalisadeError> {
  const text = await res.text().catch(() => "");
  let body: { error?: { code?: string; message?: string; hint?: string; path?: string; details?: Record<string, unknown> } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const e = body?.error;
  const code: ErrorCode = e?.code !== undefined && e.code in ERROR_CODES ? (e.code as ErrorCode) : res.status >= 500 ? "HUB_STORE" : "HUB_BAD_REQUEST";
  const message = e?.message ?? `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
  return new PalisadeError(code, `${what}: ${message}`, {
    ...(e?.hint ? { hint: e.hint } : res.status >= 500 ? { hint: "the hub had a problem; see its log" } : {}),
    ...(e?.path ? { where: { file: "request", path: e.path } } : {}),
    details: { status: res.status, ...(e?.details ?? {}) },
  });
}

/** Worth retrying later: the hub or the network may get better without anyone doing anything. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof PalisadeError)) return false;
  const status = Number(err.details?.status ?? 0);
  return (
    ["HUB_UNREACHABLE", "HUB_STORE", "HUB_NODE_CLOCK", "HUB_NODE_REPLAY", "HUB_NOT_FOUND"].includes(err.code) ||
    status >= 500 ||
    status === 429 ||
    status === 408
  );
}

/** Joins a hub base URL (possibly with a path prefix behind a proxy) and an API path. */
export function hubUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}
