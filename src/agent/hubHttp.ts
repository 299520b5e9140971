/**
 * HTTP to the hub, shared by the agent and the fleet CLI verbs: one place
 * that turns a network failure or a hub error body into a PalisadeError with
 * the hub's own code and hint, and decides what is worth retrying.
 */
import { ERROR_CODES, PalisadeError, type ErrorCode } from "../core/errors.js";

export interface HubFetchOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  readonly timeoutMs?: number;
}

/** Fetches `url`; returns the response for any HTTP status, throws HUB_UNREACHABLE when there is none. */
export async function hubFetch(url: string, opts: HubFetchOptions = {}): Promise<Response> {
  try {
    return await fetch(url, {
      method: opts.method ?? "GET",
      headers: opts.headers ?? {},
      ...(opts.body === undefined ? {} : { body: typeof opts.body === "string" ? opts.body : new Uint8Array(opts.body) }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      redirect: "error",
    });
  } catch (cause) {
    const c = cause as Error & { cause?: { code?: string; message?: string } };
    const why = c.name === "TimeoutError" ? "timed out" : (c.cause?.code ?? c.cause?.message ?? c.message);
    throw new PalisadeError("HUB_UNREACHABLE", `cannot reach the hub at ${new URL(url).origin}: ${why}`, {
      hint: "check the hub URL and that the hub is running; the agent keeps retrying with backoff",
      cause,
      details: { url },
    });
  }
}

/** The PalisadeError for a non-2xx hub response, keeping the hub's code, hint and details. */
export async function hubResponseError(res: Response, what: string): Promise<PalisadeError> {
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
