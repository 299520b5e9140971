/**
 * `palisade audit verify [--db …] [--data-dir D] [--expect SEQ:HASH] [--json]`:
 * recomputes the hub's hash-chained audit log (format: src/hub/auditChain.ts)
 * and names the first entry that was changed, removed or reordered. Reads
 * only; run it against the live database or a backup.
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { verifyAuditChain } from "../hub/auditChain.js";
import { openHubDb } from "../hub/openHubDb.js";
import { addHubDbOptions, resolveHubDbUrl, type HubDbOptions } from "./hubCommand.js";
import { printJson } from "./output.js";

function parseAnchor(text: string): { seq: number; hash: string } {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text);
  if (!m) throw new PalisadeError("USAGE", `cannot parse --expect "${text}"`, { hint: "give SEQ:HASH as printed by an earlier `palisade audit verify`" });
  return { seq: Number(m[1]), hash: m[2] as string };
}

export function registerAuditCommand(program: Command): void {
  const audit = program.command("audit").description("the hub's tamper-evident audit log");
  addHubDbOptions(
    audit
      .command("verify")
      .description("check the audit log's hash chain; exit 1 naming the first bad entry if it was changed, removed or reordered")
      .option("--expect <seq:hash>", "also require entry SEQ to have HASH (an anchor you recorded earlier)")
      .option("--json", "print the verdict as JSON"),
  ).action(async (opts: HubDbOptions & { expect?: string; json?: boolean }) => {
    const anchor = opts.expect === undefined ? undefined : parseAnchor(opts.expect);
    const db = await openHubDb(resolveHubDbUrl(opts), { migrate: false, mustExist: true });
    try {
      const verdict = await verifyAuditChain(db.db, anchor);
      if (!verdict.ok) {
        throw new PalisadeError("HUB_AUDIT_CHAIN", `audit log is broken at seq ${verdict.firstBadSeq}: ${verdict.reason}`, {
          hint: "compare with a backup; entries before this one verified",
          details: { firstBadSeq: verdict.firstBadSeq, reason: verdict.reason, verifiedEntries: verdict.entries },
        });
      }
      if (opts.json) printJson(verdict);
      else {
        process.stdout.write(`audit log OK: ${verdict.entries} entries, chain intact (${db.description})\n`);
        process.stdout.write(`head: ${verdict.headSeq}:${verdict.headHash}\n`);
        process.stdout.write("  (record the head elsewhere; `palisade audit verify --expect SEQ:HASH` later proves the log was not rewritten up to it)\n");
      }
    } catch (err) {
      // A database from before the audit log existed, or not a hub database at all.
      if (err instanceof PalisadeError) throw err;
      throw new PalisadeError("HUB_STORE", `cannot read the audit log from ${db.description}: ${(err as Error).message}`, {
        hint: "is this a Palisade hub database? start `palisade hub` on it once to create the schema",
        cause: err,
      });
    } finally {
      await db.close();
    }
  });
}
