/** Admin actions over real HTTP (the fleet CLI's client), for agent and end-to-end tests. */
import type { BundleEnvelope } from "../../src/core/signing/bundleFormat.js";
import { signBundle } from "../../src/core/signing/bundleFormat.js";
import { HubApiClient } from "../../src/cli/hubApiClient.js";
import { signer, type Signer } from "./trustFixture.js";

export class HubAdmin {
  readonly api: HubApiClient;
  constructor(hub: string, token: string) {
    this.api = new HubApiClient({ hub, token });
  }

  async publisher(name: string): Promise<Signer> {
    const p = await this.api.post<{ id: string }>("/v1/publishers", { name });
    const s = signer(name, p.id);
    await this.api.post(`/v1/publishers/${p.id}/keys`, { publicKey: s.publicKey, name: "test" });
    return s;
  }

  /** A new key for an existing publisher (registered after devices enrolled: they never pinned it). */
  async addKey(existing: Signer): Promise<Signer> {
    const s = signer(existing.publisherName, existing.publisherId);
    await this.api.post(`/v1/publishers/${existing.publisherId}/keys`, { publicKey: s.publicKey, name: "late" });
    return s;
  }

  async revokeKey(s: Signer): Promise<void> {
    await this.api.post(`/v1/publishers/${s.publisherId}/keys/${encodeURIComponent(s.keyId)}/revoke`, { reason: "test" });
  }

  async enrollmentToken(maxUses: number, labels: Record<string, string> = {}): Promise<string> {
    return (await this.api.post<{ token: string }>("/v1/enrollment-tokens", { name: "test", maxUses, labels })).token;
  }

  async push(env: BundleEnvelope, by: Signer): Promise<string> {
    return (await this.api.post<{ digest: string }>("/v1/bundles", { envelope: env, signature: signBundle(env, by.privateKey, by.publicKey) })).digest;
  }

  async deploy(name: string, digest: string, matchLabels: Record<string, string>): Promise<void> {
    const existing = (await this.api.get<{ id: string; name: string }[]>("/v1/deployments")).find((d) => d.name === name);
    if (existing) await this.api.call("PATCH", `/v1/deployments/${existing.id}`, { bundleDigest: digest, selector: { matchLabels } });
    else await this.api.post("/v1/deployments", { name, bundleDigest: digest, selector: { matchLabels } });
  }

  async node(id: string): Promise<{ status: string; workloads: { deployment?: string; name: string; state: string; bundleDigest?: string; message?: string }[]; lastSeenAt: string | null }> {
    return this.api.get(`/v1/nodes/${id}`);
  }

  async alerts(nodeId: string): Promise<{ id: string; alert: Record<string, unknown> }[]> {
    const out: { id: string; alert: Record<string, unknown> }[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string; alert: Record<string, unknown> }[]; nextCursor: string | null } = await this.api.get(
        `/v1/alerts?nodeId=${nodeId}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }
}

/** Polls `fn` until it returns a truthy value (returned) or the time is up (throws with the last value). */
export async function eventually<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}${lastErr ? `, last error ${(lastErr as Error).message}` : ""}`);
}
