import type { Command } from "commander";
import { PALISADE_VERSION } from "../core/version.js";
import { printJson } from "./output.js";

export function registerVersionCommand(program: Command): void {
  program
    .command("version")
    .description("print Palisade's version, Node's version and the platform")
    .option("--json", "machine-readable output")
    .action((opts: { json?: boolean }) => {
      const info = { palisade: PALISADE_VERSION, node: process.versions.node, platform: `${process.platform}/${process.arch}` };
      if (opts.json) printJson(info);
      else process.stdout.write(`palisade ${info.palisade} (node ${info.node}, ${info.platform})\n`);
    });
}
