/**
 * The policy matcher (src/policy/evaluate.ts) against docs/policy.md
 * "Combining policies". Policies are real YAML through the real parser and
 * combinePolicies, so the tests exercise the same model the compiler sees.
 */
import { describe, expect, it } from "vitest";
import { combinePolicies, evaluate, parseDocuments, type EffectivePolicy, type Operation, type Posture, type Verdict } from "../../src/policy/index.js";

function effective(yaml: string, opts: { posture?: Posture; target?: "host" } = {}): EffectivePolicy {
  const r = parseDocuments(yaml, "evaluate.yaml");
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return combinePolicies(r.policies, opts.target === "host" ? { "kubernetes.io/hostname": "gw" } : { app: "camera" }, {
    defaultPosture: opts.posture ?? "block",
    ...(opts.target ? { target: opts.target } : {}),
  });
}

function ksp(name: string, body: string): string {
  return `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: ${name}, namespace: default}
spec:
  selector: {matchLabels: {app: camera}}
${body}
---
`;
}

const short = (v: Verdict) => `${v.action}/${v.reason}/${v.policyName}`;

// ------------------------------------------------------------ the full table

type Kind = "process" | "file" | "network" | "capability";
type Action = "Allow" | "Audit" | "Block";
type Qualifier = "none" | "ownerOnly" | "readOnly";

const TARGET: Record<Kind, { entry: string; hit: (o: { source: string; owner: boolean; write: boolean }) => Operation; miss: (source: string) => Operation }> = {
  process: {
    entry: "process: {matchPaths: [{path: /usr/bin/tool%Q%S}]}",
    hit: ({ source, owner }) => ({ kind: "process", path: "/usr/bin/tool", source, owner }),
    miss: (source) => ({ kind: "process", path: "/usr/bin/other", source }),
  },
  file: {
    entry: "file: {matchPaths: [{path: /etc/app.conf%Q%S}]}",
    hit: ({ source, owner, write }) => ({ kind: "file", path: "/etc/app.conf", write, source, owner }),
    miss: (source) => ({ kind: "file", path: "/etc/other.conf", write: false, source }),
  },
  network: {
    entry: "network: {matchProtocols: [{protocol: tcp%S}]}",
    hit: ({ source }) => ({ kind: "network", protocol: "tcp", source }),
    miss: (source) => ({ kind: "network", protocol: "udp", source }),
  },
  capability: {
    entry: "capabilities: {matchCapabilities: [{capability: net_raw%S}]}",
    hit: ({ source }) => ({ kind: "capability", capability: "net_raw", source }),
    miss: (source) => ({ kind: "capability", capability: "sys_admin", source }),
  },
};

const QUALIFIERS: Record<Kind, Qualifier[]> = { process: ["none", "ownerOnly"], file: ["none", "ownerOnly", "readOnly"], network: ["none"], capability: ["none"] };

/**
 * The expected verdict, written from the documented rules rather than from
 * the implementation: does the rule hit (scope and qualifiers), and is the
 * category an allow-list (it is exactly when the rule is an Allow)?
 */
function expected(action: Action, scoped: boolean, q: Qualifier, posture: Posture, o: { source: string; owner: boolean; write: boolean } | "miss"): string {
  const postureVerdict = `${posture === "block" ? "Block" : "Audit"}/posture/DefaultPosture`;
  const allowListed = action === "Allow";
  if (o === "miss") return allowListed ? postureVerdict : "Allow/none/";
  let hits = !scoped || o.source === "/bin/app";
  if (q === "ownerOnly") hits &&= action === "Allow" ? o.owner : !o.owner;
  if (q === "readOnly") hits &&= action === "Allow" ? !o.write : o.write;
  if (hits) return `${action}/rule/p`;
  return allowListed ? postureVerdict : "Allow/none/";
}

