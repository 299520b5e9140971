/**
 * recommendPolicy: the output is a valid policy (real parser, and the real
 * `palisade policy validate`), and evaluated with evaluate() it allows every
 * observed operation while blocking unobserved ones — checked over random
 * record sets with fast-check, plus the aggregation rules by example.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { aggregate, observe, recommendPolicy, recommendPolicyData } from "../../src/discovery/index.js";
import { combinePolicies, evaluate, parseDocuments, type EffectivePolicy, type Operation } from "../../src/policy/index.js";
import { operationOf, type LogFields } from "../../src/sensor/logOperation.js";

const labels = { app: "web", tier: "edge" };

function effectiveOf(yaml: string): EffectivePolicy {
  const r = parseDocuments(yaml, "recommended.yaml");
  expect(r.errors.map((e) => `${e.message} at ${e.where?.path ?? ""}`)).toEqual([]);
  expect(r.policies).toHaveLength(1);
  return combinePolicies(r.policies, labels, { namespace: r.policies[0]!.namespace });
}

const file = (path: string, flags: string, actor?: string, result = "Passed"): LogFields => ({
  Operation: "File",
  Resource: path,
  Data: `syscall=SYS_OPENAT fd=-100 flags=${flags}`,
  Result: result,
  ProcessName: actor ?? "",
  Source: actor ? `${actor} --flag` : "",
});
const exec = (path: string, parent?: string): LogFields => ({ Operation: "Process", Resource: `${path} arg`, Data: "syscall=SYS_EXECVE", Result: "Passed", ProcessName: path, ParentProcessName: parent ?? "", Source: parent ?? "" });
const sock = (domain: string, type: string, protocol: number, actor?: string): LogFields => ({
  Operation: "Network",
  Resource: `domain=${domain} type=${type} protocol=${protocol}`,
  Data: "syscall=SYS_SOCKET fd=3",
  Result: "Passed",
  ProcessName: actor ?? "",
});

// ------------------------------------------------------------ property

const BINARIES = ["/bin/busybox", "/usr/bin/app", "/app/server", "/usr/local/bin/tool x"];
const DIRS = ["/etc", "/etc/app", "/etc/app/conf.d", "/var/lib/app", "/var/lib/app/cache", "/var/lib/app/cache/deep", "/usr/lib", "/data", "/proc/1", "/proc/42/task/42", "/proc/self", "/dev"];
const NAMES = ["a", "b", "c", "d", "e", "f.conf", "x[1]", "c*d", "s p", "{q,r}"];

const actorArb = fc.option(fc.constantFrom(...BINARIES), { nil: undefined });
const fileArb = fc
  .record({
    dir: fc.constantFrom(...DIRS),
    name: fc.option(fc.constantFrom(...NAMES), { nil: undefined, freq: 8 }),
    flags: fc.constantFrom("O_RDONLY", "O_RDONLY|O_CLOEXEC", "O_WRONLY|O_CREAT|O_TRUNC", "O_RDWR", "O_RDONLY|O_DIRECTORY"),
    actor: actorArb,
    result: fc.constantFrom("Passed", "Passed", "Passed", "No such file or directory", "Permission denied"),
    messy: fc.boolean(),
  })
  .map(({ dir, name, flags, actor, result, messy }) => {
    const path = name === undefined ? dir : `${dir}/${name}`;
    return file(messy ? path.replace("/", "//").replace(/$/, name === undefined ? "/" : "") : path, flags, actor, result);
  });
const execArb = fc.record({ path: fc.constantFrom(...BINARIES), parent: actorArb }).map(({ path, parent }) => exec(path, parent));
const sockArb = fc
  .record({
    domain: fc.constantFrom("AF_INET", "AF_INET6", "AF_UNIX"),
    type: fc.constantFrom("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"),
    protocol: fc.constantFrom(0, 1, 6, 17, 58),
    actor: actorArb,
  })
  .map(({ domain, type, protocol, actor }) => sock(domain, type, protocol, actor));
const recordsArb = fc.array(fc.oneof({ arbitrary: fileArb, weight: 6 }, { arbitrary: execArb, weight: 2 }, { arbitrary: sockArb, weight: 1 }), { minLength: 1, maxLength: 80 });

describe("recommendPolicy (property)", () => {
  it("allows every observed operation and blocks unobserved ones, with and without fromSource", () => {
    fc.assert(
      fc.property(recordsArb, fc.boolean(), fc.integer({ min: 2, max: 6 }), (records, fromSource, threshold) => {
        const observed = records.filter((r) => typeof observe(r) !== "string");
        fc.pre(observed.length > 0);
        const yaml = recommendPolicy(records, { name: "rec-web", namespace: "edge", labels, fromSource, directoryThreshold: threshold });
        const eff = effectiveOf(yaml);
        for (const r of observed) {
          const v = evaluate(eff, operationOf(r)!);
          expect(v.action, `${JSON.stringify(r)}\n${yaml}`).toBe("Allow");
        }
        const unobserved: Operation[] = [
          { kind: "file", path: "/unobserved/secret", write: false, source: "/bin/busybox" },
          { kind: "file", path: "/etc/unobserved/deeper/x", write: true, source: "/usr/bin/app" },
          { kind: "process", path: "/usr/bin/unobserved", source: "/bin/busybox" },
        ];
        const seen = new Set(observed.map((r) => operationOf(r)).flatMap((op) => (op?.kind === "network" ? [op.protocol] : [])));
        const spare = (["tcp", "udp", "icmp", "icmpv6", "raw", "sctp"] as const).find((p) => !seen.has(p));
        if (spare) unobserved.push({ kind: "network", protocol: spare, source: "/app/server" });
        for (const op of unobserved) {
          if (op.kind === "process" && !observed.some((r) => r.Operation === "Process")) continue; // no process allow-list without an exec
          if (op.kind === "file" && !observed.some((r) => r.Operation === "File")) continue;
          expect(evaluate(eff, op).action, `${JSON.stringify(op)}\n${yaml}`).toBe("Block");
        }
        // Writes where only reads were seen stay blocked.
        for (const r of observed) {
          const op = operationOf(r)!;
          if (op.kind !== "file" || op.write || /^\/proc\/|\/dev\b/.test(op.path)) continue;
          const wrote = observed.some((o) => {
            const x = operationOf(o)!;
            return x.kind === "file" && x.write;
          });
          if (!wrote) expect(evaluate(eff, { ...op, write: true }).action).toBe("Block");
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------ by example

describe("recommendPolicy (rules)", () => {
  it("writes a formatted policy: selector, process paths, readOnly files scoped by binary, protocols", () => {
    const yaml = recommendPolicy(
      [exec("/bin/busybox"), exec("/app/server", "/bin/busybox"), file("/etc/app.conf", "O_RDONLY", "/app/server"), file("/var/log/app.log", "O_WRONLY|O_CREAT|O_APPEND", "/app/server"), sock("AF_INET", "SOCK_STREAM", 0, "/app/server")],
      { name: "rec-web", labels },
    );
    const [p] = parseDocuments(yaml, "x.yaml").policies;
    expect(p!.name).toBe("rec-web");
    expect(p!.selector.matchLabels).toEqual(labels);
    expect(p!.action).toBe("Allow");
    const rules = p!.rules.map((r) =>
      r.kind === "file" ? `file ${r.match.kind === "path" ? r.match.path : ""} ro=${r.readOnly} from=${r.fromSource.map((s) => (s.kind === "path" ? s.path : s.dir)).join(",")}` : r.kind === "process" ? `process ${r.match.kind === "path" ? r.match.path : ""}` : r.kind === "network" ? `network ${r.protocol} ${r.action}` : r.kind,
    );
    expect(rules).toEqual(["process /app/server", "process /bin/busybox", "file /etc/app.conf ro=true from=/app/server", "file /var/log/app.log ro=false from=/app/server", "network tcp Allow"]);
  });

  it("blocks every protocol when no network use was seen", () => {
    const eff = effectiveOf(recommendPolicy([file("/etc/hosts", "O_RDONLY")], { name: "n", labels, namespace: "edge" }));
    for (const protocol of ["tcp", "udp", "icmp", "icmpv6", "raw", "sctp"] as const) expect(evaluate(eff, { kind: "network", protocol }).action).toBe("Block");
    const open = effectiveOf(recommendPolicy([file("/etc/hosts", "O_RDONLY")], { name: "n", labels, namespace: "edge", blockUnusedNetwork: false }));
    expect(evaluate(open, { kind: "network", protocol: "tcp" }).action).toBe("Allow");
  });

  it("leaves out refused operations, relative paths and syscalls, and says so", () => {
    const r = recommendPolicyData(
      [file("/etc/hosts", "O_RDONLY"), file("/etc/shadow", "O_RDONLY", "/bin/cat", "Permission denied"), file("notes.txt", "O_RDONLY"), { Operation: "Syscall", Data: "syscall=SYS_MOUNT", Result: "Operation not permitted" }, { Operation: "Syscall", Data: "syscall=SYS_PTRACE", Result: "Passed" }],
      { name: "n", labels },
    );
    expect(r.skipped).toEqual({ refused: 2, "relative-path": 1, "no-operation": 0, syscall: 1 });
    expect(r.used).toBe(1);
    expect(r.yaml).toMatch(/^# Recommended by palisade recommend from 1 observed operation \(skipped: 2 refused, 1 relative path, 1 syscall\)/);
    const eff = effectiveOf(r.yaml);
    expect(evaluate(eff, { kind: "file", path: "/etc/shadow", write: false, source: "/bin/cat" }).action).toBe("Block");
    const withDenied = effectiveOf(recommendPolicy([file("/etc/hosts", "O_RDONLY"), file("/etc/shadow", "O_RDONLY", "/bin/cat", "Permission denied")], { name: "n", labels, includeDenied: true, namespace: "edge" }));
    expect(evaluate(withDenied, { kind: "file", path: "/etc/shadow", write: false, source: "/bin/cat" }).action).toBe("Allow");
  });

  it("refuses to recommend from nothing", () => {
    expect(() => recommendPolicy([file("rel", "O_RDONLY")], { name: "n", labels })).toThrow(/no observed operation.*1 relative path/);
  });

  it("folds ≥ 4 siblings into a directory, recursive only when deeper entries exist two levels down", () => {
    expect(aggregate(["/etc/a", "/etc/b", "/etc/c"])).toEqual([
      { kind: "path", path: "/etc/a" },
      { kind: "path", path: "/etc/b" },
      { kind: "path", path: "/etc/c" },
    ]);
    expect(aggregate(["/etc/a", "/etc/b", "/etc/c", "/etc/d", "/etc"])).toEqual([{ kind: "dir", dir: "/etc/", recursive: false }]);
    // depth 1 with deeper entries: only the direct files fold, the deeper one stays
    expect(aggregate(["/etc/a", "/etc/b", "/etc/c", "/etc/d", "/etc/x/y"])).toEqual([
      { kind: "path", path: "/etc/x/y" },
      { kind: "dir", dir: "/etc/", recursive: false },
    ]);
    expect(aggregate(["/var/lib/a", "/var/lib/b", "/var/lib/c", "/var/lib/x/y"])).toEqual([{ kind: "dir", dir: "/var/lib/", recursive: true }]);
    // bottom-up: a folded subdirectory counts as one sibling
    expect(aggregate(["/srv/w/x/1", "/srv/w/x/2", "/srv/w/x/3", "/srv/w/x/4", "/srv/w/a", "/srv/w/b", "/srv/w/c"])).toEqual([{ kind: "dir", dir: "/srv/w/", recursive: true }]);
    expect(aggregate(["/"])).toEqual([{ kind: "dir", dir: "/", recursive: false }]);
  });

  it("generalises /proc/<pid>/: reads to /proc/ readOnly, writes to a pid pattern", () => {
    const yaml = recommendPolicy([file("/proc/17/stat", "O_RDONLY", "/bin/ps"), file("/proc/17/task/18/comm", "O_WRONLY", "/bin/ps")], { name: "p", labels });
    expect(yaml).toContain("dir: /proc/\n      recursive: true\n      readOnly: true");
    expect(yaml).toContain("pattern: /proc/[0-9]*/task/[0-9]*/comm");
    const eff = effectiveOf(yaml);
    expect(evaluate(eff, { kind: "file", path: "/proc/99/task/100/comm", write: true }).action).toBe("Allow");
    expect(evaluate(eff, { kind: "file", path: "/proc/99/oom_score_adj", write: true }).action).toBe("Block");
  });
});

// ------------------------------------------------------------ the real validator

describe("recommendPolicy output through `palisade policy validate`", () => {
  let out = "";
  beforeEach(() => {
    out = "";
    process.exitCode = undefined;
    vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  it("validates and is already canonical (policy fmt --check)", async () => {
    const records = fc.sample(recordsArb, { numRuns: 5, seed: 7 }).flat();
    const dir = mkdtempSync(join(tmpdir(), "palisade-rec-"));
    const f = join(dir, "rec.yaml");
    writeFileSync(f, recommendPolicy(records, { name: "rec-web", labels }));
    expect(await main(["policy", "validate", f])).toBe(0);
    expect(out).toContain("ok (1 policy");
    expect(await main(["policy", "fmt", "--check", f])).toBe(0);
    expect(process.exitCode ?? 0).toBe(0);
  });
});
