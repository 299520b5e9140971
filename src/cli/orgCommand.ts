/** `palisade org ls | create NAME`: orgs (creating one needs an admin of the operator org). */
import type { Command } from "commander";
import { HubApiClient, withTarget } from "./hubApiClient.js";
import { formatTable, printJson } from "./output.js";
import type { TargetFlags } from "./contexts.js";

interface Org {
  id: string;
  name: string;
  operator: boolean;
  createdAt: string;
}

export function registerOrgCommand(program: Command): void {
  const org = program.command("org").description("orgs on the hub");
  withTarget(org.command("ls").description("list orgs (all of them for operator-org admins)").option("--json", "machine-readable output")).action(
    async (flags: TargetFlags & { json?: boolean }) => {
      const orgs = await HubApiClient.from(flags).get<Org[]>("/v1/orgs");
      if (flags.json) return printJson(orgs);
      process.stdout.write(formatTable(["ID", "NAME", "OPERATOR", "CREATED"], orgs.map((o) => [o.id, o.name, o.operator ? "yes" : "", o.createdAt])));
    },
  );
  withTarget(org.command("create").description("create an org; prints its first admin token once").argument("<name>").option("--json", "machine-readable output")).action(
    async (name: string, flags: TargetFlags & { json?: boolean }) => {
      const r = await HubApiClient.from(flags).post<{ org: Org; adminToken: { id: string; token: string } }>("/v1/orgs", { name });
      if (flags.json) return printJson(r);
      process.stdout.write(`created org ${r.org.name} (${r.org.id})\nits admin token, shown only this once:\n\n    ${r.adminToken.token}\n\n`);
    },
  );
}
