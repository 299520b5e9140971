/**
 * What the long-lived agent process loads (issue #5: an idle agent ≤ 60 MB).
 * A module once imported stays resident for the life of the process, so the
 * agent's graph — `palisade agent`'s command module, the agent, its sensor —
 * must not pull in what it only needs now and then: `yaml` and the policy
 * parsers (≈ 3.4 MiB; bundles are parsed in an `agent inspect-bundle` child,
 * bundleFacts.ts), the runtime and the compiler (loaded only to stop a
 * workload), the supervisor's code. A real node process imports the graph
 * with a module-load hook that records every module it loads; the same
 * harness on the parser itself shows that the hook sees `yaml` when it loads.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../../src");

/** Loaded only when needed (never at idle): the reason is the message of a failure. */
const NOT_AT_IDLE: [RegExp, string][] = [
  [/\/node_modules\/yaml\//, "yaml (bundles are parsed in the inspect-bundle child)"],
  [/\/src\/policy\/(index|parseDocuments|policyParser|workloadParser|containerParser|yamlReader|diagnostics|format|toYaml|explain)\.ts$/, "the policy parsers"],
  [/\/src\/agent\/(bundleWorkload|bundleFactsOf|execBundle)\.ts$/, "bundle parsing / the supervisor"],
  [/\/src\/(compiler|runtime\/workloads|runtime\/runc|native\/probe)/, "the compiler and the runtime (loaded to stop a workload)"],
  [/\/node_modules\/zod\//, "zod"],
  [/\/node_modules\/commander\//, "commander (the daemon reads its own command line)"],
];

describe("modules the idle agent loads", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-imports-"));
    writeFileSync(join(dir, "hooks.mjs"), `import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) {\n  appendFileSync(process.env.LOAD_LOG, url + "\\n");\n  return next(url, context);\n}\n`);
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Every module URL a fresh node process loads when it imports `modules` (paths below src/). */
  function loadedBy(modules: readonly string[], then = ""): string[] {
    const log = join(dir, `loads-${modules.length}-${Date.now()}.txt`);
    writeFileSync(log, "");
    const script = modules.map((m, i) => `const m${i} = await import(${JSON.stringify(pathToFileURL(join(SRC, m)).href)});`).join("\n") + `\n${then}`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--import", pathToFileURL(join(dir, "register.mjs")).href, "--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, LOAD_LOG: log },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(log, "utf8").split("\n").filter((l) => l !== "");
  }

  it("the agent command, the agent and its sensor load neither yaml nor the policy parsers, the compiler or the runtime", () => {
    // main.ts as `palisade agent --hub …` enters it: the daemon's command line is read (not run).
    const loaded = loadedBy(
      ["cli/main.ts", "cli/agentCommand.ts", "agent/agent.ts", "agent/agentSensor.ts", "agent/bundleFacts.ts", "agent/desiredStateSync.ts"],
      `if (!m1.agentDaemon(["--hub", "http://127.0.0.1:1", "--no-sensor"])) throw new Error("not a daemon command line");`,
    );
    // The hook saw the graph: the agent, the sensor pipeline, SQLite, the policy matcher.
    for (const m of [/\/src\/agent\/agent\.ts$/, /\/src\/sensor\/eventPipeline\.ts$/, /\/src\/policy\/evaluate\.ts$/, /\/node_modules\/better-sqlite3\//]) {
      expect(loaded.some((u) => m.test(u)), String(m)).toBe(true);
    }
    const offending = loaded.flatMap((u) => NOT_AT_IDLE.filter(([re]) => re.test(u)).map(([, why]) => `${u} (${why})`));
    expect(offending).toEqual([]);
  });

  it("the harness sees yaml and the parsers when they do load", () => {
    const loaded = loadedBy(["agent/bundleFactsOf.ts"]);
    expect(loaded.some((u) => NOT_AT_IDLE[0]![0].test(u))).toBe(true);
    expect(loaded.some((u) => NOT_AT_IDLE[1]![0].test(u))).toBe(true);
  });
});
