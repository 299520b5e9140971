/** `palisade token ls | create --role R | revoke ID`: the org's API tokens (admin only). */
import type { Command } from "commander";
import { parseDuration } from "../agent/parseDuration.js";
import { PalisadeError } from "../core/errors.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, seg, withTarget } from "./hubApiClient.js";
import { formatTable, printJson } from "./output.js";
import { resolvePublisherId } from "./publisherCommand.js";

interface ApiToken {
  id: string;
  name: string;
  role: string;
  publisherId: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  token?: string;
}

export function registerTokenCommand(program: Command): void {
  const token = program.command("token").description("API tokens of the org (admin only)");
  withTarget(token.command("ls").description("list API tokens (never their secrets)").option("--json", "machine-readable output")).action(
    async (flags: TargetFlags & { json?: boolean }) => {
      const rows = await HubApiClient.from(flags).get<ApiToken[]>("/v1/tokens");
      if (flags.json) return printJson(rows);
      process.stdout.write(
        formatTable(
          ["ID", "NAME", "ROLE", "PUBLISHER", "EXPIRES", "STATE"],
          rows.map((t) => [t.id, t.name, t.role, t.publisherId ?? "", t.expiresAt ?? "never", t.revokedAt ? `revoked ${t.revokedAt}` : "active"]),
        ),
      );
    },
  );
  withTarget(
    token
      .command("create")
      .description("create an API token; the secret is printed once")
      .requiredOption("--role <role>", "admin, publisher or viewer")
      .option("--name <name>", "what it is for", "")
      .option("--publisher <id|name>", "the publisher a publisher token acts for")
      .option("--expires <duration>", "expire after this long, e.g. 90d")
      .option("--json", "machine-readable output"),
  ).action(async (flags: TargetFlags & { role: string; name: string; publisher?: string; expires?: string; json?: boolean }) => {
    if (!["admin", "publisher", "viewer"].includes(flags.role)) throw new PalisadeError("USAGE", `--role must be admin, publisher or viewer, not ${JSON.stringify(flags.role)}`);
    const client = HubApiClient.from(flags);
    const publisherId = flags.publisher ? await resolvePublisherId(client, flags.publisher) : undefined;
    const body = {
      name: flags.name || `${flags.role} token`,
      role: flags.role,
      ...(publisherId ? { publisherId } : {}),
      ...(flags.expires ? { expiresAt: new Date(Date.now() + parseDuration(flags.expires, "--expires")).toISOString() } : {}),
    };
    const t = await client.post<ApiToken>("/v1/tokens", body);
    if (flags.json) return printJson(t);
    process.stdout.write(`created ${t.role} token ${t.id}; the secret, shown only this once:\n\n    ${t.token}\n\n`);
  });
  withTarget(token.command("revoke").description("revoke an API token").argument("<id>").option("--json", "machine-readable output")).action(
    async (id: string, flags: TargetFlags & { json?: boolean }) => {
      const t = await HubApiClient.from(flags).post<ApiToken>(`/v1/tokens/${seg(id)}/revoke`);
      if (flags.json) return printJson(t);
      process.stdout.write(`revoked token ${t.id} (${t.name})\n`);
    },
  );
}
