/**
 * Runs the workload verbs (run, ps, stop, inspect) as their own `palisade`
 * program, the way main.ts wires them, so tests can drive them in a child
 * process (signals, exit status) before the lead wires them into main.ts.
 */
import { Command, CommanderError } from "commander";
import { registerInspectCommand } from "../../src/cli/inspectCommand.js";
import { registerPsCommand } from "../../src/cli/psCommand.js";
import { registerRunCommand } from "../../src/cli/runCommand.js";
import { registerStopCommand } from "../../src/cli/stopCommand.js";
import { asPalisadeError, renderError } from "../../src/core/errors.js";

export function workloadProgram(): Command {
  const program = new Command("palisade").exitOverride();
  registerRunCommand(program);
  registerPsCommand(program);
  registerStopCommand(program);
  registerInspectCommand(program);
  return program;
}

const invoked = process.argv[1] ?? "";
if (invoked.endsWith("cliHarness.ts")) {
  workloadProgram()
    .parseAsync(process.argv.slice(2), { from: "user" })
    .then(
      () => process.exit(typeof process.exitCode === "number" ? process.exitCode : 0),
      (err: unknown) => {
        if (err instanceof CommanderError) process.exit(2);
        const e = asPalisadeError(err);
        process.stderr.write(renderError(e) + "\n");
        process.exit(e.code === "COMPILE_UNSUPPORTED" ? 4 : 1);
      },
    );
}
