/**
 * What the agent keeps of an accepted bundle instead of parsing it again
 * (src/agent/bundleFacts.ts): the effective policy its sensor matches events
 * against must read back as the same policy, a stored copy that is missing
 * or damaged must be computed again from the verified bundle (never read as
 * "no policy" or a weaker one), and the `palisade agent inspect-bundle`
 * child (the real CLI) must answer what the in-process parse answers —
 * including the parser's refusal.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentStore } from "../../src/agent/agentStore.js";
import { BundleCache } from "../../src/agent/bundleCache.js";
import { decodeBundleFacts, encodeBundleFacts, factsOfAccepted, inspectBundle, type BundleFacts } from "../../src/agent/bundleFacts.js";
import { bundleFactsOf } from "../../src/agent/bundleFactsOf.js";
import { bundleDigest, canonicalBundleBytes, type BundleEnvelope } from "../../src/core/signing/bundleFormat.js";
import { PalisadeError } from "../../src/core/errors.js";
import { evaluate, type Operation } from "../../src/policy/evaluate.js";
import { envelope, IMAGE } from "./trustFixture.js";

const REPO = join(import.meta.dirname, "../..");
/** The CLI as the agent starts it (`<command> agent inspect-bundle`), through tsx as in development. */
const CLI = [process.execPath, "--import", "tsx", join(REPO, "src/cli/main.ts")];

const POLICIES = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: gw-protect, namespace: default}
spec:
  selector: {matchLabels: {app: gw}}
  file:
    matchDirectories: [{dir: /etc/gw/, recursive: true, readOnly: true}]
    matchPaths: [{path: /etc/shadow, action: Block}]
  process:
    matchPaths: [{path: /bin/sh}, {path: /bin/sleep}]
  action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: other-app, namespace: default}
spec:
  selector: {matchLabels: {app: other}}
  process: {matchPaths: [{path: /bin/sh}]}
  action: Block
