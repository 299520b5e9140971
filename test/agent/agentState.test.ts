/** The agent's local state: node key file, data-directory lock, bundle cache, desired-state parsing, instance exec checks. */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireAgentLock } from "../../src/agent/agentLock.js";
import { BundleCache } from "../../src/agent/bundleCache.js";
import { parseDesiredState } from "../../src/agent/desiredStateDoc.js";
import { workloadOfEnvelope } from "../../src/agent/execBundle.js";
import { createNodeKey, loadNodeKey } from "../../src/agent/nodeKey.js";
import { signNodeRequest, nodeSigningMessage } from "../../src/core/signing/nodeSigning.js";
import { verifyEd25519 } from "../../src/core/signing/ed25519.js";
import { desired, envelope, sign, signer } from "./trustFixture.js";

const dir = mkdtempSync(join(tmpdir(), "palisade-agent-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("agent state", () => {
  it("the node key is private (0600) and is refused once others can read it", () => {
    const path = join(dir, "node.key");
    const made = createNodeKey(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const loaded = loadNodeKey(path);
    expect(loaded.publicKey).toBe(made.publicKey);
    // The loaded key signs requests the hub's verifier accepts.
    const h = signNodeRequest(loaded.privateKey, { nodeId: "node_1", method: "GET", target: "/v1/node/desired-state" });
    const msg = nodeSigningMessage({ method: "GET", target: "/v1/node/desired-state", timestamp: h["x-palisade-timestamp"]!, nonce: h["x-palisade-nonce"]!, nodeId: "node_1", body: new Uint8Array() });
    expect(verifyEd25519(made.publicKey, msg, h["x-palisade-signature"]!)).toBe(true);
    chmodSync(path, 0o644);
    expect(() => loadNodeKey(path)).toThrow(/accessible to other users \(mode 644\)/);
    expect(() => loadNodeKey(join(dir, "missing.key"))).toThrow(/cannot read the node key/);
    writeFileSync(join(dir, "bad.key"), "not a key", { mode: 0o600 });
    expect(() => loadNodeKey(join(dir, "bad.key"))).toThrow(/not an Ed25519 private key/);
  });

  it("one agent per data directory; a lock left by a dead agent is taken over", async () => {
    const lock = join(dir, "agent.pid");
    const release = acquireAgentLock(lock);
    // A live process that looks like an agent holds the lock.
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)", "agent"], { stdio: "ignore" });
    release();
    writeFileSync(lock, `${holder.pid}\n`);
    expect(() => acquireAgentLock(lock)).toThrow(/another agent \(pid \d+\) is running/);
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("close", r));
    const again = acquireAgentLock(lock);
    again();
    expect(readdirSync(dir)).not.toContain("agent.pid");
  });

  it("the bundle cache only ever returns bytes that hash to their digest", () => {
    const cache = new BundleCache(join(dir, "bundles"));
    const b = sign(envelope("app", 1), signer());
    expect(() => cache.put(b.digest, Buffer.from("other bytes"))).toThrow(/do not hash/);
    cache.put(b.digest, b.bytes);
    expect(cache.get(b.digest)?.equals(b.bytes)).toBe(true);
    writeFileSync(join(dir, "bundles", `${b.digest.slice(7)}.json`), "swapped");
    expect(cache.get(b.digest)).toBeUndefined();
    expect(readdirSync(join(dir, "bundles"))).toEqual([]);
    cache.put(b.digest, b.bytes);
    expect(cache.prune(new Set())).toBe(1);
  });

  it("a malformed desired state is an error, never a partial plan", () => {
    const b = sign(envelope("app", 1), signer());
    const good = desired("org_1", [{ deployment: "app", bundle: b }]);
    expect(parseDesiredState(JSON.stringify(good)).workloads).toHaveLength(1);
    expect(() => parseDesiredState("<html>")).toThrow(/not JSON/);
    expect(() => parseDesiredState(JSON.stringify({ ...good, format: "x" }))).toThrow(/malformed at format/);
    expect(() => parseDesiredState(JSON.stringify({ ...good, workloads: [good.workloads[0], good.workloads[0]] }))).toThrow(/lists deployment app twice/);
    const badDigest = { ...good, workloads: [{ ...good.workloads[0]!, bundle: { ...good.workloads[0]!.bundle, digest: "sha256:xyz" } }] };
    expect(() => parseDesiredState(JSON.stringify(badDigest))).toThrow(/workloads\.0\.bundle\.digest/);
  });

  it("a container image must be among the digests the publisher signed", () => {
    const env = envelope("app", 1);
    expect(workloadOfEnvelope(env).workload.name).toBe("app");
    expect(() => workloadOfEnvelope({ ...env, images: [{ ref: "x", digest: `sha256:${"e".repeat(64)}` }] })).toThrow(/which the bundle's images list does not name/);
    expect(() => workloadOfEnvelope({ ...env, policies: env.workload })).toThrow(/exactly one Workload/);
  });
});
