import { afterAll, describe, expect, it } from "vitest";
import { compileWorkload, confinementLine, confinementReport, type CompileWorkloadOptions } from "../../src/compiler/index.js";
import { PalisadeError } from "../../src/core/errors.js";
import { combinePolicies, freezeDeep, type UnenforcedNote } from "../../src/policy/index.js";
import { compilePathsFor, features, IMAGE_TREE, parse, tempTree } from "./helpers.js";

const tree = tempTree(IMAGE_TREE);
afterAll(() => tree.cleanup());

function compile(policies: string[], opts: Partial<CompileWorkloadOptions> = {}, f = features()) {
  const { workload, policies: ps } = parse({ policies });
  return compileWorkload(workload, ps, f, { id: "default.demo", image: {}, paths: compilePathsFor(tree.root), idMap: { hostId: 1e9, size: 65536 }, ...opts });
}

function thrown(fn: () => unknown): PalisadeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PalisadeError) return e;
    throw e;
  }
  throw new Error("did not throw");
}

const PATTERN_BLOCK = "  process:\n    matchPatterns:\n    - pattern: /bin/*sh\n  action: Block\n";

describe("compileWorkload: fail closed", () => {
  it("refuses a rule no available backend can enforce, naming the rule, the reason and the way out", () => {
    const e = thrown(() => compile([PATTERN_BLOCK]));
    expect(e.code).toBe("COMPILE_UNSUPPORTED");
    expect(e.message).toMatch(/^Block exec pattern \/bin\/\*sh \(demo\.yaml:\d+:\d+\) cannot be enforced on this host: matchPatterns: .*BPF-LSM/);
    expect(e.message).toMatch(/the workload was not started$/);
    expect(e.where).toMatchObject({ file: "demo.yaml", path: "spec.process.matchPatterns[0]" });
    expect(e.hint).toMatch(/^set action: Audit to run with this rule audited only, or run on a kernel with /);
    expect(e.details?.unsupported).toEqual([expect.objectContaining({ rule: "Block exec pattern /bin/*sh", backend: "landlock, bpf-lsm" })]);
  });

  it("counts every unsupported rule in the error", () => {
    const e = thrown(() => compile([PATTERN_BLOCK, "  file:\n    matchPaths:\n    - path: /tmp/x\n  action: Block\n"]));
    expect(e.message).toMatch(/and 1 more rule: demo\.yaml:/);
    expect(e.details?.unsupported).toHaveLength(2);
  });

  it("runs the same rule when it is only audited, and records it for the sensor", () => {
    const c = compile(["  process:\n    matchPatterns:\n    - pattern: /bin/*sh\n  action: Audit\n"]);
    expect(c.audited).toEqual([expect.objectContaining({ text: "Audit exec pattern /bin/*sh" })]);
    expect(c.unsupported).toEqual([]);
  });

  it("in audit mode (--audit) nothing in policy blocks, so nothing can be unsupported", () => {
    const c = compile([PATTERN_BLOCK, "  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n"], { auditOnly: true });
    expect(c.audited.map((a) => a.text)).toEqual(["Audit exec pattern /bin/*sh", "Audit file /etc/shadow"]);
    expect(c.enforced).toEqual([]);
    expect(c.launch?.handledFs).toEqual([]);
    expect(confinementLine(confinementReport(c))).toMatch(/AUDIT MODE/);
  });

  it("fails closed on unenforced KubeArmor features unless audited", () => {
    const { workload, policies } = parse({ policies: [] });
    const note = (action: "Block" | "Audit"): UnenforcedNote => ({
      kind: "unenforced",
      feature: "presets",
      category: "policy",
      action,
      reason: "presets are KubeArmor's BPF-LSM rule sets",
      value: { name: "filelessExec" },
      origin: { file: "p.yaml", line: 9, column: 3, path: "spec.presets[0]" },
    });
    const eff = (action: "Block" | "Audit") => freezeDeep({ ...combinePolicies(policies, workload.labels), unenforced: [note(action)] });
    const opts = { id: "default.demo", image: {}, paths: compilePathsFor(tree.root) };
    expect(() => compileWorkload(workload, eff("Block"), features(), opts)).toThrow(/p\.yaml:9:3\) cannot be enforced on this host: presets are/);
    expect(compileWorkload(workload, eff("Audit"), features(), opts).audited.map((a) => a.kind)).toEqual(["unenforced"]);
  });

  it("with failClosed: false returns the unsupported rules instead", () => {
    const c = compile([PATTERN_BLOCK], { failClosed: false });
    expect(c.unsupported).toEqual([expect.objectContaining({ backend: "landlock, bpf-lsm", reason: expect.stringMatching(/^matchPatterns/) })]);
  });

  it("lets an active AppArmor take the rules only it can express", () => {
    const c = compile([PATTERN_BLOCK], {}, features({ usable: { apparmor: true } }));
    expect(c.enforced).toEqual([expect.objectContaining({ backend: "apparmor" })]);
    expect(c.apparmor.loaded).toBe(true);
    expect(c.spec.process.apparmorProfile).toBe("palisade-default.demo");
    expect(c.apparmor.text).toContain("deny /bin/*sh x,");
  });

  it("fails closed when Landlock is missing and a Block needs it", () => {
    const e = thrown(() => compile(["  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n"], {}, features({ landlock: 0 })));
    expect(e.message).toMatch(/blocking \/etc\/shadow needs Landlock/);
  });

  it("fails closed on a network Block when seccomp is unusable", () => {
    const e = thrown(() => compile(["  network:\n    matchProtocols:\n    - protocol: udp\n  action: Block\n"], {}, features({ usable: { seccomp: false } })));
    expect(e.message).toMatch(/^Block network udp .* seccomp unavailable/);
  });
});

