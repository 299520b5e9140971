/**
 * The corpus: every valid file parses to the hand-written model in its
 * `.expect.json`; every invalid file yields exactly the errors written in its
 * `# expect:` header lines (position, code, field path, message) and the
 * `# hint:` lines that follow them.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocuments, type Policy } from "../../src/policy/index.js";
import { CORPUS, corpusFiles, readCorpus, sig } from "./helpers.js";

interface PolicyExpect {
  kind: string;
  name: string;
  namespace?: string;
  action?: string;
  severity?: number;
  tags?: string[];
  message?: string;
  selector?: unknown;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  rules: string[];
  unenforced?: string[];
  ruleDetails?: { index: number; tags?: string[]; message?: string }[];
}

interface FileExpect {
  policies?: PolicyExpect[];
  workloads?: Record<string, unknown>[];
}

function checkPolicy(p: Policy, e: PolicyExpect): void {
  expect(p.policyKind).toBe(e.kind);
  expect(p.name).toBe(e.name);
  for (const k of ["namespace", "action", "severity", "tags", "message", "labels", "annotations"] as const) {
    if (e[k] !== undefined) expect(p[k], k).toEqual(e[k]);
  }
  if (e.selector !== undefined) expect(p.selector).toEqual({ kind: "selector", ...(e.selector as object) });
  expect(p.rules.map(sig)).toEqual(e.rules);
  expect((p.unenforced ?? []).map((n) => `${n.feature} ${n.action} ${n.origin.path}`)).toEqual(e.unenforced ?? []);
  for (const d of e.ruleDetails ?? []) {
    const r = p.rules[d.index]!;
    if (d.tags !== undefined) expect(r.tags, `rule ${d.index} tags`).toEqual(d.tags);
    if (d.message !== undefined) expect(r.message, `rule ${d.index} message`).toBe(d.message);
  }
}

describe("valid corpus", () => {
  const files = corpusFiles("valid");
  it("has at least 45 files, each with an expectation", () => {
    expect(files.length).toBeGreaterThanOrEqual(45);
    for (const f of files) expect(existsSync(join(CORPUS, "valid", f.replace(/\.yaml$/, ".expect.json"))), f).toBe(true);
  });

  for (const file of files) {
    it(file, () => {
      const result = parseDocuments(readCorpus("valid", file), file);
      expect(result.errors.map((e) => `${e.where?.line}:${e.where?.column} ${e.code} ${e.where?.path}: ${e.message}`)).toEqual([]);
      const exp = JSON.parse(readFileSync(join(CORPUS, "valid", file.replace(/\.yaml$/, ".expect.json")), "utf8")) as FileExpect;
      expect(result.policies.length).toBe(exp.policies?.length ?? 0);
      result.policies.forEach((p, i) => checkPolicy(p, exp.policies![i]!));
      expect(result.workloads.length).toBe(exp.workloads?.length ?? 0);
      result.workloads.forEach((w, i) => expect(w).toMatchObject(exp.workloads![i]!));
      // The model is frozen all the way down.
      for (const node of [...result.policies, ...result.workloads]) {
        expect(Object.isFrozen(node)).toBe(true);
        if (node.kind === "policy") for (const r of node.rules) expect(Object.isFrozen(r) && Object.isFrozen(r.origin) && Object.isFrozen(r.fromSource)).toBe(true);
        else for (const c of node.containers) expect(Object.isFrozen(c.securityContext)).toBe(true);
      }
    });
  }
});

interface ExpectedError {
  text: string;
  hint?: string;
}

function expectations(text: string): ExpectedError[] {
  const out: ExpectedError[] = [];
  for (const line of text.split("\n")) {
    const e = /^# expect: (.*)$/.exec(line);
    const h = /^# hint: (.*)$/.exec(line);
    if (e) out.push({ text: e[1]! });
    else if (h && out.length) out[out.length - 1]!.hint = h[1]!;
  }
  return out;
}

describe("invalid corpus", () => {
  const files = corpusFiles("invalid");
  it("has at least 45 files", () => {
    expect(files.length).toBeGreaterThanOrEqual(45);
  });

  for (const file of files) {
    it(file, () => {
      const text = readCorpus("invalid", file);
      const wanted = expectations(text);
      expect(wanted.length, "the file must declare its expected errors").toBeGreaterThan(0);
      const result = parseDocuments(text, file);
      const got = result.errors.map((e) => `${e.where?.line}:${e.where?.column} ${e.code} ${e.where?.path ?? ""}: ${e.message}`);
      expect(got).toEqual(wanted.map((w) => w.text));
      wanted.forEach((w, i) => {
        if (w.hint !== undefined) expect(result.errors[i]!.hint).toBe(w.hint);
        expect(result.errors[i]!.where?.file).toBe(file);
      });
    });
  }
});
