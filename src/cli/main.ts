/**
 * The `palisade` entry point. Verbs register themselves from one file each
 * (`<verb>Command.ts`); this file is the only place in the CLI process where
 * errors are caught and rendered. Exit codes are documented in docs/cli.md.
 */
// commander loads only when a command line needs it: the agent daemon reads its own (agentDaemon).
import type { Command } from "commander";
import { asPalisadeError, renderError } from "../core/errors.js";
import { EXIT } from "./exitCodes.js";
import { PALISADE_VERSION } from "../core/version.js";

type Register = (program: Command) => void;

/**
 * Every verb and the module that registers it. Modules load only when their
 * verb runs: the agent and each workload supervisor are long-lived `palisade`
 * processes, and importing every verb (the hub's fastify, kysely, pg; the
 * compiler) would cost them ~30 MiB of RSS for code they never run
 * (docs/benchmarks.md, agent footprint). `--help` and unknown verbs load all.
 */
const VERBS: readonly (readonly [string, () => Promise<Register>])[] = [
  ["version", async () => (await import("./versionCommand.js")).registerVersionCommand],
  ["probe", async () => (await import("./probeCommand.js")).registerProbeCommand],
  ["policy", async () => (await import("./policyCommand.js")).registerPolicyCommand],
  ["image", async () => (await import("./imageCommand.js")).registerImageCommand],
  ["run", async () => (await import("./runCommand.js")).registerRunCommand],
  ["ps", async () => (await import("./psCommand.js")).registerPsCommand],
  ["stop", async () => (await import("./stopCommand.js")).registerStopCommand],
  ["inspect", async () => (await import("./inspectCommand.js")).registerInspectCommand],
  ["hub", async () => (await import("./hubCommand.js")).registerHubCommand],
  ["audit", async () => (await import("./auditCommand.js")).registerAuditCommand],
  ["agent", async () => (await import("./agentCommand.js")).registerAgentCommand],
  ["login", async () => (await import("./loginCommand.js")).registerLoginCommand],
  ["context", async () => (await import("./contextCommand.js")).registerContextCommand],
  ["org", async () => (await import("./orgCommand.js")).registerOrgCommand],
  ["token", async () => (await import("./tokenCommand.js")).registerTokenCommand],
  ["enrollment-token", async () => (await import("./enrollmentTokenCommand.js")).registerEnrollmentTokenCommand],
  ["node", async () => (await import("./nodeCommand.js")).registerNodeCommand],
  ["publisher", async () => (await import("./publisherCommand.js")).registerPublisherCommand],
  ["workload", async () => (await import("./workloadCommand.js")).registerWorkloadCommand],
  ["deploy", async () => (await import("./deployCommand.js")).registerDeployCommand],
  ["status", async () => (await import("./statusCommand.js")).registerStatusCommand],
  ["alerts", async () => (await import("./alertsCommand.js")).registerAlertsCommand],
  ["recommend", async () => (await import("./recommendCommand.js")).registerRecommendCommand],
  ["profile", async () => (await import("./profileCommand.js")).registerProfileCommand],
  ["logs", async () => (await import("./logsCommand.js")).registerLogsCommand],
];

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const { Command } = await import("commander");
  const program = new Command("palisade")
    .description("Secure containerised workloads on edge devices")
    .version(PALISADE_VERSION, "-V, --version-flag", "print the version and exit")
    .showSuggestionAfterError(true)
    .exitOverride();
  const verb = argv.find((a) => !a.startsWith("-"));
  const wanted = VERBS.filter(([name]) => name === verb);
  for (const [, load] of wanted.length === 1 ? wanted : VERBS) (await load())(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let jsonErrors = argv.includes("--json");
  try {
    // `palisade agent` runs for the device's lifetime and keeps whatever it loads: it skips commander (agentCommand.ts).
    const daemon = argv[0] === "agent" ? (await import("./agentCommand.js")).agentDaemon(argv.slice(1)) : undefined;
    if (daemon) await daemon();
    else await (await buildProgram(argv)).parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof (await import("commander")).CommanderError) {
      // Commander already printed its message (help, version or usage error).
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return EXIT.OK;
      return EXIT.USAGE;
    }
    const e = asPalisadeError(err);
    jsonErrors ||= process.env.PALISADE_JSON === "1";
    if (jsonErrors) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + "\n");
    else process.stderr.write(renderError(e) + "\n");
    if (process.env.PALISADE_DEBUG === "1" && e.cause instanceof Error) process.stderr.write(`${e.cause.stack}\n`);
    return exitCodeFor(e.code);
  }
}

function exitCodeFor(code: string): number {
  switch (code) {
    case "USAGE":
      return EXIT.USAGE;
    case "NOT_LINUX":
    case "NOT_ROOT":
      return EXIT.ENVIRONMENT;
    case "COMPILE_UNSUPPORTED":
      return EXIT.UNENFORCEABLE;
    case "INTERNAL":
      return EXIT.INTERNAL;
    default:
      return EXIT.FAILURE;
  }
}

// Run when executed directly (bin/palisade or `tsx src/cli/main.ts`).
const invoked = process.argv[1] ?? "";
if (invoked.endsWith("/cli/main.js") || invoked.endsWith("/cli/main.ts")) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(renderError(asPalisadeError(err)) + "\n");
      process.exit(EXIT.INTERNAL);
    },
  );
}