`;

function bundle(env: BundleEnvelope): { bytes: Buffer; digest: string } {
  return { bytes: canonicalBundleBytes(env), digest: bundleDigest(env) };
}

function gateway(): BundleEnvelope {
  return {
    ...envelope("gw", 1),
    workload: `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: gw\n  labels: {app: gw}\nspec:\n  restartPolicy: OnFailure\n  containers:\n  - name: main\n    image: busybox@${IMAGE}\n    command: [/bin/sh, -c, "sleep 1000"]\n`,
    policies: POLICIES,
  };
}

const OPS: Operation[] = [
  { kind: "process", path: "/bin/sh" },
  { kind: "process", path: "/usr/bin/wget" },
  { kind: "file", path: "/etc/gw/app.conf", write: false },
  { kind: "file", path: "/etc/gw/app.conf", write: true },
  { kind: "file", path: "/etc/shadow", write: false },
  { kind: "network", protocol: "tcp" },
];
const verdicts = (f: BundleFacts) => OPS.map((op) => evaluate(f.effective, op)).map((v) => `${v.action}/${v.reason}/${v.policyName}`);

describe("bundle facts (what the agent keeps of an accepted bundle)", () => {
  const gw = bundle(gateway());
  const facts = bundleFactsOf(gw.bytes, gw.digest);

  it("are the workload's namespace, restart policy, labels and effective policy, and read back as the same policy", () => {
    expect(facts).toMatchObject({ namespace: "default", restartPolicy: "OnFailure", labels: { app: "gw" } });
    expect(facts.effective.policies).toEqual(["default/gw-protect"]);
    // The policy is not trivial: it blocks, allows and falls to the posture.
    expect(verdicts(facts)).toEqual(["Allow/rule/gw-protect", "Block/posture/DefaultPosture", "Allow/rule/gw-protect", "Block/posture/DefaultPosture", "Block/rule/gw-protect", "Allow/none/"]);
    const back = decodeBundleFacts(encodeBundleFacts(gw.digest, facts), gw.digest);
    expect(back).toEqual(facts);
    expect(verdicts(back!)).toEqual(verdicts(facts));
    expect(Object.isFrozen(back!.effective.rules[0])).toBe(true);
  });

  it("a missing, damaged or foreign stored copy does not read back", () => {
    const good = JSON.parse(encodeBundleFacts(gw.digest, facts)) as Record<string, unknown> & { effective: Record<string, unknown> & { rules: Record<string, unknown>[] } };
    const variant = (change: (v: typeof good) => void) => {
      const v = structuredClone(good);
      change(v);
      return JSON.stringify(v);
    };
    const bad: Record<string, string | undefined> = {
      missing: undefined,
      empty: "",
      truncated: encodeBundleFacts(gw.digest, facts).slice(0, 200),
      "not an object": "[]",
      "another format": variant((v) => (v.v = 2)),
      "another bundle": variant((v) => (v.digest = `sha256:${"0".repeat(64)}`)),
      "no policy": variant((v) => delete (v as Record<string, unknown>).effective),
      "rules not a list": variant((v) => (v.effective.rules = {} as never)),
      "an unknown action": variant((v) => (v.effective.rules[0]!.action = "Permit")),
      "an unknown rule kind": variant((v) => (v.effective.rules[0]!.kind = "device")),
      "a rule without its match": variant((v) => delete v.effective.rules[0]!.match),
      "an unknown posture": variant((v) => ((v.effective.posture as Record<string, string>).file = "allow")),
      "an allow-list flag that is not a boolean": variant((v) => ((v.effective.allowList as Record<string, unknown>).process = "false")),
      "rule owners that do not line up": variant((v) => (v.effective.ruleOwners = ["x"])),
      "an unknown restart policy": variant((v) => (v.restartPolicy = "Sometimes")),
      "labels that are not strings": variant((v) => (v.labels = { app: 1 })),
    };
    for (const [what, json] of Object.entries(bad)) expect(decodeBundleFacts(json, gw.digest), what).toBeUndefined();
  });

  describe("stored or computed again (factsOfAccepted)", () => {
    let dir: string;
    let store: AgentStore;
    let cache: BundleCache;
    let parses: number;
    const inspect = (bytes: Buffer, digest: string) => {
      parses += 1;
      return inspectBundle(bytes, digest);
    };
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "palisade-facts-"));
      store = AgentStore.open(join(dir, "agent.db"));
      cache = new BundleCache(join(dir, "bundles"));
      parses = 0;
    });
    afterEach(() => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("uses the stored copy; a missing or damaged one is parsed again from the bundle and repaired, never read as no policy", async () => {
      cache.put(gw.digest, gw.bytes);
      // Missing (an agent.db from before facts were kept): parsed and stored.
      expect(verdicts(await factsOfAccepted({ store, cache, inspect }, gw.digest))).toEqual(verdicts(facts));
      expect(parses).toBe(1);
      expect(decodeBundleFacts(store.bundleFacts(gw.digest), gw.digest)).toEqual(facts);
      // Stored: not parsed again.
      await factsOfAccepted({ store, cache, inspect }, gw.digest);
      expect(parses).toBe(1);
      // Damaged in ways that would weaken the policy if read: parsed again, the same policy as before.
      const weakened = JSON.parse(store.bundleFacts(gw.digest)!) as { effective: { rules: unknown[]; ruleOwners: unknown[] } };
      weakened.effective.rules = [];
      for (const damaged of ["{", JSON.stringify({ ...weakened, effective: { ...weakened.effective, kind: "nothing" } }), JSON.stringify({ ...weakened, v: 0 })]) {
        store.putBundleFacts(gw.digest, damaged);
        expect(verdicts(await factsOfAccepted({ store, cache, inspect }, gw.digest))).toEqual(verdicts(facts));
      }
      expect(parses).toBe(4);
      expect(decodeBundleFacts(store.bundleFacts(gw.digest), gw.digest)).toEqual(facts);
    });

    it("without the bundle's bytes it is an AGENT_STATE error, not an empty policy", async () => {
      store.putBundleFacts(gw.digest, "garbled");
      await expect(factsOfAccepted({ store, cache, inspect }, gw.digest)).rejects.toMatchObject({ code: "AGENT_STATE" });
      expect(parses).toBe(0);
    });

    it("forgets the facts of bundles no longer accepted", () => {
      store.putBundleFacts(gw.digest, encodeBundleFacts(gw.digest, facts));
      store.putBundleFacts("sha256:old", "{}");
      store.pruneBundleFacts(new Set([gw.digest]));
      expect(store.bundleFacts("sha256:old")).toBeUndefined();
      expect(store.bundleFacts(gw.digest)).toBeDefined();
    });
  });

  describe("in the `palisade agent inspect-bundle` child", () => {
    it("answers the same facts as the in-process parse", async () => {
      let fellBack = "";
      const child = await inspectBundle(gw.bytes, gw.digest, { command: CLI, onFallback: (why) => (fellBack = why) });
      expect(fellBack).toBe("");
      expect(child).toEqual(facts);
    });

    it("answers the parser's refusal with its code and location, as the in-process parse throws it", async () => {
      const broken = bundle({ ...gateway(), policies: POLICIES.replace("matchPaths: [{path: /bin/sh}, {path: /bin/sleep}]", "matchPahts: [{path: /bin/sh}]") });
      let inProcess: unknown;
      try {
        bundleFactsOf(broken.bytes, broken.digest);
      } catch (e) {
        inProcess = e;
      }
      expect(inProcess).toBeInstanceOf(PalisadeError);
      let fellBack = "";
      const err = await inspectBundle(broken.bytes, broken.digest, { command: CLI, onFallback: (why) => (fellBack = why) }).catch((e: unknown) => e);
      expect(fellBack).toBe("");
      expect(err).toBeInstanceOf(PalisadeError);
      const { code, message, where } = inProcess as PalisadeError;
      expect(err).toMatchObject({ code, message, where });
      expect(code).toMatch(/^POLICY_/);
    });

    it("a child that cannot run or answers nonsense is not the bundle's fault: the agent parses in-process", async () => {
      for (const command of [["/nonexistent/palisade"], ["/bin/sh", "-c", "echo '{\"ok\":true,\"facts\":{\"v\":1}}'"], ["/bin/sh", "-c", "exit 3"]]) {
        let fellBack = "";
        const f = await inspectBundle(gw.bytes, gw.digest, { command, onFallback: (why) => (fellBack = why) });
        expect(fellBack, command.join(" ")).not.toBe("");
        expect(f).toEqual(facts);
      }
    });
  });
});
