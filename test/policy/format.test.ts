/**
 * `formatPolicy`: canonical output, idempotence, and "formatting never
 * changes meaning" over the whole valid corpus, from text and from the model.
 */
import { describe, expect, it } from "vitest";
import { formatPolicy, parseDocuments } from "../../src/policy/index.js";
import type { PalisadeError } from "../../src/core/errors.js";
import { corpusFiles, readCorpus, withoutOrigins } from "./helpers.js";

function model(text: string, name: string): unknown {
  const r = parseDocuments(text, name);
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return withoutOrigins({ policies: r.policies, workloads: r.workloads });
}

describe("formatPolicy over the valid corpus", () => {
  for (const file of corpusFiles("valid")) {
    it(file, () => {
      const text = readCorpus("valid", file);
      const once = formatPolicy(text, file);
      expect(formatPolicy(once, file), "idempotent").toBe(once);
      expect(model(once, file), "text → fmt keeps the model").toEqual(model(text, file));
      const parsed = parseDocuments(text, file);
      const fromModel = formatPolicy([...parsed.workloads, ...parsed.policies]);
      const reparsed = parseDocuments(fromModel, "from-model.yaml");
      expect(reparsed.errors.map((e) => e.message)).toEqual([]);
      expect(withoutOrigins(reparsed.policies), "model → YAML → model").toEqual(withoutOrigins(parsed.policies));
      expect(withoutOrigins(reparsed.workloads)).toEqual(withoutOrigins(parsed.workloads));
      expect(formatPolicy(fromModel), "model output is canonical").toBe(fromModel);
    });
  }
});

describe("canonical form", () => {
  it("orders keys as KubeArmor documents them, normalises spellings and quoting, keeps comments", () => {
    const messy = [
      "# camera policy",
      "spec:",
      "  action: block   # the default",
      "  network:",
      "    matchProtocols: [{protocol: 'TCP,UDP', fromSource: [{path: \"/usr/bin/curl\"}]}]",
      "  capabilities:",
      "    matchCapabilities:",
      "      - capability: CAP_NET_RAW",
      "  selector: {matchLabels: {z: '1', a: \"x y\"}}",
      "  severity: 5",
      "kind: KubeArmorPolicy",
      "metadata: {namespace: edge, name: messy}",
      "apiVersion: security.kubearmor.com/v1",
      "",
    ].join("\n");
    expect(formatPolicy(messy)).toBe(
      [
        "# camera policy",
        "",
        "apiVersion: security.kubearmor.com/v1",
        "kind: KubeArmorPolicy",
        "metadata:",
        "  name: messy",
        "  namespace: edge",
        "spec:",
        "  severity: 5",
        "  selector:",
        "    matchLabels:",
        "      a: x y",
        '      z: "1"',
        "  network:",
        "    matchProtocols:",
        "    - protocol: tcp,udp",
        "      fromSource:",
        "      - path: /usr/bin/curl",
        "  capabilities:",
        "    matchCapabilities:",
        "    - capability: net_raw",
        "  action: Block # the default",
        "",
      ].join("\n"),
    );
  });

  it("writes one document per ---, drops empty documents and %YAML directives", () => {
    const text = readCorpus("valid", "v34-multi-doc-policies.yaml");
    const out = formatPolicy(text);
    expect(out.split(/^---$/m)).toHaveLength(3);
    expect(out.endsWith("---\n")).toBe(false);
    expect(formatPolicy(readCorpus("valid", "v50-flow-style-and-comments.yaml"))).not.toMatch(/%YAML/);
  });

  it("writes multi-line text as a literal block", () => {
    const out = formatPolicy(readCorpus("valid", "v52-unicode-and-multiline-message.yaml"));
    expect(out).toContain("  message: |\n    Zugriff auf Schlüssel verweigert.\n    See runbook SEC-12.\n");
  });

  it("refuses invalid text with one error carrying every problem", () => {
    let caught: unknown;
    try {
      formatPolicy(readCorpus("invalid", "i43-many-errors.yaml"), "i43.yaml");
    } catch (err) {
      caught = err;
    }
    const e = caught as PalisadeError & { details: { errors: unknown[] } };
    expect(e.code).toBe("POLICY_SCHEMA");
    expect(e.message).toBe("7 problems in this file");
    expect(e.details.errors).toHaveLength(7);
  });
});
