/**
 * What the agent checks before it runs anything the hub points it at. The
 * hub is not trusted to author work (docs/agent.md, "Trust"), so every rule
 * here is about what a compromised hub, or anyone between it and the device,
 * could try:
 *
 * 1. key pinning — the signature's key must be one this device pinned at
 *    enrollment. The hub can list any key id it likes; key ids are derived
 *    from the key, so it cannot rebind a pinned id to a key it made up.
 * 2. revocation — a key the hub reported revoked is never trusted again
 *    (revocations only remove trust, so taking them from the hub is safe).
 * 3. integrity — sha256(bytes) is the digest the desired state names, and
 *    the bytes are a valid envelope in canonical form.
 * 4. authenticity — the publisher's Ed25519 signature over that digest.
 * 5. consistency — the desired state's name/version match the signed envelope.
 * 6. name ownership — a name first accepted from one publisher is refused
 *    from another (a leaked key of one publisher cannot replace another's work).
 * 7. freshness — the version is not below the highest accepted for the name
 *    (rollback / replay of an old signed bundle), and an equal version must be
 *    the very same bundle (two different bundles claiming one version).
 */
import { PalisadeError } from "../core/errors.js";
import { parseBundleBytes, verifyBundleSignature, type BundleEnvelope } from "../core/signing/bundleFormat.js";
import { keyIdOf } from "../core/signing/ed25519.js";
import type { PinnedKey, VersionMark } from "./agentStore.js";

/** What the desired state says about a bundle (hub-supplied, so only a claim). */
export interface BundleClaim {
  readonly digest: string;
  readonly name: string;
  readonly version: number;
  readonly keyId: string;
  readonly signature: string;
}

/** The device's trust state, read from its store. */
export interface TrustView {
  pinnedKey(keyId: string): PinnedKey | undefined;
  isRevoked(keyId: string): boolean;
  versionMark(name: string): VersionMark | undefined;
}

export type RefusalReason = "unpinned-key" | "revoked-key" | "digest" | "format" | "signature" | "mismatch" | "name-owner" | "rollback" | "equivocation";

export interface VerifiedBundle {
  readonly envelope: BundleEnvelope;
  readonly key: PinnedKey;
}

export function refusal(reason: RefusalReason, message: string, claim: BundleClaim): PalisadeError {
  return new PalisadeError("AGENT_BUNDLE_REFUSED", message, {
    hint: REFUSAL_HINTS[reason],
    details: { reason, digest: claim.digest, name: claim.name, version: claim.version, keyId: claim.keyId },
  });
}

const REFUSAL_HINTS: Record<RefusalReason, string> = {
  "unpinned-key": "devices trust only the publisher keys they pinned at enrollment; sign with one of those, or re-enroll the device after registering the new key",
  "revoked-key": "the publisher key was revoked; re-sign the workload with a valid key and deploy the new bundle",
  digest: "the bytes served by the hub are not the bundle the desired state names (tampering or corruption on the hub or in transit)",
  format: "the bundle is not a valid canonical palisade.bundle/v1 envelope",
  signature: "the publisher signature does not verify: the bundle was changed after signing or signed by another key",
  mismatch: "the desired state's name or version disagrees with the signed envelope",
  "name-owner": "this bundle name belongs to another publisher on this device",
  rollback: "devices never go back to an older version of a bundle; publish the old content as a new, higher version",
  equivocation: "two different bundles claim the same name and version; publish a new version",
};

/**
 * Checks `bytes` against `claim` and the device's trust. Returns the
 * envelope and the pinned key on success; throws AGENT_BUNDLE_REFUSED with
 * `details.reason` otherwise. `allowRevoked` lets an already-accepted bundle
 * keep running under --on-revoked-key keep; it never admits a new one.
 */
export function verifyBundle(bytes: Uint8Array, claim: BundleClaim, trust: TrustView, opts: { allowRevoked?: boolean } = {}): VerifiedBundle {
  const key = trust.pinnedKey(claim.keyId);
  if (key === undefined) {
    throw refusal("unpinned-key", `bundle ${claim.name} v${claim.version} (${claim.digest}) is signed by key ${claim.keyId}, which this device did not pin at enrollment`, claim);
  }
  // A pinned key whose id does not match its own bytes would be a corrupted store; fail closed.
  if (keyIdOf(key.publicKey) !== key.keyId) throw refusal("unpinned-key", `pinned key ${key.keyId} does not match its public key`, claim);
  if (trust.isRevoked(key.keyId) && !opts.allowRevoked) {
    throw refusal("revoked-key", `bundle ${claim.name} v${claim.version} is signed by revoked key ${key.keyId} (publisher ${key.publisherName})`, claim);
  }
  let envelope: BundleEnvelope;
  try {
    envelope = parseBundleBytes(bytes, claim.digest);
  } catch (e) {
    const msg = (e as Error).message;
    throw refusal(msg.includes("hash to") ? "digest" : "format", `bundle ${claim.digest} refused: ${msg}`, claim);
  }
  if (!verifyBundleSignature(claim.digest, { keyId: claim.keyId, signature: claim.signature }, key.publicKey)) {
    throw refusal("signature", `bundle ${claim.name} v${claim.version} (${claim.digest}): the signature does not verify with pinned key ${key.keyId}`, claim);
  }
  if (envelope.name !== claim.name || envelope.version !== claim.version) {
    throw refusal("mismatch", `the desired state calls bundle ${claim.digest} ${claim.name} v${claim.version}, but the signed envelope is ${envelope.name} v${envelope.version}`, claim);
  }
  const mark = trust.versionMark(envelope.name);
  if (mark !== undefined) {
    if (mark.publisherId !== key.publisherId) {
      throw refusal("name-owner", `bundle name ${envelope.name} was accepted from publisher ${mark.publisherId}; this one is signed by ${key.publisherName} (${key.publisherId})`, claim);
    }
    if (envelope.version < mark.version) {
      throw refusal("rollback", `bundle ${envelope.name} v${envelope.version} is older than v${mark.version}, which this device already accepted (replay or rollback)`, claim);
    }
    if (envelope.version === mark.version && mark.digest !== claim.digest) {
      throw refusal("equivocation", `bundle ${envelope.name} v${envelope.version} (${claim.digest}) differs from the v${mark.version} this device accepted (${mark.digest})`, claim);
    }
  }
  return { envelope, key };
}