describe("evaluate: rule kind × action × fromSource × qualifier × posture", () => {
  const cases: { kind: Kind; action: Action; scoped: boolean; q: Qualifier; posture: Posture }[] = [];
  for (const kind of Object.keys(TARGET) as Kind[])
    for (const action of ["Allow", "Audit", "Block"] as Action[])
      for (const scoped of [false, true])
        for (const q of QUALIFIERS[kind])
          for (const posture of ["block", "audit"] as Posture[]) cases.push({ kind, action, scoped, q, posture });

  it("covers every combination (84 policies)", () => expect(cases).toHaveLength(84));

  it.each(cases)("$kind $action scoped=$scoped $q posture=$posture", ({ kind, action, scoped, q, posture }) => {
    const t = TARGET[kind];
    const entry = t.entry.replace("%Q", q === "none" ? "" : `, ${q}: true`).replace("%S", scoped ? ", fromSource: [{path: /bin/app}]" : "");
    const eff = effective(ksp("p", `  ${entry}\n  action: ${action}`), { posture });
    for (const source of ["/bin/app", "/bin/other"])
      for (const owner of [false, true])
        for (const write of [false, true]) {
          const o = { source, owner, write };
          const v = evaluate(eff, t.hit(o));
          expect(short(v), JSON.stringify(o)).toBe(expected(action, scoped, q, posture, o));
          if (v.reason === "rule") {
            expect(v.rule?.kind).toBe(kind);
            expect(v.severity).toBeTypeOf("number");
          }
        }
    expect(short(evaluate(eff, t.miss("/bin/app")))).toBe(expected(action, scoped, q, posture, "miss"));
  });
});

// ------------------------------------------------------------ combination rules

