/**
 * The fleet verbs' client for the hub's API-token routes (docs/api.md):
 * JSON in and out, bearer token, and the hub's error (code, message, hint)
 * re-raised as a PalisadeError for main.ts to render.
 */
import type { Command } from "commander";
import { hubFetch, hubResponseError, hubUrl } from "../agent/hubHttp.js";
import { resolveTarget, type Target, type TargetFlags } from "./contexts.js";

export class HubApiClient {
  constructor(readonly target: Target) {}

  static from(flags: TargetFlags): HubApiClient {
    return new HubApiClient(resolveTarget(flags));
  }

  async call<T = unknown>(method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T> {
    const res = await hubFetch(hubUrl(this.target.hub, path), {
      method,
      headers: { authorization: `Bearer ${this.target.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (res.status < 200 || res.status > 299) throw await hubResponseError(res, `${method} ${path}`);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T = unknown>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>("POST", path, body);
  }
}

/** Adds --hub, --token and --context to a fleet verb. */
export function withTarget(cmd: Command): Command {
  return cmd
    .option("--context <name>", "saved login to use (palisade context ls)")
    .option("--hub <url>", "hub URL (overrides the context; env PALISADE_HUB)")
    .option("--token <token>", "API token (overrides the context; env PALISADE_TOKEN)");
}

/** Percent-encodes one path segment (ids, names, key ids with ':'). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
