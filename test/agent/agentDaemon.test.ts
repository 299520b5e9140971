/**
 * `palisade agent` (the daemon) reads its command line without commander
 * (src/cli/agentCommand.ts, agentDaemonFlags: commander would stay resident
 * for the agent's life). It must read every command line it takes exactly
 * as commander does, and leave everything else — subcommands, help, unknown
 * or malformed options — to commander and its messages.
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { agentDaemonFlags, registerAgentCommand, type AgentFlags } from "../../src/cli/agentCommand.js";

/** What commander hands the agent's action for `palisade agent <args>`. */
async function commanderFlags(args: readonly string[]): Promise<AgentFlags> {
  const program = new Command("palisade").exitOverride();
  registerAgentCommand(program);
  let got: AgentFlags | undefined;
  program.commands.find((c) => c.name() === "agent")!.action((flags: AgentFlags) => void (got = flags));
  await program.parseAsync(["agent", ...args], { from: "user" });
  return got!;
}

describe("the agent daemon's command line without commander", () => {
  it("reads what commander reads, defaults included", async () => {
    const lines = [
      [],
      ["--hub", "https://hub.example.com:8443", "--token", "pet_abc", "--data-dir", "/var/lib/p"],
      ["--hub=http://127.0.0.1:1", "--labels", "site=berlin,role=gw", "--poll", "5s", "--no-sensor", "--log-format", "json"],
      ["--on-revoked-key", "keep", "--status-interval", "1m", "--stop-grace", "2s", "--max-restart-delay", "9s", "--queue-max", "7", "--log-level", "debug", "--sensor-ring-kb", "64"],
      ["--poll", "1s", "--poll", "2s"],
    ];
    for (const args of lines) expect({ ...agentDaemonFlags(args) }, args.join(" ")).toEqual({ ...(await commanderFlags(args)) });
  });

  it("leaves subcommands, help and bad options to commander", () => {
    for (const args of [["status"], ["exec", "--instance", "x", "--bundle", "y"], ["inspect-bundle", "--bundle", "y"], ["--help"], ["-h"], ["--bogus"], ["--hub"], ["--no-sensor=1"], ["extra"]]) {
      expect(agentDaemonFlags(args), args.join(" ")).toBeUndefined();
    }
  });
});