describe("evaluate: combination", () => {
  it("Block beats Allow, whichever policy comes first", () => {
    const allow = ksp("allow-curl", "  process: {matchPaths: [{path: /usr/bin/curl}]}\n  action: Allow");
    const block = ksp("no-curl", "  process: {matchPaths: [{path: /usr/bin/curl}]}\n  action: Block");
    for (const yaml of [allow + block, block + allow]) {
      const v = evaluate(effective(yaml), { kind: "process", path: "/usr/bin/curl" });
      expect(short(v)).toBe("Block/rule/no-curl");
    }
  });

  it("Audit never grants: in an allow-list an Audit hit without an Allow gets the posture", () => {
    const yaml = ksp("allow-camerad", "  process: {matchPaths: [{path: /usr/bin/camerad}]}\n  action: Allow") + ksp("audit-sh", "  process: {matchPaths: [{path: /bin/sh}]}\n  action: Audit");
    expect(short(evaluate(effective(yaml), { kind: "process", path: "/bin/sh" }))).toBe("Block/posture/DefaultPosture");
    expect(evaluate(effective(yaml), { kind: "process", path: "/bin/sh" }).message).toMatch(/audited by AUDIT process \/bin\/sh/);
    expect(short(evaluate(effective(yaml, { posture: "audit" }), { kind: "process", path: "/bin/sh" }))).toBe("Audit/posture/DefaultPosture");
    expect(short(evaluate(effective(yaml), { kind: "process", path: "/usr/bin/camerad" }))).toBe("Allow/rule/allow-camerad");
  });

  it("Audit and Allow on the same operation: it proceeds and is audited", () => {
    const yaml = ksp("allow", "  file: {matchDirectories: [{dir: /data/, recursive: true}]}\n  action: Allow") + ksp("watch", "  file: {matchPaths: [{path: /data/key}]}\n  action: Audit");
    expect(short(evaluate(effective(yaml), { kind: "file", path: "/data/key", write: false }))).toBe("Audit/rule/watch");
    expect(short(evaluate(effective(yaml), { kind: "file", path: "/data/other", write: true }))).toBe("Allow/rule/allow");
  });

  it("an allow-list is per category", () => {
    const eff = effective(ksp("p", "  process: {matchPaths: [{path: /usr/bin/camerad}]}\n  action: Allow"));
    expect(short(evaluate(eff, { kind: "process", path: "/bin/sh" }))).toBe("Block/posture/DefaultPosture");
    expect(short(evaluate(eff, { kind: "file", path: "/etc/shadow", write: true }))).toBe("Allow/none/");
    expect(short(evaluate(eff, { kind: "network", protocol: "raw" }))).toBe("Allow/none/");
  });

  it("a scoped Allow still allow-lists the category for every process", () => {
    const eff = effective(ksp("secrets", "  file: {matchDirectories: [{dir: /run/secrets/, recursive: true, fromSource: [{path: /usr/local/bin/php}]}]}\n  action: Allow"));
    expect(short(evaluate(eff, { kind: "file", path: "/run/secrets/db/pw", write: false, source: "/usr/local/bin/php" }))).toBe("Allow/rule/secrets");
    expect(short(evaluate(eff, { kind: "file", path: "/run/secrets/db/pw", write: false, source: "/bin/cat" }))).toBe("Block/posture/DefaultPosture");
    expect(short(evaluate(eff, { kind: "file", path: "/etc/passwd", write: false, source: "/usr/local/bin/php" }))).toBe("Block/posture/DefaultPosture");
    // Unknown source: a scoped rule cannot be shown to apply.
    expect(short(evaluate(eff, { kind: "file", path: "/run/secrets/db/pw", write: false }))).toBe("Block/posture/DefaultPosture");
  });

  it("fromSource dir entries: directly in, or recursive below", () => {
    const yaml = ksp("p", `  network:
    matchProtocols:
    - {protocol: udp, fromSource: [{dir: /usr/bin/}]}
    - {protocol: tcp, fromSource: [{dir: /opt/, recursive: true}]}
  action: Block`);
    const eff = effective(yaml);
    expect(evaluate(eff, { kind: "network", protocol: "udp", source: "/usr/bin/dig" }).action).toBe("Block");
    expect(evaluate(eff, { kind: "network", protocol: "udp", source: "/usr/bin/x/dig" }).action).toBe("Allow");
    expect(evaluate(eff, { kind: "network", protocol: "tcp", source: "/opt/a/b/c" }).action).toBe("Block");
    expect(evaluate(eff, { kind: "network", protocol: "tcp", source: "/optical" }).action).toBe("Allow");
  });

  it("matchDirectories: the directory itself, direct children, and the tree when recursive", () => {
    const eff = effective(ksp("p", `  file:
    matchDirectories:
    - {dir: /etc/app/}
    - {dir: /var/lib/app/, recursive: true}
  action: Allow`));
    const at = (path: string) => evaluate(eff, { kind: "file", path, write: false }).action;
    expect([at("/etc/app"), at("/etc/app/a.conf"), at("/etc/app/sub/b.conf"), at("/etc/apple")]).toEqual(["Allow", "Allow", "Block", "Block"]);
    expect([at("/var/lib/app"), at("/var/lib/app/x"), at("/var/lib/app/x/y/z"), at("/var/lib/apps/x")]).toEqual(["Allow", "Allow", "Allow", "Block"]);
  });

  it("matchPatterns follow AppArmor globs", () => {
    const eff = effective(ksp("p", `  file:
    matchPatterns:
    - {pattern: /etc/*.conf}
    - {pattern: "/srv/**/index.{html,htm}"}
  action: Block`));
    const at = (path: string) => evaluate(eff, { kind: "file", path, write: false }).action;
    expect([at("/etc/a.conf"), at("/etc/x/a.conf"), at("/srv/a/b/index.htm"), at("/srv/a/index.php")]).toEqual(["Block", "Allow", "Block", "Allow"]);
  });

  it("syscall rules never allow-list; Block blocks, Audit and Allow report", () => {
    const yaml = ksp("mods", `  syscalls:
    matchSyscalls:
    - syscall: [init_module]
  action: Block`) + ksp("trace", `  syscalls:
    matchSyscalls:
    - syscall: [ptrace]
  action: Allow`) + ksp("unlinks", `  syscalls:
    matchPaths:
    - {syscall: [unlink], path: /data/, recursive: true}
  action: Audit`);
    const eff = effective(yaml);
    expect(eff.allowList).toEqual({ process: false, file: false, network: false, capability: false });
    expect(short(evaluate(eff, { kind: "syscall", syscall: "init_module" }))).toBe("Block/rule/mods");
    expect(short(evaluate(eff, { kind: "syscall", syscall: "ptrace" }))).toBe("Audit/rule/trace");
    expect(short(evaluate(eff, { kind: "syscall", syscall: "mount" }))).toBe("Allow/none/");
    expect(short(evaluate(eff, { kind: "syscall", syscall: "unlink", path: "/data/a/b" }))).toBe("Audit/rule/unlinks");
    expect(short(evaluate(eff, { kind: "syscall", syscall: "unlink", path: "/tmp/a" }))).toBe("Allow/none/");
    expect(short(evaluate(eff, { kind: "syscall", syscall: "unlink" }))).toBe("Allow/none/");
  });

  it("host policies confine only the sources their Allow rules name", () => {
    const yaml = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata: {name: head-defaults}
spec:
  nodeSelector: {matchLabels: {kubernetes.io/hostname: gw}}
  file:
    matchDirectories:
    - {dir: /etc/default/, recursive: true, fromSource: [{path: /usr/bin/head}]}
  action: Allow
`;
    const eff = effective(yaml, { target: "host" });
    expect(short(evaluate(eff, { kind: "file", path: "/etc/default/grub", write: false, source: "/usr/bin/head" }))).toBe("Allow/rule/head-defaults");
    expect(short(evaluate(eff, { kind: "file", path: "/etc/shadow", write: false, source: "/usr/bin/head" }))).toBe("Block/posture/DefaultPosture");
    expect(short(evaluate(eff, { kind: "file", path: "/etc/shadow", write: false, source: "/usr/bin/tail" }))).toBe("Allow/none/");
  });

  it("carries the rule's severity, tags and message, and names the policy among several", () => {
    const yaml = ksp("first", "  process: {matchPaths: [{path: /bin/a}]}\n  action: Block") +
      ksp("second", `  severity: 7
  tags: [MITRE, T1059]
  message: shell in camera
  process: {matchPaths: [{path: /bin/sh}]}
  action: Block`);
    const v = evaluate(effective(yaml), { kind: "process", path: "/bin/sh", source: "/usr/bin/camerad" });
    expect(v).toMatchObject({ action: "Block", reason: "rule", policyName: "second", severity: 7, tags: ["MITRE", "T1059"], message: "shell in camera" });
    expect(evaluate(effective(yaml), { kind: "process", path: "/bin/a" }).message).toBe("BLOCK process /bin/a");
  });

  it("an empty policy set decides nothing", () => {
    const eff = combinePolicies([], {});
    expect(short(evaluate(eff, { kind: "file", path: "/etc/passwd", write: true }))).toBe("Allow/none/");
    expect(evaluate(eff, { kind: "capability", capability: "sys_admin" }).tags).toEqual([]);
  });
});

describe("evaluate: paths as programs pass them", () => {
  it("matches non-canonical absolute paths by their canonical form; relative paths match nothing", () => {
    const eff = effective(ksp("p", "  file: {matchPaths: [{path: /etc/app/x}, {path: /etc/app}]}\n  action: Allow"));
    const at = (path: string) => evaluate(eff, { kind: "file", path, write: false }).action;
    expect([at("/etc/./app//x"), at("/etc/app/../app/x"), at("/etc/app/"), at("app/x"), at("/etc/app/y")]).toEqual(["Allow", "Allow", "Allow", "Block", "Block"]);
  });
});
