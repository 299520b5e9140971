/**
 * Constructs found in KubeArmor's own example and test policies (see
 * docs/policy.md, "Compatibility with KubeArmor's examples"): what the model
 * keeps for each, beyond the corpus signatures.
 */
import { describe, expect, it } from "vitest";
import { combinePolicies, parseDocuments, type Policy } from "../../src/policy/index.js";
import { readCorpus } from "./helpers.js";

function policies(file: string): readonly Policy[] {
  const r = parseDocuments(readCorpus("valid", file), file);
  expect(r.errors).toEqual([]);
  return r.policies;
}

function parse(spec: string): ReturnType<typeof parseDocuments> {
  const text = `apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p}\nspec:\n${spec}`;
  return parseDocuments(text, "p.yaml");
}

describe("KubeArmor compatibility", () => {
  it("keeps a pts entry whole, with its flags and sources, as a note and not as a rule", () => {
    const [p] = policies("v53-pts-terminal-session.yaml");
    const file = p!.unenforced!.find((n) => n.origin.path === "spec.file.matchPaths[0]")!;
    expect(file).toMatchObject({ feature: "pts", category: "file", action: "Block" });
    expect(file.value).toEqual({ path: "/etc/gateway/keys.pem", readOnly: true, fromSource: [{ path: "/usr/bin/less" }], pts: true, severity: 6, tags: [], message: "", action: "Block" });
    const dir = p!.unenforced!.find((n) => n.origin.path === "spec.process.matchDirectories[0]")!;
    expect(dir.value).toMatchObject({ dir: "/opt/diag/", recursive: true, pts: false, action: "Audit" });
    const net = p!.unenforced!.find((n) => n.category === "network")!;
    expect(net.value).toMatchObject({ protocol: "tcp", pts: true });
    expect(p!.rules.some((r) => r.kind === "process" && r.match.kind === "path" && r.match.path === "/usr/bin/vi")).toBe(false);
  });

  it("keeps pts next to execname in the execname note", () => {
    const r = parse("  process:\n    matchPaths:\n    - execname: apt\n      pts: true\n  action: Block\n");
    expect(r.errors).toEqual([]);
    expect(r.policies[0]!.unenforced![0]).toMatchObject({ feature: "execname", value: { execname: "apt", pts: true } });
    expect(r.policies[0]!.unenforced![0]!.reason).toMatch(/terminal session/);
  });

  it("normalises DNS names and keeps their sources and resolved alert fields", () => {
    const [p] = policies("v54-network-dns-queries.yaml");
    const [first, second] = p!.unenforced!;
    expect(first).toMatchObject({ feature: "dns", category: "network", action: "Allow" });
    expect(first!.value).toEqual({ domain: "metrics.example.net", fromSource: [{ path: "/usr/local/bin/telemetryd" }], severity: 1, tags: [], message: "", action: "Allow" });
    expect(second!.value).toMatchObject({ domain: "tracker.invalid", severity: 9, action: "Block" });
  });

  it("accepts a leading wildcard label in a DNS name, nowhere else", () => {
    expect(parse("  network:\n    matchDNSQueries:\n    - domain: '*.example.com'\n").errors).toEqual([]);
    expect(parse("  network:\n    matchDNSQueries:\n    - domain: 'api.*.com'\n").errors.map((e) => e.message)).toEqual(['invalid domain name "api.*.com"']);
  });

  it("reads address families in any case as lower-case network-protocol notes", () => {
    const [p] = policies("v55-address-family-protocol.yaml");
    expect(p!.unenforced!.map((n) => (n.value as { protocol: string }).protocol)).toEqual(["af_rds", "af_tipc", "af_vsock"]);
    expect(p!.unenforced![0]!.reason).toMatch(/address family/);
  });

  it("normalises a syscall fromSource dir without its trailing slash, and only there", () => {
    const [p] = policies("v56-syscall-fromsource-dir-without-slash.yaml");
    expect(p!.rules[0]!.fromSource).toEqual([
      { kind: "directory", dir: "/opt/updater/", recursive: true },
      { kind: "directory", dir: "/usr/sbin/", recursive: false },
    ]);
    const file = parse("  file:\n    matchPaths:\n    - path: /etc/x\n      fromSource:\n      - dir: /usr/bin\n");
    expect(file.errors.map((e) => e.message)).toEqual(['dir must end with "/", got "/usr/bin"']);
  });

  it('reads kubearmor.io/hostname: "*" in a host policy as every node', () => {
    const [all, gateways] = policies("v58-host-all-hosts-wildcard.yaml");
    const node = { "kubernetes.io/hostname": "edge-7" };
    expect(combinePolicies([all!, gateways!], node, { target: "host" }).policies).toHaveLength(1);
    expect(combinePolicies([all!, gateways!], { ...node, role: "gateway" }, { target: "host" }).policies).toHaveLength(2);
  });

  it("accepts exact repeats but still rejects repeats that disagree", () => {
    expect(policies("v57-exact-duplicate-entries.yaml")[0]!.rules).toHaveLength(6);
    const differentSeverity = parse("  process:\n    matchPaths:\n    - path: /bin/sh\n    - path: /bin/sh\n      severity: 9\n");
    expect(differentSeverity.errors.map((e) => e.message)).toEqual(["duplicate rule: same target and fromSource as spec.process.matchPaths[0]"]);
    const differentFlags = parse("  file:\n    matchPaths:\n    - path: /etc/x\n    - path: /etc/x\n      readOnly: true\n");
    expect(differentFlags.errors).toHaveLength(1);
  });
});