describe("compileWorkload: report", () => {
  it("accounts for every rule: enforced, audited or unsupported", () => {
    const c = compile([
      "  file:\n    matchPaths:\n    - path: /etc/shadow\n    - path: /etc/passwd\n      readOnly: true\n  action: Block\n",
      "  syscalls:\n    matchSyscalls:\n    - syscall: [chmod]\n  action: Block\n",
      "  capabilities:\n    matchCapabilities:\n    - capability: sys_admin\n  action: Block\n",
      "  network:\n    matchProtocols:\n    - protocol: icmp\n  action: Audit\n",
    ]);
    expect(c.enforced.map((e) => `${e.backend}: ${e.ref.text}`).sort()).toEqual([
      "capabilities: Block capability sys_admin",
      "landlock: Block file /etc/shadow",
      "mounts: Block file /etc/passwd (readOnly)",
      "seccomp: Block syscalls chmod",
    ]);
    expect(c.audited.map((a) => a.text)).toEqual(["Audit network icmp"]);
    expect(c.backends.landlock).toMatchObject({ available: true, used: true, rules: 1 });
    expect(c.backends["bpf-lsm"]).toMatchObject({ available: false, used: false });
    expect(c.backends.seccomp.notes[0]).toMatch(/default SCMP_ACT_ERRNO\(EPERM\)/);
    const r = confinementReport(c);
    expect(r.seccomp.blockedByPolicy).toEqual(["chmod"]);
    expect(r.landlock?.pathRules).toBeGreaterThan(3);
    expect(confinementLine(r)).toMatch(/^palisade: confinement: ns .*user; caps none; seccomp .*; landlock ABI≥7 \d+ paths; ro root; net loopback-only; devices none; rules 4 enforced, 1 audited$/);
  });

  it("is deterministic and frozen", () => {
    const a = compile(["  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n"]);
    const b = compile(["  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n"]);
    expect(JSON.stringify(a.spec)).toBe(JSON.stringify(b.spec));
    expect(a.launchText).toBe(b.launchText);
    expect(Object.isFrozen(a.spec)).toBe(true);
  });

  it("keeps the entrypoint readable in a file allow-list", () => {
    const c = compile(["  file:\n    matchDirectories:\n    - dir: /etc/ssl/\n      recursive: true\n  action: Allow\n"]);
    // /bin/sh is a symlink in the image: the rule names the file it resolves to.
    // truncate too: the file lies on the read-only root, where it grants nothing (readOnlyTruncate).
    expect(c.launch?.paths.find((p) => p.path === "/bin/busybox")?.rights).toEqual(["read_file", "truncate"]);
  });
});
