/**
 * simulatePolicy and parseRecordLines at the API level: which policies apply
 * to which record, and how recorded lines are read.
 */
import { describe, expect, it } from "vitest";
import { parseRecordLines, simulatePolicy, summarizeProfile } from "../../src/discovery/index.js";
import { parseDocuments } from "../../src/policy/index.js";

const policies = parseDocuments(
  `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: web-only}
spec:
  selector: {matchLabels: {app: web}}
  process: {matchPaths: [{path: /bin/sh}]}
  action: Block
`,
  "p.yaml",
).policies;

const sh = (labels?: string) => ({ Operation: "Process", Resource: "/bin/sh -c id", ProcessName: "/bin/sh", ParentProcessName: "/app/server", Result: "Passed", ...(labels !== undefined ? { Labels: labels } : {}) });

describe("simulatePolicy", () => {
  it("selects policies by each record's Labels, by --workload-labels over them, or applies all without labels", () => {
    const s = simulatePolicy(policies, [sh("app=web"), sh("app=db"), sh()]);
    expect(s.results.map((r) => r.verdict?.action)).toEqual(["Block", "Allow", "Block"]);
    expect(s.selectorsIgnored).toBe(1);
    expect(s.byRule).toEqual([{ policyName: "web-only", rule: "BLOCK process /bin/sh", ruleAt: "p.yaml:6", action: "Block", count: 2 }]);
    const forced = simulatePolicy(policies, [sh("app=web"), sh()], { labels: { app: "db" } });
    expect(forced.totals).toEqual({ records: 2, Allow: 2, Audit: 0, Block: 0, noOperation: 0 });
    expect(forced.selectorsIgnored).toBe(0);
  });

  it("keeps what was recorded beside what would happen", () => {
    const [r] = simulatePolicy(policies, [{ ...sh("app=web"), Result: "Permission denied", Action: "Block", PolicyName: "old" }]).results;
    expect(r).toMatchObject({ operation: "Process", recorded: { result: "Permission denied", action: "Block" }, verdict: { action: "Block", reason: "rule", policyName: "web-only" } });
  });
});

describe("parseRecordLines", () => {
  it("reads bare and wrapped records, skips blanks and comments, reports the rest by line", () => {
    const text = [JSON.stringify(sh()), "", "# note", JSON.stringify({ seq: 9, kind: "alert", workload: "web", record: sh() }), "42", JSON.stringify({ Operation: "File", Resource: 5 })].join("\n");
    const { records, problems } = parseRecordLines(text, "ev.jsonl");
    expect(records.map((r) => [r.line, r.seq, r.workload, r.kind])).toEqual([
      [1, undefined, undefined, "log"],
      [4, 9, "web", "alert"],
    ]);
    expect(problems).toEqual([
      { file: "ev.jsonl", line: 5, message: "expected a JSON object (a KubeArmor record, or {seq,kind,workload,record})" },
      { file: "ev.jsonl", line: 6, message: 'field "Resource" must be a string' },
    ]);
  });
});

describe("summarizeProfile", () => {
  it("counts aggregated records by their Count and attributes execs to the parent", () => {
    const p = summarizeProfile([sh(), { Operation: "File", Resource: "/etc/hosts", Data: "flags=O_RDONLY", ProcessName: "/bin/sh", Result: "Passed", Count: 50 }]);
    const server = p.binaries.find((b) => b.binary === "/app/server")!;
    const shell = p.binaries.find((b) => b.binary === "/bin/sh")!;
    expect(server.executed).toEqual([{ name: "/bin/sh", count: 1 }]);
    expect(shell.execs).toBe(1);
    expect(shell.files).toEqual([{ path: "/etc/hosts", reads: 50, writes: 0 }]);
    expect(p.totals).toEqual({ execs: 1, fileReads: 50, fileWrites: 0, network: 0, denials: 0 });
  });
});
