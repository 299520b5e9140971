/**
 * `palisade login --hub URL --token T [--context NAME]`: checks the token
 * against the hub (GET /v1/whoami), then saves it as a context and makes it
 * current (contexts.ts). The context is named after the token's org unless
 * --context says otherwise.
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { contextsPath, loadContexts, saveContexts } from "./contexts.js";
import { HubApiClient } from "./hubApiClient.js";
import { printJson } from "./output.js";

interface WhoAmI {
  tokenId: string;
  orgId: string;
  orgName: string;
  role: string;
  publisherId: string | null;
  operator: boolean;
}

export function registerLoginCommand(program: Command): void {
  program
    .command("login")
    .description("check an API token against a hub and save it as a context (~/.config/palisade/contexts.json, 0600)")
    .requiredOption("--hub <url>", "hub URL, e.g. https://hub.example.com:8443")
    .requiredOption("--token <token>", "API token (pat_…)")
    .option("--context <name>", "name for this login (default: the token's org name)")
    .option("--json", "machine-readable output")
    .action(async (flags: { hub: string; token: string; context?: string; json?: boolean }) => {
      if (!/^https?:\/\/[^/]+/.test(flags.hub)) throw new PalisadeError("USAGE", `--hub must be an http(s) URL, not ${JSON.stringify(flags.hub)}`);
      const hub = flags.hub.replace(/\/+$/, "");
      const who = await new HubApiClient({ hub, token: flags.token }).get<WhoAmI>("/v1/whoami");
      const name = flags.context ?? who.orgName;
      const file = loadContexts();
      file.contexts[name] = { hub, token: flags.token, org: who.orgName, role: who.role, savedAt: new Date().toISOString() };
      file.current = name;
      saveContexts(file);
      if (flags.json) return printJson({ context: name, hub, org: who.orgName, role: who.role, file: contextsPath() });
      process.stdout.write(`logged in to ${hub} as ${who.role} of org ${who.orgName}; context "${name}" is now current (${contextsPath()})\n`);
    });
}
