import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAuditCommand } from "../../../src/cli/auditCommand.js";
import { registerHubCommand, tokenBanner } from "../../../src/cli/hubCommand.js";
import { PalisadeError } from "../../../src/core/errors.js";
import { parseListen, startHub } from "../../../src/hub/startHub.js";
import { scratchDb, type ScratchDb, type TestHub } from "../helpers.js";
import { captureOutput } from "../../runCli.js";

/** Runs `palisade <args>` with only the hub's verbs registered, capturing stdout. */
async function cli(args: string[]): Promise<{ out: string; error?: PalisadeError }> {
  const program = new Command("palisade").exitOverride();
  registerHubCommand(program);
  registerAuditCommand(program);
  const r = await captureOutput(() => program.parseAsync(args, { from: "user" }));
  if (r.error !== undefined && !(r.error instanceof PalisadeError)) throw r.error;
  return { out: r.out, ...(r.error instanceof PalisadeError ? { error: r.error } : {}) };
}

export function cliSuite(t: TestHub): void {
  describe("CLI: palisade hub, hub init, audit verify", () => {
    let scratch: ScratchDb;
    beforeAll(async () => {
      scratch = await scratchDb(t.backend);
    });
    afterAll(async () => {
      await scratch.drop();
    });

    it("parses --listen forms", () => {
      expect(parseListen("127.0.0.1:8443")).toEqual({ host: "127.0.0.1", port: 8443 });
      expect(parseListen("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
      expect(parseListen("8443")).toEqual({ host: "127.0.0.1", port: 8443 });
      expect(() => parseListen("localhost")).toThrow(/cannot parse --listen/);
    });

    it("serves over real HTTP, bootstrapping org default and printing its admin token once", async () => {
      const running = await startHub({ listen: "127.0.0.1:0", dbUrl: scratch.url });
      try {
        expect(running.bootstrap?.org.name).toBe("default");
        expect(running.plainHttpExposed).toBe(false);
        const token = running.bootstrap!.token;
        expect(tokenBanner("default", token, running.url, true)).toContain(token);
        const health = await fetch(`${running.url}/healthz`);
        expect(health.status).toBe(200);
        const who = await fetch(`${running.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
        expect(await who.json()).toMatchObject({ orgName: "default", role: "admin" });
      } finally {
        await running.close();
      }
      // A second start of the same database does not bootstrap again.
      const again = await startHub({ listen: "127.0.0.1:0", dbUrl: scratch.url });
      expect(again.bootstrap).toBeUndefined();
      await again.close();
    });

    it("hub init issues a working admin token (new org, or a fresh token for an existing one)", async () => {
      const made = await cli(["hub", "init", "--org", "ops", "--db", t.db.url, "--json"]);
      const issued = JSON.parse(made.out) as { org: { name: string; created: boolean }; token: string };
      expect(issued.org).toMatchObject({ name: "ops", created: true });
      const who = await t.req("GET", "/v1/whoami", { token: issued.token });
      expect(who.json).toMatchObject({ orgName: "ops", role: "admin", operator: false });
      const recovered = await cli(["hub", "--db", t.db.url, "init", "--org", "default"]);
      expect(recovered.out).toContain('Issued a new admin API token for org "default"');
      const token = /\s(pat_\S+)/.exec(recovered.out)![1]!;
      expect((await t.req("GET", "/v1/whoami", { token })).json.orgName).toBe("default");
    });

    it("audit verify passes an intact log, then names the first bad seq after tampering", async () => {
      const ok = await cli(["audit", "verify", "--db", scratch.url]);
      expect(ok.error).toBeUndefined();
      expect(ok.out).toMatch(/audit log OK: \d+ entries/);
      const head = /head: (\d+:[0-9a-f]{64})/.exec(ok.out)![1]!;
      expect((await cli(["audit", "verify", "--db", scratch.url, "--expect", head])).error).toBeUndefined();
      const json = JSON.parse((await cli(["audit", "verify", "--db", scratch.url, "--json"])).out);
      expect(json).toMatchObject({ ok: true, headSeq: Number(head.split(":")[0]) });

      const { openHubDb } = await import("../../../src/hub/openHubDb.js");
      const db = await openHubDb(scratch.url);
      try {
        await db.db.updateTable("audit_log").set({ action: "org.delete" }).where("seq", "=", 1).execute();
      } finally {
        await db.close();
      }
      const bad = await cli(["audit", "verify", "--db", scratch.url]);
      expect(bad.error?.code).toBe("HUB_AUDIT_CHAIN");
      expect(bad.error?.message).toContain("seq 1");
      expect(bad.error?.details).toMatchObject({ firstBadSeq: 1 });
    });

    it("audit verify refuses to invent a database that is not there", async () => {
      const r = await cli(["audit", "verify", "--db", "sqlite:/nonexistent/dir/hub.sqlite"]);
      expect(r.error?.code).toBe("HUB_STORE");
      expect(r.error?.hint).toContain("--db");
    });

    it("documents its options in --help", () => {
      const program = new Command("palisade");
      registerHubCommand(program);
      registerAuditCommand(program);
      const hub = program.commands.find((c) => c.name() === "hub")!;
      expect(hub.helpInformation()).toMatch(/--listen[\s\S]*--db[\s\S]*--data-dir/);
      const audit = program.commands.find((c) => c.name() === "audit")!.commands.find((c) => c.name() === "verify")!;
      expect(audit.helpInformation()).toContain("--expect");
    });
  });
}
