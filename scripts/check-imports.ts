/**
 * Enforces the import rules of docs/architecture.md: every `src/<part>/…`
 * file may import only from its own part and the parts listed on its line.
 * The table in the doc is the single source of truth.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");

export function readRules(markdown: string): Map<string, Set<string>> {
  const rules = new Map<string, Set<string>>();
  for (const line of markdown.split("\n")) {
    const m = /^\|\s*`([a-z]+)`\s*\|\s*([^|]*)\|/.exec(line);
    if (!m) continue;
    const allowed = m[2]!.split(",").map((s) => s.trim()).filter((s) => s && s !== "—");
    rules.set(m[1]!, new Set(allowed));
  }
  return rules;
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

export function checkImports(src = join(root, "src"), archDoc = join(root, "docs/architecture.md")): string[] {
  const root = dirname(src);
  const rules = readRules(readFileSync(archDoc, "utf8"));
  const problems: string[] = [];
  for (const part of readdirSync(src)) {
    if (!statSync(join(src, part)).isDirectory()) continue;
    if (!rules.has(part)) problems.push(`src/${part}/ has no rule in docs/architecture.md`);
  }
  for (const file of walk(src)) {
    const part = relative(src, file).split(sep)[0]!;
    const allowed = rules.get(part);
    if (!allowed) continue;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec || !spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      const rel = relative(src, target);
      if (rel.startsWith("..")) {
        problems.push(`${relative(root, file)} imports ${spec}, outside src/`);
        continue;
      }
      const targetPart = rel.split(sep)[0]!;
      if (targetPart !== part && !allowed.has(targetPart)) {
        const line = text.slice(0, m.index).split("\n").length;
        problems.push(`${relative(root, file)}:${line}: part "${part}" may not import "${targetPart}" (${spec}); allowed: ${[...allowed].join(", ") || "nothing"}`);
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const problems = checkImports();
  if (problems.length) {
    for (const p of problems) console.error(`import rule: ${p}`);
    console.error(`\n${problems.length} import rule violation(s); see docs/architecture.md`);
    process.exit(1);
  }
  console.log("import rules: ok");
}
