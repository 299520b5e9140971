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
import { runWorkload } from "../runtime/workloads.js";
import { agentPaths, instanceResultPath } from "./agentPaths.js";
import { announceToAgent } from "./sensorAnnounce.js";
import { AgentStore, openAgentDb } from "./agentStore.js";
import { BundleCache } from "./bundleCache.js";
import { workloadOfEnvelope } from "./bundleWorkload.js";
import { verifyBundle } from "./bundleVerifier.js";
import { writeFileAtomic } from "../core/atomicFile.js";
import type { InstanceResult } from "./instanceRuntime.js";
import type { BundleEnvelope } from "../core/signing/bundleFormat.js";

// Kept here too: older callers import it from the supervisor module.
export { workloadOfEnvelope };

export interface ExecOptions {
  readonly dataDir: string;
  readonly instance: string;
  readonly digest: string;
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
        const why = await announceToAgent(agentPaths(opts.dataDir), { instance: opts.instance, cgroupPath: w.cgroupPath, id: w.id, image: w.image, ...(w.implicitGrants ? { implicitGrants: w.implicitGrants } : {}) });
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
