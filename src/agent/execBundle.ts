/**
 * The body of `palisade agent exec`: the per-instance supervisor process the
 * agent starts (instanceRuntime.ts). It runs one verified bundle in the
 * foreground under full confinement and records how it ended.
 *
 * It re-checks the bundle itself (digest and publisher signature against the
 * pinned key, from the agent's read-only store and cache) rather than trusting
 * its command line: the cached file could have been swapped since the agent
 * verified it. Revocation is the agent's call (--on-revoked-key) and is not
 * re-decided here.
 */
import { PalisadeError, asPalisadeError, renderError } from "../core/errors.js";
import { probeHost } from "../native/probe.js";
import { parseDocuments, type Policy, type Workload } from "../policy/index.js";
import { runWorkload } from "../runtime/workloads.js";
import { agentPaths, instanceResultPath } from "./agentPaths.js";
import { announceToAgent } from "./agentSensor.js";
import { AgentStore, openAgentDb } from "./agentStore.js";
import { BundleCache } from "./bundleCache.js";
import { verifyBundle } from "./bundleVerifier.js";
import { writeFileAtomic } from "../core/atomicFile.js";
import type { InstanceResult } from "./instanceRuntime.js";
import type { BundleEnvelope } from "../core/signing/bundleFormat.js";

export interface ExecOptions {
  readonly dataDir: string;
  readonly instance: string;
  readonly digest: string;
}

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

/** Loads and re-verifies the bundle `digest` from the agent's cache. */
export function loadAcceptedBundle(dataDir: string, digest: string): BundleEnvelope {
  const paths = agentPaths(dataDir);
  const store = new AgentStore(openAgentDb(paths.db, { readonly: true }));
  try {
    const claim = store.accepted().find((a) => a.digest === digest);
    if (!claim) throw new PalisadeError("AGENT_STATE", `bundle ${digest} is not in the agent's accepted desired state`, { hint: "the deployment may have changed; the agent starts what is current" });
    const bytes = new BundleCache(paths.bundles).get(digest);
    if (!bytes) throw new PalisadeError("AGENT_STATE", `bundle ${digest} is not in the agent's cache`, { hint: "the agent fetches it again at its next poll" });
    const trust = { pinnedKey: (id: string) => store.pinnedKey(id), isRevoked: () => false, versionMark: (n: string) => store.versionMark(n) };
    return verifyBundle(bytes, claim, trust).envelope;
  } finally {
    store.close();
  }
}

/** Runs the instance to completion; returns the process exit code. Never throws. */
export async function execBundle(opts: ExecOptions): Promise<number> {
  const resultPath = instanceResultPath(agentPaths(opts.dataDir), opts.instance);
  const finish = (r: Omit<InstanceResult, "finishedAt">) => writeFileAtomic(resultPath, JSON.stringify({ ...r, finishedAt: new Date().toISOString() }) + "\n", { mode: 0o600 });
  try {
    const envelope = loadAcceptedBundle(opts.dataDir, opts.digest);
    const { workload, policies } = workloadOfEnvelope(envelope);
    const features = await probeHost();
    process.stderr.write(`${new Date().toISOString()} palisade agent exec: starting ${opts.instance} (${envelope.name} v${envelope.version}, ${opts.digest})\n`);
    const r = await runWorkload({
      workload,
      policies,
      features,
      name: opts.instance,
      stdio: "inherit",
      forwardSignals: true,
      manifest: `bundle:${opts.digest}`,
      onConfined: (_report, line) => process.stderr.write(`${line}\n`),
      // The agent's sensor watches the cgroup before the entrypoint runs (agentSensor.ts); it never holds the workload back for long.
      onCreated: async (w) => {
        if (!w.cgroupPath) return;
        const why = await announceToAgent(agentPaths(opts.dataDir), { instance: opts.instance, cgroupPath: w.cgroupPath, id: w.id, image: w.image });
        if (why) process.stderr.write(`${new Date().toISOString()} palisade agent exec: sensor not watching ${opts.instance} from its start (${why}); the agent watches it once it sees it running\n`);
      },
    });
    finish({ exitCode: r.exitCode });
    process.stderr.write(`${new Date().toISOString()} palisade agent exec: ${opts.instance} exited with status ${r.exitCode}\n`);
    return r.exitCode;
  } catch (err) {
    const e = asPalisadeError(err);
    try {
      finish({ error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } });
    } catch {
      // The log line below is all that is left.
    }
    process.stderr.write(`${new Date().toISOString()} palisade agent exec: ${renderError(e)}\n`);
    return 1;
  }
}
