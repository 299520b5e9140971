/**
 * What each node should run, computed cheaply enough for 10,000 nodes
 * polling every 30 s on two cores.
 *
 * - A node's desired state depends only on its org's deployments (and key
 *   revocations) and on its own labels, so it is cached per
 *   (org, generation, label set): a fleet of identical devices shares one
 *   entry, and a poll that hits the cache costs a map lookup.
 * - `orgs.generation` is bumped in the same transaction as every change that
 *   can alter desired state (deployment created/changed/deleted, key revoked),
 *   and node authentication reads it with the node row it needs anyway, so
 *   the cache is never stale and needs no invalidation messages between
 *   replicas: a new generation simply misses.
 * - On a miss, the org's deployments are loaded once per generation (even if
 *   thousands of nodes miss at the same moment) and filtered per label set.
 * - The body is canonical JSON and the ETag its sha256, so every replica
 *   gives the same ETag for the same state and If-None-Match → 304 works
 *   across restarts and load balancers.
 */
import { createHash } from "node:crypto";
import type { z } from "zod/v4";
import type { DesiredState, LabelSelector } from "./apiSchemas.js";
import { canonicalJson } from "../core/signing/canonicalJson.js";
import type { HubDb } from "./hubDatabase.js";
import { labelSetKey, selectorMatches, type Labels } from "./labelSelector.js";

type Doc = z.infer<typeof DesiredState>;
type DesiredWorkload = Doc["workloads"][number];

interface OrgPlan {
  readonly deployments: readonly { readonly selector: LabelSelector; readonly workload: DesiredWorkload }[];
  readonly revokedKeys: readonly string[];
}

export interface DesiredStateDoc {
  /** Quoted strong ETag. */
  readonly etag: string;
  /** The JSON body, byte-identical on every replica. */
  readonly body: string;
  /** Bundle digests in it: what this label set may fetch. */
  readonly digests: ReadonlySet<string>;
}

export class DesiredStateCache {
  readonly #plans = new Map<string, Promise<OrgPlan>>();
  readonly #docs = new Map<string, DesiredStateDoc>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly hub: HubDb,
    private readonly maxEntries = 50_000,
  ) {}

  async get(orgId: string, generation: number, labels: Labels): Promise<DesiredStateDoc> {
    const key = `${orgId}\n${generation}\n${labelSetKey(labels)}`;
    const cached = this.#docs.get(key);
    if (cached !== undefined) {
      this.hits += 1;
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.#docs.delete(key);
      this.#docs.set(key, cached);
      return cached;
    }
    this.misses += 1;
    const plan = await this.#plan(orgId, generation);
    const doc: Doc = {
      format: "palisade.desired-state/v1",
      orgId,
      workloads: plan.deployments.filter((d) => selectorMatches(d.selector, labels)).map((d) => d.workload),
      revokedKeys: [...plan.revokedKeys],
    };
    const body = canonicalJson(doc);
    const entry = {
      etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 40)}"`,
      body,
      digests: new Set(doc.workloads.map((w) => w.bundle.digest)),
    };
    this.#docs.set(key, entry);
    while (this.#docs.size > this.maxEntries) this.#docs.delete(this.#docs.keys().next().value as string);
    return entry;
  }

  /** The org's deployments for one generation, loaded once however many nodes ask at once. */
  #plan(orgId: string, generation: number): Promise<OrgPlan> {
    const key = `${orgId}\n${generation}`;
    let plan = this.#plans.get(key);
    if (plan === undefined) {
      plan = this.#load(orgId);
      this.#plans.set(key, plan);
      // Older generations of this org will never be asked for again.
      for (const k of this.#plans.keys()) if (k.startsWith(`${orgId}\n`) && k !== key) this.#plans.delete(k);
      plan.catch(() => this.#plans.delete(key));
    }
    return plan;
  }

  async #load(orgId: string): Promise<OrgPlan> {
    const rows = await this.hub.db
      .selectFrom("deployments as d")
      .innerJoin("bundles as b", (j) => j.onRef("b.org_id", "=", "d.org_id").onRef("b.digest", "=", "d.bundle_digest"))
      .select(["d.id", "d.name", "d.revision", "d.selector", "b.digest", "b.name as bundle_name", "b.version", "b.publisher_id", "b.key_id", "b.signature"])
      .where("d.org_id", "=", orgId)
      .orderBy("d.name")
      .execute();
    const revoked = await this.hub.db
      .selectFrom("publisher_keys")
      .select("key_id")
      .where("org_id", "=", orgId)
      .where("revoked_at", "is not", null)
      .orderBy("key_id")
      .execute();
    return {
      deployments: rows.map((r) => ({
        selector: JSON.parse(r.selector) as LabelSelector,
        workload: {
          deployment: r.name,
          deploymentId: r.id,
          revision: r.revision,
          bundle: {
            digest: r.digest,
            name: r.bundle_name,
            version: r.version,
            publisherId: r.publisher_id,
            keyId: r.key_id,
            signature: r.signature,
            url: `/v1/node/bundles/${r.digest}`,
          },
        },
      })),
      revokedKeys: revoked.map((r) => r.key_id),
    };
  }
}

/** True when an If-None-Match header names `etag` (or is `*`). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}
