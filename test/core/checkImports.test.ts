import { describe, expect, it } from "vitest";
import { checkImports, readRules } from "../../scripts/check-imports.js";

describe("import rules (docs/architecture.md)", () => {
  it("reads one rule per part from the table", () => {
    const rules = readRules("| `core` | — | x |\n| `policy` | core | y |\n| `cli` | core, policy | z |\n");
    expect([...rules.keys()]).toEqual(["core", "policy", "cli"]);
    expect([...rules.get("core")!]).toEqual([]);
    expect([...rules.get("cli")!]).toEqual(["core", "policy"]);
  });

  it("the tree has no violations", () => {
    expect(checkImports()).toEqual([]);
  });
});

describe("import rule violations", () => {
  it("reports a forbidden import with file, line and the allowed parts", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "palisade-imports-"));
    mkdirSync(join(dir, "src/core"), { recursive: true });
    mkdirSync(join(dir, "src/policy"), { recursive: true });
    mkdirSync(join(dir, "src/stray"), { recursive: true });
    writeFileSync(join(dir, "src/core/a.ts"), 'import { x } from "../policy/b.js";\n');
    writeFileSync(join(dir, "src/policy/b.ts"), 'import { y } from "../core/a.js";\nexport const x = 1;\n');
    const doc = join(dir, "arch.md");
    writeFileSync(doc, "| `core` | — | x |\n| `policy` | core | y |\n");
    const problems = checkImports(join(dir, "src"), doc);
    expect(problems).toEqual([
      "src/stray/ has no rule in docs/architecture.md",
      'src/core/a.ts:1: part "core" may not import "policy" (../policy/b.js); allowed: nothing',
    ]);
  });
});
