/**
 * Turns a desired-state document from the hub into the set of bundles this
 * device accepts (AgentStore.accepted), verifying each bundle itself
 * (bundleVerifier.ts). Rules:
 *
 * - A bundle already accepted for a deployment is not fetched again (the
 *   cache holds it, hash-checked on every read).
 * - A refused bundle is never run. If the deployment had an accepted bundle
 *   that is still trusted, that one keeps running ("last known good"):
 *   refusing an update must not hand whoever forged it a denial of service
 *   beyond what a hub could do anyway by withholding work.
 * - A bundle that could not be fetched (hub or network trouble) leaves the
 *   deployment as it was, and the ETag is not stored, so the next poll
 *   gets the full document and tries again.
 * - Revoked keys from the document are added to the device's set (never
 *   removed). Accepted bundles signed by a newly revoked key are dropped,
 *   unless the operator chose --on-revoked-key keep.
 * - Version marks rise and the accepted set is replaced in one transaction,
 *   so a crash cannot leave a mark above what the device runs.
 */
import { asPalisadeError, PalisadeError } from "../core/errors.js";
import type { AgentStore, AcceptedWorkload, VersionMark } from "./agentStore.js";
import type { BundleCache } from "./bundleCache.js";
import { verifyBundle, type TrustView } from "./bundleVerifier.js";
import type { DesiredState } from "./desiredStateDoc.js";
import { encodeBundleFacts, inspectBundle, type BundleFacts } from "./bundleFacts.js";
import { isTransient } from "./hubHttp.js";

export type RevokedKeyMode = "stop" | "keep";

export interface Refusal {
  readonly deployment: string;
  readonly digest: string;
  readonly name: string;
  readonly version: number;
  readonly keyId: string;
  readonly error: PalisadeError;
}

export interface SyncResult {
  readonly accepted: readonly AcceptedWorkload[];
  readonly refusals: readonly Refusal[];
  /** Key ids this document revoked that the device did not know yet. */
  readonly newlyRevoked: readonly string[];
  /** Accepted bundles dropped because their key is now revoked (mode stop). */
  readonly droppedForRevocation: readonly AcceptedWorkload[];
  /** False when some bundle could not be fetched: do not store the ETag. */
  readonly complete: boolean;
  readonly transientErrors: readonly PalisadeError[];
}

export interface SyncDeps {
  readonly store: AgentStore;
  readonly cache: BundleCache;
  readonly fetchBundle: (digest: string) => Promise<Buffer>;
  readonly onRevokedKey: RevokedKeyMode;
  /**
   * Parses a verified bundle into what the agent keeps of it (bundleFacts.ts;
   * the CLI agent does it in a child, so the parsers stay out of the agent).
   * Throws POLICY_* / AGENT_BUNDLE_REFUSED for a bundle no device could run.
   * Default: parse in this process.
   */
  readonly inspect?: (bytes: Buffer, digest: string) => Promise<BundleFacts>;
}

export async function syncDesiredState(doc: DesiredState, etag: string | undefined, deps: SyncDeps): Promise<SyncResult> {
  const { store, cache } = deps;
  const newlyRevoked = store.addRevokedKeys(doc.revokedKeys);
  const revoked = store.revokedKeys();
  const previous = new Map(store.accepted().map((a) => [a.deployment, a]));
  // Marks raised during this pass, seen by later deployments of the same name.
  const pendingMarks = new Map<string, VersionMark>();
  const trust: TrustView = {
    pinnedKey: (id) => store.pinnedKey(id),
    isRevoked: (id) => revoked.has(id),
    versionMark: (name) => {
      const p = pendingMarks.get(name);
      const s = store.versionMark(name);
      return p && (!s || p.version >= s.version) ? p : s;
    },
  };
  const stillTrusted = (a: AcceptedWorkload) => !revoked.has(a.keyId) || deps.onRevokedKey === "keep";

  const accepted: AcceptedWorkload[] = [];
  const refusals: Refusal[] = [];
  const transientErrors: PalisadeError[] = [];
  const dropped: AcceptedWorkload[] = [];
  const now = new Date().toISOString();
  const facts = new Map<string, BundleFacts>();

  for (const w of doc.workloads) {
    const claim = w.bundle;
    const prev = previous.get(w.deployment);
    const keepPrev = () => {
      if (!prev) return;
      if (stillTrusted(prev)) accepted.push(prev);
      else dropped.push(prev);
    };
    const sameAsPrev = prev !== undefined && prev.digest === claim.digest && prev.keyId === claim.keyId && prev.signature === claim.signature;
    if (sameAsPrev && cache.get(claim.digest) !== undefined) {
      if (stillTrusted(prev)) accepted.push({ ...prev, deploymentId: w.deploymentId, revision: w.revision });
      else {
        dropped.push(prev);
        refusals.push({ deployment: w.deployment, digest: claim.digest, name: claim.name, version: claim.version, keyId: claim.keyId, error: verifyError(prev, trust) });
      }
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = cache.get(claim.digest) ?? (await deps.fetchBundle(claim.digest));
    } catch (err) {
      const e = asPalisadeError(err);
      if (!isTransient(e)) throw e;
      transientErrors.push(e);
      keepPrev();
      continue;
    }
    try {
      const { envelope, key } = verifyBundle(bytes, claim, trust);
      // A bundle the device could never run is refused now, not at every start.
      facts.set(claim.digest, await (deps.inspect ?? inspectBundle)(bytes, claim.digest));
      cache.put(claim.digest, bytes);
      pendingMarks.set(envelope.name, { version: envelope.version, digest: claim.digest, publisherId: key.publisherId });
      accepted.push({
        deployment: w.deployment,
        deploymentId: w.deploymentId,
        revision: w.revision,
        digest: claim.digest,
        name: envelope.name,
        version: envelope.version,
        publisherId: key.publisherId,
        keyId: claim.keyId,
        signature: claim.signature,
        acceptedAt: now,
      });
    } catch (err) {
      refusals.push({ deployment: w.deployment, digest: claim.digest, name: claim.name, version: claim.version, keyId: claim.keyId, error: asPalisadeError(err) });
      keepPrev();
    }
  }

  store.tx(() => {
    for (const [name, mark] of pendingMarks) store.raiseVersionMark(name, mark);
    store.replaceAccepted(accepted);
    for (const [digest, f] of facts) store.putBundleFacts(digest, encodeBundleFacts(digest, f));
    store.pruneBundleFacts(new Set(accepted.map((a) => a.digest)));
    if (transientErrors.length === 0) store.setMeta("desired_etag", etag);
  });
  cache.prune(new Set(accepted.map((a) => a.digest)));
  return { accepted, refusals, newlyRevoked, droppedForRevocation: dropped, complete: transientErrors.length === 0, transientErrors };
}

function verifyError(prev: AcceptedWorkload, trust: TrustView): PalisadeError {
  return new PalisadeError("AGENT_BUNDLE_REFUSED", `bundle ${prev.name} v${prev.version} is signed by revoked key ${prev.keyId}`, {
    hint: "re-sign the workload with a valid key and deploy the new bundle (the device was started with --on-revoked-key stop)",
    details: { reason: "revoked-key", digest: prev.digest, keyId: prev.keyId, pinned: trust.pinnedKey(prev.keyId) !== undefined },
  });
}
