/**
 * `palisade policy validate | explain | fmt`. Validation prints every problem
 * of every file (not just the first) and exits 1 if any file is invalid;
 * explain, fmt and simulate refuse invalid files, printing the problems the same way.
 * Failures are thrown as PalisadeError and rendered by main.ts.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { PalisadeError, asPalisadeError, renderError } from "../core/errors.js";
import { explainPolicy, explainPolicyData, formatPolicy, invalidFileError, parseDocuments, parsePolicyFile, type ParseResult, type Posture } from "../policy/index.js";
import { badLinesError, parseRecordLines, renderSimulation, simulatePolicy } from "../discovery/index.js";
import { parseLabels } from "./labelArgs.js";
import { EXIT } from "./exitCodes.js";
import { printJson } from "./output.js";

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Prints each problem (text mode) and throws one error standing for the file. */
function refuseInvalid(file: string, result: ParseResult, json: boolean | undefined): void {
  if (result.errors.length === 0) return;
  if (!json) for (const e of result.errors) process.stderr.write(renderError(e) + "\n");
  throw invalidFileError(file, result.errors);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw asPalisadeError(err);
  }
}

interface FileReport {
  readonly file: string;
  readonly valid: boolean;
  readonly policies: number;
  readonly workloads: number;
  readonly errors: readonly Record<string, unknown>[];
}

async function validate(files: readonly string[], opts: { json?: boolean }): Promise<void> {
  const reports: FileReport[] = [];
  for (const file of files) {
    let result: ParseResult;
    try {
      result = await parsePolicyFile(file);
    } catch (err) {
      const e = asPalisadeError(err);
      reports.push({ file, valid: false, policies: 0, workloads: 0, errors: [e.toJSON()] });
      if (!opts.json) process.stderr.write(`${file}: ${renderError(e)}\n`);
      continue;
    }
    const valid = result.errors.length === 0;
    reports.push({ file, valid, policies: result.policies.length, workloads: result.workloads.length, errors: result.errors.map((e) => e.toJSON()) });
    if (opts.json) continue;
    if (valid) {
      process.stdout.write(`${file}: ok (${plural(result.policies.length, "policy", "policies")}, ${plural(result.workloads.length, "workload", "workloads")})\n`);
    } else {
      for (const e of result.errors) process.stderr.write(renderError(e) + "\n");
      process.stderr.write(`${file}: invalid (${plural(result.errors.length, "problem", "problems")})\n`);
    }
  }
  if (opts.json) printJson({ valid: reports.every((r) => r.valid), files: reports });
  process.exitCode = reports.every((r) => r.valid) ? EXIT.OK : EXIT.FAILURE;
}

async function explain(file: string, opts: { json?: boolean; defaultPosture?: string }): Promise<void> {
  const posture = opts.defaultPosture?.toLowerCase();
  if (posture !== undefined && posture !== "block" && posture !== "audit") {
    throw new PalisadeError("USAGE", `--default-posture must be block or audit, got ${JSON.stringify(opts.defaultPosture)}`, { hint: "e.g. --default-posture audit" });
  }
  const result = await parsePolicyFile(file);
  refuseInvalid(file, result, opts.json);
  const options = { ...(result.workloads.length ? { workloads: result.workloads } : {}), ...(posture ? { defaultPosture: posture as Posture } : {}) };
  if (opts.json) printJson(explainPolicyData(result.policies, options));
  else process.stdout.write(explainPolicy(result.policies, options));
}

async function fmt(file: string, opts: { write?: boolean; check?: boolean; json?: boolean }): Promise<void> {
  if (opts.write && opts.check) throw new PalisadeError("USAGE", "--write and --check cannot be used together", { hint: "use --check in CI, --write to fix files" });
  const text = await readText(file);
  refuseInvalid(file, parseDocuments(text, file), opts.json);
  const formatted = formatPolicy(text, file);
  if (opts.check) {
    const canonical = formatted === text;
    if (opts.json) printJson({ file, canonical });
    else if (canonical) process.stdout.write(`${file}: canonical\n`);
    else process.stderr.write(`${file}: not canonical\n  hint: run: palisade policy fmt --write ${file}\n`);
    process.exitCode = canonical ? EXIT.OK : EXIT.FAILURE;
    return;
  }
  if (opts.write) {
    const changed = formatted !== text;
    if (changed) await writeFile(file, formatted, "utf8").catch((err: unknown) => Promise.reject(asPalisadeError(err)));
    if (opts.json) printJson({ file, changed });
    else process.stdout.write(`${file}: ${changed ? "formatted" : "unchanged"}\n`);
    return;
  }
  process.stdout.write(formatted);
}

