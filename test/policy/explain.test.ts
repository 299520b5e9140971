/**
 * `policy explain` must read right to a security engineer: these tests pin
 * the key sentences (who is selected, what is allowed/blocked/audited, what
 * happens to the rest, scoping, alert metadata, caveats).
 */
import { describe, expect, it } from "vitest";
import { explainPolicy, explainPolicyData, parseDocuments } from "../../src/policy/index.js";
import { readCorpus } from "./helpers.js";

function parse(text: string) {
  const r = parseDocuments(text, "explain.yaml");
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return r;
}

describe("explainPolicy", () => {
  it("states the selection, alert metadata and each rule", () => {
    const { policies } = parse(readCorpus("valid", "v01-process-path-block.yaml"));
    const text = explainPolicy(policies);
    expect(text).toContain("KubeArmorPolicy edge/camera-no-shell (explain.yaml:2)");
    expect(text).toContain('Applies to: workloads in namespace "edge" labelled app=camera');
    expect(text).toContain('Alerts: severity 7; tags MITRE, T1059; message "shell started in the camera service"');
    expect(text).toContain("  Process execution:\n    BLOCK  /bin/sh\n    BLOCK  /bin/bash\n    Anything not listed: not restricted by this policy.");
  });

  it("says an Allow rule makes the category an allow-list and what the rest gets", () => {
    const { policies } = parse(readCorpus("valid", "v10-file-path-readonly-allow.yaml"));
    const text = explainPolicy(policies);
    expect(text).toContain("ALLOW  /etc/sensor/config.toml (reading only; writes fall to the default posture)");
    expect(text).toContain("Anything not listed: blocked by the default posture (block, unless the workload sets audit) — an Allow rule makes file access an allow-list for every workload this policy selects.");
    expect(explainPolicy(policies, { defaultPosture: "audit" })).toContain("Anything not listed: allowed but audited (default posture: audit)");
  });

  it("shows fromSource scoping, owner-only and rule-level metadata, with the BPF-LSM caveat", () => {
    const text = explainPolicy(parse(readCorpus("valid", "v13-file-fromsource.yaml")).policies);
    expect(text).toContain("BLOCK  /etc/shadow — only when done by any program under /usr/bin/");
    expect(text).toContain("ALLOW  /run/secrets/ and everything below it — only when done by /usr/local/bin/php");
    expect(text).toContain("- 2 rules are scoped to a source process: needs BPF-LSM, see `palisade inspect`.");
    const owner = explainPolicy(parse(readCorpus("valid", "v11-file-dir-owner-readonly-block.yaml")).policies);
    expect(owner).toContain("BLOCK  /home/user1/ and everything below it (writes only; reading is not affected; for everyone but the file's owner)");
    expect(owner).toContain("- 1 rule is owner-only: needs BPF-LSM, see `palisade inspect`.");
    const meta = explainPolicy(parse(readCorpus("valid", "v24-action-inheritance.yaml")).policies);
    expect(meta).toContain('BLOCK  /bin/dash [severity 9; tags rule-tag; message "rule message"]');
    expect(meta).toContain("AUDIT  /bin/sh [severity 4]");
  });

  it("lists what Palisade cannot enforce", () => {
    const text = explainPolicy(parse(readCorpus("valid", "v08-process-execname.yaml")).policies);
    expect(text).toContain("Not enforceable (execname at spec.process.matchPaths[0], Block): matches a process by executable name wherever it lives; Palisade's rules match paths. A workload this selects starts only in Audit posture.");
  });

  it("explains host policies, networks, capabilities and syscalls in their own words", () => {
    const host = explainPolicy(parse(readCorpus("valid", "v37-host-file-allow-fromsource.yaml")).policies);
    expect(host).toContain("Applies to: nodes labelled kubernetes.io/hostname=gw-01");
    expect(host).toContain("Anything else done by /usr/bin/head: blocked by the default posture (block, unless the workload sets audit); other programs on the node are not affected.");
    const net = explainPolicy(parse(readCorpus("valid", "v38-host-network-capabilities.yaml")).policies);
    expect(net).toContain("BLOCK  UDP — only when done by /usr/bin/curl");
    expect(net).toContain("AUDIT  CAP_NET_RAW — only when done by /usr/bin/curl");
    const sys = explainPolicy(parse(readCorpus("valid", "v22-syscalls-matchpaths.yaml")).policies);
    expect(sys).toContain("BLOCK  unlink, unlinkat on /data/ and everything below it (enforced with seccomp; KubeArmor would only audit it) — only when done by any program directly in /usr/bin/");
    expect(sys).toContain("Other syscalls: not restricted by this policy.");
    const empty = explainPolicy(parse(readCorpus("valid", "v29-selector-empty.yaml")).policies);
    expect(empty).toContain('Applies to: every workload in namespace "factory" (the selector is empty)');
  });

  it("shows the combined effect on workloads in the same file", () => {
    const text = `${readCorpus("valid", "v42-workload-camera.yaml")}
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: camera-no-curl, namespace: default}
spec:
  selector: {matchLabels: {app: camera}}
  process: {matchPaths: [{path: /usr/bin/camerad}]}
  action: Block
`;
    const r = parse(text);
    const out = explainPolicy(r.policies, { workloads: r.workloads });
    expect(out).toContain("Selects here: default/camera");
    expect(out).toContain("Workload default/camera: 2 policies apply (default/camera-allow, default/camera-no-curl)");
    expect(out).toContain("  Process execution: allow-list: only what Allow rules list; anything else is blocked (posture block).");
    expect(out).toContain("  File access: no rules: not restricted by policy (the workload's interfaces and confinement still apply).");
    expect(out).toMatch(/Note: ALLOW \/usr\/bin\/camerad \(explain\.yaml:\d+\) has no effect: BLOCK \/usr\/bin\/camerad \(explain\.yaml:\d+\) takes precedence\./);
    const data = explainPolicyData(r.policies, { workloads: r.workloads, defaultPosture: "audit" });
    expect(data.workloads[0]!.categories[0]).toEqual({ category: "process", title: "Process execution", summary: "allow-list: only what Allow rules list; anything else is allowed but audited (posture audit)." });
    expect(data.policies.map((p) => p.id)).toEqual(["default/camera-allow", "default/camera-no-curl"]);
  });
});
