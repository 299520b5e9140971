/**
 * `palisade recommend`, `palisade profile` and `palisade policy simulate`
 * in-process through main(): records from a real EventStore (SQLite file in
 * a temporary data directory) and from `logs --json`-style files, output,
 * exit codes, and file:line errors instead of stack traces.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { followProfile } from "../../src/cli/profileCommand.js";
import { parseSince } from "../../src/cli/recommendCommand.js";
import { combinePolicies, evaluate, parseDocuments } from "../../src/policy/index.js";
import { EventStore, eventStorePath } from "../../src/sensor/eventStore.js";

let out = "";
let err = "";
let dir = "";
const savedDataDir = process.env.PALISADE_DATA_DIR;

beforeEach(() => {
  out = "";
  err = "";
  process.exitCode = undefined;
  dir = mkdtempSync(join(tmpdir(), "palisade-disc-"));
  process.env.PALISADE_DATA_DIR = join(dir, "data");
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  if (savedDataDir === undefined) delete process.env.PALISADE_DATA_DIR;
  else process.env.PALISADE_DATA_DIR = savedDataDir;
});

const ident = { NamespaceName: "default", Labels: "app=web,tier=edge", ContainerName: "web" };
const t = (s: number) => new Date(Date.UTC(2026, 10, 23, 10, 0, s)).toISOString();
const rec = (s: number, o: Record<string, unknown>) => ({ UpdatedTime: t(s), Timestamp: Math.floor(Date.parse(t(s)) / 1000), Result: "Passed", ...ident, ...o });
const RECORDS = [
  rec(1, { Operation: "Process", Resource: "/bin/busybox sh /app/run.sh", ProcessName: "/bin/busybox", ParentProcessName: "", Data: "syscall=SYS_EXECVE" }),
  rec(2, { Operation: "File", Resource: "/app/run.sh", ProcessName: "/bin/busybox", Source: "/bin/busybox sh /app/run.sh", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY" }),
  rec(3, { Operation: "File", Resource: "/etc/app.conf", ProcessName: "/bin/busybox", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC" }),
  rec(4, { Operation: "File", Resource: "/tmp/out.log", ProcessName: "/bin/busybox", Data: "syscall=SYS_OPENAT fd=-100 flags=O_WRONLY|O_CREAT|O_TRUNC" }),
  rec(5, { Operation: "Network", Resource: "domain=AF_INET type=SOCK_STREAM protocol=0", ProcessName: "/bin/busybox", Data: "syscall=SYS_SOCKET fd=3" }),
  rec(6, { Operation: "Network", Resource: "sa_family=AF_INET sin_port=80 sin_addr=10.0.0.7", ProcessName: "/bin/busybox", Data: "syscall=SYS_CONNECT fd=3", Result: "Connection refused" }),
  rec(7, { Operation: "File", Resource: "/etc/shadow", ProcessName: "/bin/busybox", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY", Result: "Permission denied" }),
];

function fillStore(records = RECORDS, workload = "web"): void {
  const store = EventStore.open(eventStorePath());
  store.append(records.map((record) => ({ kind: "log" as const, workload, record })));
  store.append([{ kind: "log", workload: "other", record: rec(8, { Operation: "File", Resource: "/secret/of/other", ProcessName: "/bin/x", Data: "flags=O_RDONLY" }) }]);
  store.close();
}

describe("palisade recommend", () => {
  it("recommends from the event store: only this workload, labels and namespace from its records", async () => {
    fillStore();
    expect(await main(["recommend", "web"])).toBe(0);
    const docs = parseDocuments(out, "out.yaml");
    expect(docs.errors).toEqual([]);
    const p = docs.policies[0]!;
    expect([p.name, p.namespace, p.selector.matchLabels]).toEqual(["web-recommended", "default", { app: "web", tier: "edge" }]);
    expect(out).not.toContain("/secret/of/other");
    expect(err).toMatch(/web-recommended: 1 programs, 3 file entries, 1 protocols from 5 of 7 records \(skipped: 1 refused, 1 no policy operation\)/);
    const eff = combinePolicies(docs.policies, { app: "web", tier: "edge" });
    expect(evaluate(eff, { kind: "file", path: "/tmp/out.log", write: true, source: "/bin/busybox" }).action).toBe("Allow");
    expect(evaluate(eff, { kind: "file", path: "/etc/app.conf", write: true, source: "/bin/busybox" }).action).toBe("Block");
    expect(evaluate(eff, { kind: "file", path: "/etc/shadow", write: false, source: "/bin/busybox" }).action).toBe("Block");
  });

  it("--out, --json, --no-from-source, --labels, --since", async () => {
    fillStore();
    const f = join(dir, "p.yaml");
    expect(await main(["recommend", "web", "--out", f, "--json", "--no-from-source", "--labels", "app=web2", "--since", t(3)])).toBe(0);
    const j = JSON.parse(out) as { used: number; records: number; labels: Record<string, string>; policy: string };
    expect(j.records).toBe(5);
    expect(j.labels).toEqual({ app: "web2" });
    expect(readFileSync(f, "utf8")).toBe(j.policy);
    expect(j.policy).not.toContain("fromSource");
    expect(j.policy).not.toContain("/app/run.sh");
  });

  it("reads a logs --json file with --events, wrapped or bare lines", async () => {
    const f = join(dir, "events.jsonl");
    writeFileSync(f, RECORDS.map((r, i) => JSON.stringify(i % 2 ? { seq: i + 1, kind: "log", workload: "web", record: r } : r)).join("\n") + "\n");
    expect(await main(["recommend", "web", "--events", f])).toBe(0);
    expect(parseDocuments(out, "x").policies[0]!.rules.length).toBeGreaterThan(3);
  });

  it("errors without a stack trace: no store, no records, no labels", async () => {
    expect(await main(["recommend", "web"])).toBe(1);
    expect(err).toMatch(/error IO: no event store at .*events\.db/);
    fillStore();
    err = "";
    expect(await main(["recommend", "nobody"])).toBe(2);
    expect(err).toMatch(/no recorded events for workload nobody/);
    const f = join(dir, "nolabels.jsonl");
    writeFileSync(f, JSON.stringify({ ...RECORDS[2], Labels: "" }) + "\n");
    err = "";
    expect(await main(["recommend", "web", "--events", f])).toBe(2);
    expect(err).toMatch(/carry no labels/);
    expect(err).not.toMatch(/\n\s+at /);
  });
});

describe("palisade profile", () => {
  it("prints a per-binary table and details, and --json", async () => {
    fillStore();
    expect(await main(["profile", "web"])).toBe(0);
    expect(out).toMatch(/^BINARY\s+EXECS\s+FILES R\/W\s+NETWORK\s+PEERS\s+DENIALS\n/);
    expect(out).toMatch(/\/bin\/busybox\s+1\s+2\/1\s+tcp\s+1\s+1\n/);
    expect(out).toContain("peer     10.0.0.7:80");
    expect(out).toContain("DENIED   File /etc/shadow: Permission denied");
    out = "";
    expect(await main(["profile", "web", "--json"])).toBe(0);
    const p = JSON.parse(out) as { binaries: { binary: string; files: { path: string; reads: number; writes: number }[] }[]; totals: { denials: number } };
    expect(p.binaries.map((b) => b.binary)).toEqual(["/bin/busybox", "(unknown)"]);
    expect(p.binaries[0]!.files).toContainEqual({ path: "/tmp/out.log", reads: 0, writes: 1 });
    expect(p.totals.denials).toBe(1);
  });

  it("--follow prints again when records arrive, and stops when aborted", async () => {
    fillStore(RECORDS.slice(0, 2));
    const ac = new AbortController();
    const run = followProfile("web", { json: true, interval: "20ms" }, ac.signal);
    await vi.waitFor(() => expect(out.split("\n").filter(Boolean)).toHaveLength(1));
    const store = EventStore.open(eventStorePath());
    store.append([{ kind: "log", workload: "web", record: RECORDS[3]! }]);
    store.close();
    await vi.waitFor(() => expect(out.split("\n").filter(Boolean)).toHaveLength(2));
    ac.abort();
    await run;
    const [first, second] = out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { records: number });
    expect([first!.records, second!.records]).toEqual([2, 3]);
  });
});

describe("palisade policy simulate", () => {
  const policy = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: web-files}
spec:
  selector: {matchLabels: {app: web}}
  file:
    matchPaths:
    - {path: /app/run.sh, readOnly: true}
    - {path: /etc/app.conf, readOnly: true}
  action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: no-nc}
spec:
  selector: {matchLabels: {app: web}}
  network:
    matchProtocols:
    - protocol: tcp
  action: Audit
`;

  function files(lines: string[]): [string, string] {
    const p = join(dir, "policy.yaml");
    const e = join(dir, "events.jsonl");
    writeFileSync(p, policy);
    writeFileSync(e, lines.join("\n") + "\n");
    return [p, e];
  }

  it("reports per record and in totals what would be blocked, audited, allowed, with the rule", async () => {
    const [p, e] = files(RECORDS.map((r, i) => JSON.stringify(i === 0 ? r : { seq: i, kind: "log", workload: "web", record: r })));
    expect(await main(["policy", "simulate", p, "--events", e])).toBe(0);
    expect(out).toMatch(/line 4\s+BLOCK\s+File \/tmp\/out\.log\s+← DefaultPosture/);
    expect(out).toMatch(/line 5\s+AUDIT\s+Network domain=AF_INET type=SOCK_STREAM protocol=0\s+← no-nc: AUDIT network TCP \(.*policy\.yaml:\d+\)/);
    expect(out).toMatch(/line 3\s+ALLOW\s+File \/etc\/app\.conf\s+← web-files: ALLOW file \/etc\/app\.conf \(read-only\)/);
    expect(out).toContain("7 records: 2 would be blocked, 1 audited, 3 allowed, 1 with no policy operation");
    out = "";
    expect(await main(["policy", "simulate", p, "--events", e, "--json", "--workload-labels", "app=other"])).toBe(0);
    const j = JSON.parse(out) as { totals: Record<string, number>; results: { line: number; seq?: number; verdict?: { action: string } }[] };
    expect(j.totals).toEqual({ records: 7, Allow: 6, Audit: 0, Block: 0, noOperation: 1 });
    expect(j.results[1]).toMatchObject({ line: 2, seq: 1 });
  });

  it("--default-posture audit turns posture blocks into audits", async () => {
    const [p, e] = files(RECORDS.map((r) => JSON.stringify(r)));
    expect(await main(["policy", "simulate", p, "--events", e, "--default-posture", "audit", "--json"])).toBe(0);
    expect((JSON.parse(out) as { totals: Record<string, number> }).totals).toMatchObject({ Block: 0, Audit: 3 });
  });

  it("bad lines: every one reported as file:line, exit 1, no stack trace; nothing is simulated", async () => {
    const [p, e] = files([JSON.stringify(RECORDS[1]), "{not json", "[1,2]", JSON.stringify({ seq: 3, record: { Resource: "/x" } }), "", "# comment"]);
    expect(await main(["policy", "simulate", p, "--events", e])).toBe(1);
    expect(err).toContain(`${e}:2: not JSON`);
    expect(err).toContain(`${e}:3: expected a JSON object`);
    expect(err).toContain(`${e}:4: the wrapped record has no "Operation" field`);
    expect(err).toMatch(/error EVENTS_FORMAT: 3 lines are not records/);
    expect(err).not.toMatch(/\n\s+at /);
    expect(out).toBe("");
  });

  it("refuses an invalid policy file with its problems", async () => {
    const [, e] = files([JSON.stringify(RECORDS[1])]);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {app: web}}\n  file: {matchPaths: [{paht: /x}]}\n  action: Block\n");
    expect(await main(["policy", "simulate", bad, "--events", e])).toBe(1);
    expect(err).toMatch(/bad\.yaml:6:\d+: error POLICY_SCHEMA/);
  });
});

describe("--since", () => {
  it("takes RFC 3339 times and durations back from now", () => {
    expect(parseSince("2026-11-23T10:00:00Z")?.toISOString()).toBe("2026-11-23T10:00:00.000Z");
    expect(parseSince("30m", Date.UTC(2026, 0, 1, 1, 0, 0))?.toISOString()).toBe("2026-01-01T00:30:00.000Z");
    expect(() => parseSince("yesterday")).toThrow(/--since must be a positive duration/);
    expect(() => parseSince("2026-13-45")).toThrow(/not a valid time/);
  });
});
