/**
 * The `palisade` entry point. Verbs register themselves from one file each
 * (`<verb>Command.ts`); this file is the only place in the CLI process where
 * errors are caught and rendered. Exit codes are documented in docs/cli.md.
 */
import { Command, CommanderError } from "commander";
import { asPalisadeError, renderError } from "../core/errors.js";
import { EXIT } from "./exitCodes.js";
import { registerVersionCommand } from "./versionCommand.js";
import { registerProbeCommand } from "./probeCommand.js";
import { registerPolicyCommand } from "./policyCommand.js";
import { registerImageCommand } from "./imageCommand.js";
import { registerRunCommand } from "./runCommand.js";
import { registerPsCommand } from "./psCommand.js";
import { registerStopCommand } from "./stopCommand.js";
import { registerInspectCommand } from "./inspectCommand.js";
import { registerHubCommand } from "./hubCommand.js";
import { registerAuditCommand } from "./auditCommand.js";
import { registerAgentCommand } from "./agentCommand.js";
import { registerLoginCommand } from "./loginCommand.js";
import { registerContextCommand } from "./contextCommand.js";
import { registerOrgCommand } from "./orgCommand.js";
import { registerTokenCommand } from "./tokenCommand.js";
import { registerEnrollmentTokenCommand } from "./enrollmentTokenCommand.js";
import { registerNodeCommand } from "./nodeCommand.js";
import { registerPublisherCommand } from "./publisherCommand.js";
import { registerWorkloadCommand } from "./workloadCommand.js";
import { registerDeployCommand } from "./deployCommand.js";
import { registerStatusCommand } from "./statusCommand.js";
import { PALISADE_VERSION } from "../core/version.js";

export function buildProgram(): Command {
  const program = new Command("palisade")
    .description("Secure containerised workloads on edge devices")
    .version(PALISADE_VERSION, "-V, --version-flag", "print the version and exit")
    .showSuggestionAfterError(true)
    .exitOverride();
  registerVersionCommand(program);
  registerProbeCommand(program);
  registerPolicyCommand(program);
  registerImageCommand(program);
  registerRunCommand(program);
  registerPsCommand(program);
  registerStopCommand(program);
  registerInspectCommand(program);
  registerHubCommand(program);
  registerAuditCommand(program);
  registerAgentCommand(program);
  registerLoginCommand(program);
  registerContextCommand(program);
  registerOrgCommand(program);
  registerTokenCommand(program);
  registerEnrollmentTokenCommand(program);
  registerNodeCommand(program);
  registerPublisherCommand(program);
  registerWorkloadCommand(program);
  registerDeployCommand(program);
  registerStatusCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  let jsonErrors = argv.includes("--json");
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
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
