/** `palisade context ls|use NAME|rm NAME`: the saved hub logins (contexts.ts). */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { loadContexts, saveContexts } from "./contexts.js";
import { formatTable, printJson } from "./output.js";

export function registerContextCommand(program: Command): void {
  const context = program.command("context").description("saved hub logins: list, switch, remove");
  context
    .command("ls")
    .description("list saved contexts (the current one is marked *)")
    .option("--json", "machine-readable output (tokens are never printed)")
    .action((flags: { json?: boolean }) => {
      const file = loadContexts();
      const rows = Object.entries(file.contexts).map(([name, c]) => ({ name, current: name === file.current, hub: c.hub, org: c.org ?? null, role: c.role ?? null, savedAt: c.savedAt }));
      if (flags.json) return printJson(rows);
      process.stdout.write(formatTable(["", "NAME", "HUB", "ORG", "ROLE"], rows.map((r) => [r.current ? "*" : "", r.name, r.hub, r.org ?? "", r.role ?? ""])));
    });
  context
    .command("use")
    .description("make a saved context current")
    .argument("<name>")
    .action((name: string) => {
      const file = loadContexts();
      if (!file.contexts[name]) throw new PalisadeError("USAGE", `no context named ${JSON.stringify(name)}`, { hint: `known: ${Object.keys(file.contexts).join(", ") || "none"}` });
      file.current = name;
      saveContexts(file);
      process.stdout.write(`context "${name}" is now current (${file.contexts[name].hub})\n`);
    });
  context
    .command("rm")
    .description("forget a saved context (the token itself stays valid: revoke it on the hub)")
    .argument("<name>")
    .action((name: string) => {
      const file = loadContexts();
      if (!file.contexts[name]) throw new PalisadeError("USAGE", `no context named ${JSON.stringify(name)}`);
      delete file.contexts[name];
      if (file.current === name) file.current = null;
      saveContexts(file);
      process.stdout.write(`removed context "${name}"\n`);
    });
}