interface SimulateFlags {
  events: string;
  workloadLabels?: string;
  defaultPosture?: string;
  all?: boolean;
  json?: boolean;
}

/** `policy simulate`: replays recorded events (docs/discovery.md, src/discovery/simulatePolicy.ts). */
async function simulate(files: readonly string[], opts: SimulateFlags): Promise<void> {
  const posture = opts.defaultPosture?.toLowerCase();
  if (posture !== undefined && posture !== "block" && posture !== "audit") {
    throw new PalisadeError("USAGE", `--default-posture must be block or audit, got ${JSON.stringify(opts.defaultPosture)}`, { hint: "e.g. --default-posture audit" });
  }
  const labels = opts.workloadLabels !== undefined ? parseLabels(opts.workloadLabels, "--workload-labels") : undefined;
  const policies = [];
  for (const file of files) {
    const result = await parsePolicyFile(file);
    refuseInvalid(file, result, opts.json);
    policies.push(...result.policies);
  }
  const parsed = parseRecordLines(await readText(opts.events), opts.events);
  if (parsed.problems.length) {
    if (!opts.json) for (const p of parsed.problems) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
    throw badLinesError(parsed.problems);
  }
  const sim = simulatePolicy(policies, parsed.records, { ...(labels ? { labels } : {}), ...(posture ? { defaultPosture: posture as Posture } : {}) });
  if (opts.json) printJson({ policies: policies.map((p) => p.name), events: opts.events, ...sim });
  else process.stdout.write(renderSimulation(sim, { all: opts.all === true }));
}

export function registerPolicyCommand(program: Command): void {
  const policy = program
    .command("policy")
    .description("validate, explain and format KubeArmor policies and Workload manifests")
    .addHelpText("after", "\nFiles hold KubeArmorPolicy, KubeArmorHostPolicy (security.kubearmor.com/v1) and Workload (palisade.dev/v1)\ndocuments, separated by ---. The language is described in docs/policy.md and docs/workload.md.\n");

  policy
    .command("validate")
    .description("check files against the schema and Palisade's rules; print every problem with file:line:column")
    .argument("<files...>", "policy or manifest files (multi-document YAML)")
    .option("--json", "machine-readable report")
    .addHelpText("after", "\nExit status: 0 if every file is valid, 1 otherwise.\n\nExample:\n  palisade policy validate workload.yaml policies/*.yaml\n")
    .action((files: string[], opts: { json?: boolean }) => validate(files, opts));

  policy
    .command("explain")
    .description("describe in plain language what the policies in a file allow, block and audit")
    .argument("<file>", "policy or manifest file")
    .option("--json", "machine-readable explanation")
    .option("--default-posture <posture>", "what unlisted operations get in allow-listed categories: block (default) or audit")
    .addHelpText("after", "\nWorkloads in the same file are shown with the combined effect of the policies that select them.\n\nExample:\n  palisade policy explain camera-app.yaml --default-posture audit\n")
    .action((file: string, opts: { json?: boolean; defaultPosture?: string }) => explain(file, opts));

  policy
    .command("fmt")
    .description("print a file in canonical form (key order, spellings, quoting), keeping comments")
    .argument("<file>", "policy or manifest file")
    .option("--write", "rewrite the file in place")
    .option("--check", "exit 1 if the file is not in canonical form (for CI)")
    .option("--json", "machine-readable result for --write/--check")
    .addHelpText("after", "\nExamples:\n  palisade policy fmt policy.yaml > policy.canonical.yaml\n  palisade policy fmt --check policy.yaml\n")
    .action((file: string, opts: { write?: boolean; check?: boolean; json?: boolean }) => fmt(file, opts));

  policy
    .command("simulate")
    .description("replay recorded events against policies: what would have been blocked, audited or allowed, and by which rule")
    .argument("<policies...>", "policy files (multi-document YAML)")
    .requiredOption("--events <file>", "recorded events: JSON lines as `palisade logs --json` prints them")
    .option("--workload-labels <k=v,...>", "labels of the workload the events came from (default: each record's Labels)")
    .option("--default-posture <posture>", "what unlisted operations get in allow-listed categories: block (default) or audit")
    .option("--all", "list every record, not only those a rule or the posture decided")
    .option("--json", "machine-readable result: every record's verdict, totals and per-rule counts")
    .addHelpText("after", "\nExample:\n  palisade logs --workload web --json > web-events.jsonl\n  palisade policy simulate web-policy.yaml --events web-events.jsonl\n")
    .action((files: string[], opts: SimulateFlags) => simulate(files, opts));
}
