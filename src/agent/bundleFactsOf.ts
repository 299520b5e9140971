/**
 * Computes a bundle's facts (bundleFacts.ts) by parsing it: the workload
 * and its policies (bundleWorkload.ts) and their combination — the same one
 * the supervisor compiles the confinement from (runtime/workloads.ts). This
 * module loads `yaml` and the policy parsers, so the agent never imports it
 * statically: it runs in the `palisade agent inspect-bundle` child, or, if
 * that child cannot run, in the agent as a fallback.
 */
import { asPalisadeError } from "../core/errors.js";
import { parseBundleBytes } from "../core/signing/bundleFormat.js";
import { combinePolicies } from "../policy/combine.js";
import { decodeBundleFacts, encodeBundleFacts, type BundleFacts } from "./bundleFacts.js";
import { workloadOfEnvelope } from "./bundleWorkload.js";

/** Throws POLICY_* or AGENT_BUNDLE_REFUSED when the bundle cannot run. */
export function bundleFactsOf(bytes: Buffer, digest: string): BundleFacts {
  const { workload, policies } = workloadOfEnvelope(parseBundleBytes(bytes, digest));
  const effective = combinePolicies(policies, workload.labels, { namespace: workload.namespace, ...(workload.defaultPosture ? { defaultPosture: workload.defaultPosture } : {}) });
  return { namespace: workload.namespace, restartPolicy: workload.restartPolicy, labels: workload.labels, effective };
}

/**
 * The body of `palisade agent inspect-bundle`: bundle bytes on stdin, one
 * JSON answer line on stdout (the protocol is in bundleFacts.ts).
 */
export async function inspectBundleMain(digest: string): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  let answer: string;
  try {
    const facts = bundleFactsOf(Buffer.concat(chunks), digest);
    const encoded = encodeBundleFacts(digest, facts);
    // What the agent will store must read back as it was computed.
    if (!decodeBundleFacts(encoded, digest)) throw new Error("the bundle's facts do not read back");
    answer = `{"ok":true,"facts":${encoded}}`;
  } catch (err) {
    answer = JSON.stringify({ ok: false, error: asPalisadeError(err).toJSON() });
  }
  await new Promise<void>((res) => process.stdout.write(answer + "\n", () => res()));
  return 0;
}
