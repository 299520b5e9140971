/**
 * `palisade policy validate | explain | fmt`: output, exit codes, --json,
 * --help, and no stack traces. Most cases call main() in-process; one spawns
 * the real binary to check the process boundary.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { CORPUS } from "./helpers.js";

const valid = (f: string) => join(CORPUS, "valid", f);
const invalid = (f: string) => join(CORPUS, "invalid", f);

let out = "";
let err = "";

beforeEach(() => {
  out = "";
  err = "";
  process.exitCode = undefined;
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<number> {
  return main(args);
}

const STACK = /^\s+at .+\(.*:\d+:\d+\)$/m;

describe("palisade policy validate", () => {
  it("prints one ok line per valid file and exits 0", async () => {
    expect(await run("policy", "validate", valid("v01-process-path-block.yaml"), valid("v49-workload-with-policies.yaml"))).toBe(0);
    expect(out).toBe(`${valid("v01-process-path-block.yaml")}: ok (1 policy, 0 workloads)\n${valid("v49-workload-with-policies.yaml")}: ok (2 policies, 1 workload)\n`);
    expect(err).toBe("");
  });

  it("prints every problem with file:line:column and a hint, and exits 1", async () => {
    const file = invalid("i43-many-errors.yaml");
    expect(await run("policy", "validate", valid("v02-process-dir-recursive-audit.yaml"), file)).toBe(1);
    expect(out).toContain(": ok (1 policy, 0 workloads)");
    expect(err).toContain(`${file}:22:7: error POLICY_SCHEMA at spec.file.matchPaths[0].paht: unknown field "paht"\n  hint: did you mean "path"?`);
    expect(err).toContain(`${file}: invalid (7 problems)`);
    expect(err.match(/error POLICY_/g)).toHaveLength(7);
    expect(err).not.toMatch(STACK);
  });

  it("reports unreadable files as IO errors without stopping at them", async () => {
    expect(await run("policy", "validate", "/nonexistent/policy.yaml", valid("v26-defaults.yaml"))).toBe(1);
    expect(err).toContain("/nonexistent/policy.yaml: error IO: open /nonexistent/policy.yaml failed: ENOENT");
    expect(out).toContain("v26-defaults.yaml: ok (1 policy, 0 workloads)");
  });

  it("--json reports every file and error as data", async () => {
    expect(await run("policy", "validate", "--json", valid("v26-defaults.yaml"), invalid("i01-unknown-field-typo.yaml"))).toBe(1);
    const report = JSON.parse(out) as { valid: boolean; files: { file: string; valid: boolean; errors: { code: string; where: { line: number; path: string }; hint?: string }[] }[] };
    expect(report.valid).toBe(false);
    expect(report.files.map((f) => f.valid)).toEqual([true, false]);
    expect(report.files[1]!.errors).toEqual([
      { code: "POLICY_SCHEMA", message: 'unknown field "paht"', hint: 'did you mean "path"?', where: { file: invalid("i01-unknown-field-typo.yaml"), line: 11, column: 7, path: "spec.file.matchPaths[0].paht" } },
    ]);
    expect(err).toBe("");
  });
});

describe("palisade policy explain", () => {
  it("prints the explanation of a valid file", async () => {
    expect(await run("policy", "explain", valid("v42-workload-camera.yaml"))).toBe(0);
    expect(out).toContain("KubeArmorPolicy default/camera-allow");
    expect(out).toContain("Workload default/camera: 1 policy applies (default/camera-allow)");
  });

  it("honours --default-posture and rejects a bad one as usage error", async () => {
    expect(await run("policy", "explain", "--default-posture", "audit", valid("v42-workload-camera.yaml"))).toBe(0);
    expect(out).toContain("anything else is allowed but audited (posture audit)");
    out = "";
    expect(await run("policy", "explain", "--default-posture", "allow", valid("v42-workload-camera.yaml"))).toBe(2);
    expect(err).toContain('error USAGE: --default-posture must be block or audit, got "allow"');
  });

  it("refuses an invalid file: every problem, then one summary error, exit 1", async () => {
    const file = invalid("i11-severity-range.yaml");
    expect(await run("policy", "explain", file)).toBe(1);
    expect(err).toContain(`${file}:7:13: error POLICY_SCHEMA at spec.severity: expected a severity from 1 to 10, got 11`);
    expect(err).toContain(`${file}: error POLICY_SCHEMA: 2 problems in this file\n  hint: run: palisade policy validate ${file}`);
    expect(out).toBe("");
    expect(err).not.toMatch(STACK);
  });

  it("--json prints the explanation, or the error with every problem in details", async () => {
    expect(await run("policy", "explain", "--json", valid("v01-process-path-block.yaml"))).toBe(0);
    expect((JSON.parse(out) as { policies: { id: string }[] }).policies[0]!.id).toBe("edge/camera-no-shell");
    out = "";
    expect(await run("policy", "explain", "--json", invalid("i11-severity-range.yaml"))).toBe(1);
    const e = JSON.parse(out) as { error: { code: string; details: { errors: unknown[] } } };
    expect(e.error.code).toBe("POLICY_SCHEMA");
    expect(e.error.details.errors).toHaveLength(2);
  });
});

describe("palisade policy fmt", () => {
  const messy = "kind: KubeArmorPolicy\napiVersion: security.kubearmor.com/v1\nspec:\n  action: block\n  process: {matchPaths: [{path: /bin/sh}]}\nmetadata: {name: messy}\n";
  const canonical = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: messy\nspec:\n  process:\n    matchPaths:\n    - path: /bin/sh\n  action: Block\n";

  function temp(content: string): string {
    const f = join(mkdtempSync(join(tmpdir(), "palisade-fmt-")), "p.yaml");
    writeFileSync(f, content);
    return f;
  }

  it("prints the canonical form", async () => {
    expect(await run("policy", "fmt", temp(messy))).toBe(0);
    expect(out).toBe(canonical);
  });

  it("--check exits 1 for a non-canonical file and 0 for a canonical one", async () => {
    const f = temp(messy);
    expect(await run("policy", "fmt", "--check", f)).toBe(1);
    expect(err).toContain(`${f}: not canonical`);
    expect(await run("policy", "fmt", "--check", temp(canonical))).toBe(0);
  });

  it("--write rewrites the file once", async () => {
    const f = temp(messy);
    expect(await run("policy", "fmt", "--write", f)).toBe(0);
    expect(readFileSync(f, "utf8")).toBe(canonical);
    expect(out).toBe(`${f}: formatted\n`);
    expect(await run("policy", "fmt", "--write", f)).toBe(0);
    expect(out).toContain(`${f}: unchanged\n`);
  });

  it("rejects --write with --check, and invalid files", async () => {
    expect(await run("policy", "fmt", "--write", "--check", temp(messy))).toBe(2);
    expect(err).toContain("error USAGE: --write and --check cannot be used together");
    expect(await run("policy", "fmt", invalid("i07-relative-path.yaml"))).toBe(1);
    expect(err).toContain('path must be absolute (start with "/"), got "etc/shadow"');
  });
});

describe("help", () => {
  for (const verb of ["validate", "explain", "fmt"]) {
    it(`policy ${verb} --help describes the verb`, async () => {
      expect(await run("policy", verb, "--help")).toBe(0);
      expect(out).toContain(`Usage: palisade policy ${verb}`);
      expect(out).toContain("Example");
    });
  }
});

describe("the real binary", () => {
  it("exits 1 on an invalid policy and prints no stack trace", () => {
    const bin = new URL("../../bin/palisade", import.meta.url).pathname;
    const r = spawnSync(bin, ["policy", "validate", invalid("i20-readonly-on-process.yaml")], { env: { ...process.env, PALISADE_FROM_SOURCE: "1" }, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error POLICY_SEMANTIC at spec.process.matchPaths[0].readOnly: readOnly applies to file rules only");
    expect(r.stderr).not.toMatch(STACK);
    const ok = spawnSync(bin, ["policy", "validate", valid("v36-host-process-block.yaml")], { env: { ...process.env, PALISADE_FROM_SOURCE: "1" }, encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("ok (1 policy, 0 workloads)");
  });
});
