/**
 * Where the agent keeps its state: `<data dir>/agent/`, beside the runtime's
 * images/, workloads/ and runc/ in the same Palisade data directory, so one
 * `--data-dir` (or PALISADE_DATA_DIR) moves everything of one device.
 *
 *   agent/node.key        the device's Ed25519 private key (PKCS#8 PEM, 0600)
 *   agent/agent.db        identity, pinned keys, revocations, version marks,
 *                         verified desired state, instances, outbox (SQLite)
 *   agent/bundles/        verified bundle bytes by digest (bundleCache.ts)
 *   agent/instances/      per instance: <name>.log (its output), <name>.result.json (how it ended)
 *   agent/agent.pid       the running agent (one per data directory)
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

export interface AgentPaths {
  readonly dataDir: string;
  readonly root: string;
  readonly key: string;
  readonly db: string;
  readonly bundles: string;
  readonly instances: string;
  readonly pidFile: string;
}

export function agentPaths(dataDir: string): AgentPaths {
  const d = resolve(dataDir);
  const root = join(d, "agent");
  return {
    dataDir: d,
    root,
    key: join(root, "node.key"),
    db: join(root, "agent.db"),
    bundles: join(root, "bundles"),
    instances: join(root, "instances"),
    pidFile: join(root, "agent.pid"),
  };
}

/**
 * Creates the directories. The agent's own are 0700 (they hold the key and
 * what the device runs); the data directory itself must stay traversable,
 * because a workload's user-namespace root reaches its rootfs through it.
 */
export function ensureAgentDirs(p: AgentPaths): void {
  mkdirSync(p.dataDir, { recursive: true, mode: 0o755 });
  for (const dir of [p.root, p.bundles, p.instances]) mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function instanceLogPath(p: AgentPaths, instance: string): string {
  return join(p.instances, `${instance}.log`);
}

export function instanceResultPath(p: AgentPaths, instance: string): string {
  return join(p.instances, `${instance}.result.json`);
}
