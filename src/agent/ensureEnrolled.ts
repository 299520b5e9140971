/**
 * First start: make the device key, enroll with the token, pin the org's
 * publisher keys. Later starts: load the key and check it is the one the
 * store says was enrolled. Enrollment happens once per data directory; the
 * enrollment token is not needed (nor kept) afterwards.
 */
import { hostname } from "node:os";
import { PalisadeError } from "../core/errors.js";
import type { AgentLog } from "./agentLog.js";
import type { AgentPaths } from "./agentPaths.js";
import type { AgentStore, Identity } from "./agentStore.js";
import { Backoff } from "./backoff.js";
import { enrollNode } from "./hubClient.js";
import { isTransient } from "./hubHttp.js";
import { createNodeKey, loadNodeKey, type NodeKey } from "./nodeKey.js";
import { formatDuration } from "./parseDuration.js";

export interface EnrollOptions {
  readonly hubUrl?: string;
  readonly token?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly hostname?: string;
  /** Retries of an unreachable hub at first boot (the network may come up after the device). */
  readonly backoff?: Backoff;
  readonly stopped?: () => boolean;
  readonly sleep?: (ms: number) => Promise<void>;
}

export async function ensureEnrolled(paths: AgentPaths, store: AgentStore, log: AgentLog, opts: EnrollOptions): Promise<{ identity: Identity; key: NodeKey }> {
  const existing = store.identity();
  if (existing) {
    const key = loadNodeKey(paths.key);
    if (key.publicKey !== existing.publicKey) {
      throw new PalisadeError("AGENT_STATE", `the node key ${paths.key} is not the key node ${existing.nodeId} enrolled with`, {
        hint: "restore the original key, or enroll again with a fresh --data-dir",
      });
    }
    let identity = existing;
    if (opts.hubUrl && opts.hubUrl !== existing.hubUrl) {
      identity = store.updateIdentity({ hubUrl: opts.hubUrl });
      log.info(`hub URL changed to ${opts.hubUrl}`, { was: existing.hubUrl });
    }
    if (opts.token) log.info(`already enrolled as ${identity.nodeId}; --token is not needed any more and was ignored`);
    return { identity, key };
  }
  if (!opts.hubUrl || !opts.token) {
    throw new PalisadeError("USAGE", `${paths.dataDir} holds no enrolled node`, { hint: "enroll once with: palisade agent --hub URL --token ENROLLMENT_TOKEN" });
  }
  // The key exists on disk before the hub hears of it, so a crash cannot leave an enrolled key we do not have.
  const key = createNodeKey(paths.key);
  const backoff = opts.backoff ?? new Backoff({ initialMs: 1000, maxMs: 60_000 });
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  log.info(`enrolling with ${opts.hubUrl}`, { publicKey: key.publicKey });
  for (;;) {
    try {
      const r = await enrollNode({ hubUrl: opts.hubUrl, token: opts.token, publicKey: key.publicKey, privateKey: key.privateKey, hostname: opts.hostname ?? hostname(), labels: opts.labels ?? {} });
      const identity: Identity = { nodeId: r.nodeId, orgId: r.orgId, hubUrl: opts.hubUrl, publicKey: key.publicKey, labels: r.labels, enrolledAt: new Date().toISOString() };
      store.saveEnrollment(identity, r.publisherKeys);
      log.info(`enrolled as ${r.nodeId}`, { org: r.orgId, labels: r.labels, pinnedKeys: r.publisherKeys.map((k) => `${k.publisherName}:${k.keyId}`) });
      if (r.rejectedKeys.length > 0) log.warn("the hub sent publisher keys whose id does not match the key; they were not pinned", { keyIds: r.rejectedKeys });
      if (r.publisherKeys.length === 0) {
        log.warn("no publisher keys were pinned: this device will refuse every bundle", { hint: "register publisher keys on the hub before enrolling devices (docs/fleet.md)" });
      }
      return { identity, key };
    } catch (err) {
      if (!isTransient(err) || opts.stopped?.()) throw err;
      const delay = backoff.fail();
      log.error(`enrollment attempt ${backoff.failures} failed; retrying in ${formatDuration(delay)}`, err, {}, "warn");
      await sleep(delay);
      if (opts.stopped?.()) throw err;
    }
  }
}
