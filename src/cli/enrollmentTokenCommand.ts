/** `palisade enrollment-token create [--uses N] [--expires 24h] [--labels k=v] | ls | revoke ID`. */
import type { Command } from "commander";
import { parseDuration } from "../agent/parseDuration.js";
import { PalisadeError } from "../core/errors.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, seg, withTarget } from "./hubApiClient.js";
import { parseLabels } from "./labelArgs.js";
import { formatTable, printJson } from "./output.js";

interface EnrollmentToken {
  id: string;
  name: string;
  maxUses: number;
  uses: number;
  labels: Record<string, string>;
  expiresAt: string;
  createdAt: string;
  revokedAt: string | null;
  token?: string;
}

export function registerEnrollmentTokenCommand(program: Command): void {
  const et = program.command("enrollment-token").description("tokens devices enroll with (palisade agent --token)");
  withTarget(
    et
      .command("create")
      .description("create an enrollment token for N devices; the secret is printed once")
      .option("--uses <n>", "how many devices may enroll with it", "1")
      .option("--expires <duration>", "valid for this long (1m to 366d)", "24h")
      .option("--labels <k=v,...>", "labels every device enrolled with it gets")
      .option("--name <name>", "what it is for", "")
      .option("--json", "machine-readable output"),
  ).action(async (flags: TargetFlags & { uses: string; expires: string; labels?: string; name: string; json?: boolean }) => {
    const uses = Number(flags.uses);
    if (!Number.isSafeInteger(uses) || uses < 1) throw new PalisadeError("USAGE", `--uses must be a positive integer, not ${JSON.stringify(flags.uses)}`);
    const body = {
      name: flags.name,
      maxUses: uses,
      expiresInSeconds: Math.round(parseDuration(flags.expires, "--expires") / 1000),
      ...(flags.labels ? { labels: parseLabels(flags.labels) } : {}),
    };
    const t = await HubApiClient.from(flags).post<EnrollmentToken>("/v1/enrollment-tokens", body);
    if (flags.json) return printJson(t);
    process.stdout.write(`created enrollment token ${t.id}: ${t.maxUses} use(s), expires ${t.expiresAt}; shown only this once:\n\n    ${t.token}\n\n`);
    process.stdout.write(`on each device:  palisade agent --hub ${HubApiClient.from(flags).target.hub} --token ${t.token?.slice(0, 12)}…\n`);
  });
  withTarget(et.command("ls").description("list enrollment tokens with their uses").option("--json", "machine-readable output")).action(async (flags: TargetFlags & { json?: boolean }) => {
    const rows = await HubApiClient.from(flags).get<EnrollmentToken[]>("/v1/enrollment-tokens");
    if (flags.json) return printJson(rows);
    process.stdout.write(
      formatTable(
        ["ID", "NAME", "USES", "LABELS", "EXPIRES", "STATE"],
        rows.map((t) => [t.id, t.name, `${t.uses}/${t.maxUses}`, Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(","), t.expiresAt, t.revokedAt ? "revoked" : Date.parse(t.expiresAt) < Date.now() ? "expired" : "active"]),
      ),
    );
  });
  withTarget(et.command("revoke").description("revoke an enrollment token (enrolled devices stay)").argument("<id>")).action(async (id: string, flags: TargetFlags) => {
    const t = await HubApiClient.from(flags).post<EnrollmentToken>(`/v1/enrollment-tokens/${seg(id)}/revoke`);
    process.stdout.write(`revoked enrollment token ${t.id} (${t.uses} of ${t.maxUses} uses taken)\n`);
  });
}
