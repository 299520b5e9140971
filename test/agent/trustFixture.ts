/** Publishers, signed bundles and desired-state documents for the agent's trust tests. */
import type { KeyObject } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentStore, type PinnedKey } from "../../src/agent/agentStore.js";
import { BundleCache } from "../../src/agent/bundleCache.js";
import type { DesiredState, DesiredWorkload } from "../../src/agent/desiredStateDoc.js";
import { BUNDLE_FORMAT, bundleDigest, canonicalBundleBytes, signBundle, type BundleEnvelope } from "../../src/core/signing/bundleFormat.js";
import { generateEd25519, keyIdOf } from "../../src/core/signing/ed25519.js";

export const IMAGE = `sha256:${"c".repeat(64)}`;

export interface Signer {
  readonly publisherId: string;
  readonly publisherName: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
  readonly keyId: string;
  readonly pin: PinnedKey;
}

let pubs = 0;
export function signer(name = `pub${++pubs}`, publisherId = `pub_${name}`): Signer {
  const { publicKey, privateKey } = generateEd25519();
  const keyId = keyIdOf(publicKey);
  return { publisherId, publisherName: name, publicKey, privateKey, keyId, pin: { keyId, publisherId, publisherName: name, publicKey } };
}

export function envelope(name: string, version: number, script = "sleep 1000"): BundleEnvelope {
  return {
    format: BUNDLE_FORMAT,
    name,
    version,
    workload: `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: main\n    image: busybox@${IMAGE}\n    command: [/bin/sh, -c, ${JSON.stringify(script)}]\n`,
    policies: "",
    images: [{ ref: "busybox", digest: IMAGE }],
    created: "2025-01-31T12:00:00Z",
  };
}

export interface SignedBundle {
  readonly env: BundleEnvelope;
  readonly bytes: Buffer;
  readonly digest: string;
  readonly keyId: string;
  readonly signature: string;
}

export function sign(env: BundleEnvelope, by: Signer): SignedBundle {
  const sig = signBundle(env, by.privateKey, by.publicKey);
  return { env, bytes: canonicalBundleBytes(env), digest: bundleDigest(env), keyId: sig.keyId, signature: sig.signature };
}

export function claimOf(b: SignedBundle) {
  return { digest: b.digest, name: b.env.name, version: b.env.version, keyId: b.keyId, signature: b.signature };
}

export function desired(orgId: string, items: readonly { deployment: string; bundle: SignedBundle; publisherId?: string }[], revokedKeys: string[] = []): DesiredState {
  const workloads: DesiredWorkload[] = items.map((i, n) => ({
    deployment: i.deployment,
    deploymentId: `dep_${n}`,
    revision: 1,
    bundle: { ...claimOf(i.bundle), publisherId: i.publisherId ?? "pub_x", url: `/v1/node/bundles/${i.bundle.digest}` },
  }));
  return { format: "palisade.desired-state/v1", orgId, workloads, revokedKeys };
}

/** A fresh enrolled-looking store pinning `keys`, and a bundle cache beside it. */
export function trustStore(keys: readonly Signer[]): { store: AgentStore; cache: BundleCache; dir: string; reopen(): AgentStore } {
  const dir = mkdtempSync(join(tmpdir(), "palisade-trust-"));
  const store = AgentStore.open(join(dir, "agent.db"));
  store.saveEnrollment({ nodeId: "node_t", orgId: "org_t", hubUrl: "http://hub", publicKey: "x", labels: {}, enrolledAt: new Date().toISOString() }, keys.map((k) => k.pin));
  return { store, cache: new BundleCache(join(dir, "bundles")), dir, reopen: () => AgentStore.open(join(dir, "agent.db")) };
}
