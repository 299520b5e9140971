/**
 * Combination semantics (docs/policy.md, "Combining policies"): selection,
 * per-category allow-lists, default posture, Block over Allow, scoping.
 */
import { describe, expect, it } from "vitest";
import { combinePolicies, parseDocuments, selects, type Policy, type Selector } from "../../src/policy/index.js";
import { sig } from "./helpers.js";

function policies(yaml: string): readonly Policy[] {
  const r = parseDocuments(yaml, "combine.yaml");
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return r.policies;
}

function ksp(name: string, body: string, opts: { namespace?: string; labels?: string } = {}): string {
  return `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: ${name}, namespace: ${opts.namespace ?? "default"}}
spec:
  selector: {matchLabels: {${opts.labels ?? "app: camera"}}}
${body}
---
`;
}

const camera = { app: "camera", tier: "edge" };

describe("selects", () => {
  const sel = (matchLabels: Record<string, string>, matchExpressions: Selector["matchExpressions"] = []): Selector => ({ kind: "selector", matchLabels, matchExpressions });
  it("needs every matchLabels entry", () => {
    expect(selects(sel({ app: "camera" }), camera)).toBe(true);
    expect(selects(sel({ app: "camera", tier: "core" }), camera)).toBe(false);
    expect(selects(sel({}), {})).toBe(true);
  });
  it("evaluates In, NotIn, Exists, DoesNotExist like Kubernetes", () => {
    expect(selects(sel({}, [{ key: "app", operator: "In", values: ["camera", "sensor"] }]), camera)).toBe(true);
    expect(selects(sel({}, [{ key: "app", operator: "In", values: ["sensor"] }]), camera)).toBe(false);
    expect(selects(sel({}, [{ key: "missing", operator: "In", values: [""] }]), camera)).toBe(false);
    expect(selects(sel({}, [{ key: "app", operator: "NotIn", values: ["camera"] }]), camera)).toBe(false);
    expect(selects(sel({}, [{ key: "missing", operator: "NotIn", values: ["x"] }]), camera)).toBe(true);
    expect(selects(sel({}, [{ key: "tier", operator: "Exists", values: [] }]), camera)).toBe(true);
    expect(selects(sel({}, [{ key: "tier", operator: "DoesNotExist", values: [] }]), camera)).toBe(false);
  });
  it("treats KubeArmor's key: label form as its Kubernetes translation", () => {
    const [p] = policies(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: expr}
spec:
  selector:
    matchExpressions:
    - {key: label, operator: NotIn, values: [app=sensor, tier=debug]}
  process: {matchPaths: [{path: /bin/sh}]}
`);
    expect(selects(p!.selector, camera)).toBe(true);
    expect(selects(p!.selector, { app: "sensor" })).toBe(false);
    expect(selects(p!.selector, { app: "camera", tier: "debug" })).toBe(false);
  });
});

describe("combinePolicies", () => {
  const deny = ksp("no-shell", "  process: {matchPaths: [{path: /bin/sh}]}\n  action: Block");
  const allowCamerad = ksp("only-camerad", "  process: {matchPaths: [{path: /usr/bin/camerad}]}\n  action: Allow");

  it("a deny-list alone restricts only what it names", () => {
    const eff = combinePolicies(policies(deny), camera, { namespace: "default" });
    expect(eff.policies).toEqual(["default/no-shell"]);
    expect(eff.allowList).toEqual({ process: false, file: false, network: false, capability: false });
    expect(eff.rules.map(sig)).toEqual(["process path /bin/sh Block sev=1"]);
    expect(eff.posture).toEqual({ process: "block", file: "block", network: "block", capability: "block" });
  });

  it("one Allow rule turns its category, and only its category, into an allow-list", () => {
    const eff = combinePolicies(policies(deny + allowCamerad), camera, { namespace: "default" });
    expect(eff.policies).toEqual(["default/no-shell", "default/only-camerad"]);
    expect(eff.allowList).toEqual({ process: true, file: false, network: false, capability: false });
    expect(eff.rules.map(sig)).toEqual(["process path /bin/sh Block sev=1", "process path /usr/bin/camerad Allow sev=1"]);
  });

  it("a fromSource-scoped Allow still makes the whole category an allow-list (KubeArmor container semantics)", () => {
    const scoped = ksp("php-secrets", "  file:\n    matchDirectories: [{dir: /run/secrets/, recursive: true, fromSource: [{path: /usr/local/bin/php}]}]\n  action: Allow");
    const eff = combinePolicies(policies(scoped), camera);
    expect(eff.allowList.file).toBe(true);
    expect(eff.target).toBe("workload");
  });

  it("selects only policies of the workload's namespace whose selector matches", () => {
    const set = policies(deny + ksp("other-ns", "  process: {matchPaths: [{path: /bin/ls}]}", { namespace: "lab" }) + ksp("other-app", "  process: {matchPaths: [{path: /bin/ps}]}", { labels: "app: sensor" }));
    expect(combinePolicies(set, camera, { namespace: "default" }).policies).toEqual(["default/no-shell"]);
    expect(combinePolicies(set, camera, { namespace: "lab" }).policies).toEqual(["lab/other-ns"]);
    expect(combinePolicies(set, camera).policies).toEqual(["default/no-shell", "lab/other-ns"]);
  });

  it("host policies combine against node labels, separately from workload policies", () => {
    const set = policies(
      deny +
        `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata: {name: node-curl}
spec:
  nodeSelector: {matchLabels: {kubernetes.io/hostname: gw-01}}
  file: {matchDirectories: [{dir: /etc/default/, recursive: true, fromSource: [{path: /usr/bin/head}]}]}
  action: Allow
`,
    );
    const host = combinePolicies(set, { "kubernetes.io/hostname": "gw-01", app: "camera" }, { target: "host" });
    expect(host.policies).toEqual(["node-curl"]);
    expect(host.target).toBe("host");
    expect(host.allowList.file).toBe(true);
    expect(combinePolicies(set, { "kubernetes.io/hostname": "gw-01", app: "camera" }).policies).toEqual(["default/no-shell"]);
  });

  it("uses Block as the default posture, audit on request, and process follows file", () => {
    const set = policies(allowCamerad);
    expect(combinePolicies(set, camera).posture.process).toBe("block");
    expect(combinePolicies(set, camera, { defaultPosture: "audit" }).posture).toEqual({ process: "audit", file: "audit", network: "audit", capability: "audit" });
    expect(combinePolicies(set, camera, { defaultPosture: { file: "audit" } }).posture).toEqual({ process: "audit", file: "audit", network: "block", capability: "block" });
    expect(combinePolicies(set, camera, { defaultPosture: { file: "audit", process: "block" } }).posture.process).toBe("block");
  });

  it("Block beats Allow on the same target: the Allow is reported as overridden", () => {
    const set = policies(
      ksp("allow-curl", "  process: {matchPaths: [{path: /usr/bin/curl}, {path: /usr/bin/wget, fromSource: [{path: /bin/sh}]}]}\n  action: Allow") +
        ksp("block-curl", "  process: {matchPaths: [{path: /usr/bin/curl}, {path: /usr/bin/wget}]}\n  action: Block"),
    );
    const eff = combinePolicies(set, camera);
    expect(eff.overridden?.map((o) => `${sig(o.rule)} <- ${sig(o.by)}`)).toEqual([
      "process path /usr/bin/curl Allow sev=1 <- process path /usr/bin/curl Block sev=1",
      "process path /usr/bin/wget Allow sev=1 from=/bin/sh <- process path /usr/bin/wget Block sev=1",
    ]);
  });

  it("a narrower Block (other source, ownerOnly, readOnly) does not make an Allow moot", () => {
    const set = policies(
      ksp("allow", "  file: {matchPaths: [{path: /etc/a}, {path: /etc/b}, {path: /etc/c, fromSource: [{path: /bin/x}]}]}\n  action: Allow") +
        ksp("block", "  file: {matchPaths: [{path: /etc/a, ownerOnly: true}, {path: /etc/b, readOnly: true}, {path: /etc/c, fromSource: [{path: /bin/y}]}]}\n  action: Block"),
    );
    expect(combinePolicies(set, camera).overridden).toEqual([]);
  });

  it("carries the unenforced features of the selected policies (so a compiler can fail closed)", () => {
    const set = policies(ksp("execname", "  process: {matchPaths: [{execname: apt}]}\n  action: Block"));
    const eff = combinePolicies(set, camera);
    expect(eff.unenforced?.map((n) => n.feature)).toEqual(["execname"]);
    expect(eff.rules).toEqual([]);
  });

  it("never makes syscalls an allow-list and returns a frozen result", () => {
    const set = policies(ksp("sys", "  syscalls: {matchSyscalls: [{syscall: [unlink]}]}\n  action: Allow"));
    const eff = combinePolicies(set, camera);
    expect(eff.allowList).toEqual({ process: false, file: false, network: false, capability: false });
    expect(Object.isFrozen(eff) && Object.isFrozen(eff.posture) && Object.isFrozen(eff.rules)).toBe(true);
  });
});
