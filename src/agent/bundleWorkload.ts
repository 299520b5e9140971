/**
 * What a verified bundle asks to run: its one Workload and its policies,
 * parsed, with every container image checked against the digests the
 * publisher signed. Used by the agent (acceptance, restart policy, what the
 * sensor watches) and by the supervisor; kept apart from the supervisor
 * (execBundle.ts) so the agent does not load the runtime to read a bundle.
 */
import { PalisadeError } from "../core/errors.js";
import type { BundleEnvelope } from "../core/signing/bundleFormat.js";
import { parseDocuments, type Policy, type Workload } from "../policy/index.js";

/** The workload and policies of a verified envelope; throws POLICY_* or AGENT_BUNDLE_REFUSED. */
export function workloadOfEnvelope(env: BundleEnvelope): { workload: Workload; policies: Policy[] } {
  const w = parseDocuments(env.workload, `${env.name}@v${env.version}/workload.yaml`);
  // "" means no policies (the hub skips it the same way); the parser calls an empty file an error.
  const p = env.policies.trim() === "" ? { errors: [], workloads: [], policies: [] } : parseDocuments(env.policies, `${env.name}@v${env.version}/policies.yaml`);
  const problem = w.errors[0] ?? p.errors[0];
  if (problem) throw problem;
  if (w.workloads.length !== 1 || w.policies.length > 0 || p.workloads.length > 0) {
    throw new PalisadeError("AGENT_BUNDLE_REFUSED", `bundle ${env.name} v${env.version}: workload must be exactly one Workload document and policies only policies`);
  }
  const workload = w.workloads[0]!;
  // The images a workload runs must be among the digests the publisher signed for it.
  const signed = new Set(env.images.map((i) => i.digest));
  for (const c of workload.containers) {
    if (!signed.has(c.imageDigest)) {
      throw new PalisadeError("AGENT_BUNDLE_REFUSED", `bundle ${env.name} v${env.version}: container ${c.name} uses image ${c.imageDigest}, which the bundle's images list does not name`, {
        hint: "palisade workload sign lists every container image; re-sign the bundle",
      });
    }
  }
  return { workload, policies: [...p.policies] };
}
