/**
 * The hash-chained audit log. Every write the hub makes to orgs, tokens,
 * enrollment tokens, nodes, publishers and keys, bundles and deployments
 * appends an entry in the same transaction as the change, so the log and the
 * state can never disagree.
 *
 * Entry format (docs/hub.md, "Audit log"):
 *
 *   { seq, time, orgId, actor, action, subject, data, prevHash, hash }
 *   seq      1, 2, 3, …  with no gaps (one chain for the whole hub)
 *   time     ISO-8601 UTC with milliseconds
 *   orgId    the org the change belongs to, or null for hub-wide changes
 *   actor    who: "token:<id>", "node:<id>", "enrollment-token:<id>", "local:<command>"
 *   action   what, e.g. "node.revoke" (docs/api.md lists them)
 *   subject  what it was done to, e.g. "node:<id>"
 *   data     a JSON object with the details (never a secret)
 *   prevHash the previous entry's hash; 64 zeros for seq 1
 *   hash     hex sha256 of canonicalJson(the entry without `hash`)
 *
 * Because each hash covers seq and prevHash, changing an entry breaks its
 * own hash, removing one leaves a gap in seq and a prevHash mismatch, and
 * reordering breaks both. `audit_head` (one row: last seq and hash) also
 * catches removal of the newest entries. Someone who can rewrite the whole
 * database can rewrite the whole chain: anchor the head elsewhere (print it
 * with `palisade audit verify` and check it later with --expect).
 */
import { createHash } from "node:crypto";
import { sql, type Kysely, type Transaction } from "kysely";
import { canonicalJson } from "../core/signing/canonicalJson.js";
import type { AuditLogTable, HubDb, HubTables } from "./hubDatabase.js";

export const GENESIS_HASH = "0".repeat(64);

export interface AuditEntry {
  readonly seq: number;
  readonly time: string;
  readonly orgId: string | null;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly data: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditEvent {
  readonly orgId: string | null;
  readonly action: string;
  readonly subject: string;
  readonly data?: Record<string, unknown>;
}

export function auditEntryHash(entry: Omit<AuditEntry, "hash">): string {
  const { seq, time, orgId, actor, action, subject, data, prevHash } = entry;
  const body = canonicalJson({ seq, time, orgId, actor, action, subject, data, prevHash });
  return createHash("sha256").update(body, "utf8").digest("hex");
}

export function auditEntryFromRow(row: AuditLogTable): AuditEntry {
  return {
    seq: row.seq,
    time: row.time,
    orgId: row.org_id,
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** A transaction that can append audit entries. */
export interface WriteTx {
  readonly trx: Transaction<HubTables>;
  /** Appends one entry (in this transaction) and returns it. */
  audit(event: AuditEvent): Promise<AuditEntry>;
}

/**
 * Runs `fn` in a transaction that owns the audit chain's head. The head row
 * is locked by the transaction's FIRST statement (an UPDATE: a row lock in
 * PostgreSQL, the write lock in SQLite), so every audited write is
 * serialised in one global order and no two can take the same seq, and
 * since every writer takes this lock first, writers cannot deadlock on it.
 */
export async function writeTx<T>(hub: HubDb, actor: string, fn: (tx: WriteTx) => Promise<T>): Promise<T> {
  return hub.db.transaction().execute(async (trx) => {
    await trx.updateTable("audit_head").set({ seq: sql<number>`seq` }).where("id", "=", 1).execute();
    const head = await trx.selectFrom("audit_head").select(["seq", "hash"]).where("id", "=", 1).executeTakeFirstOrThrow();
    let { seq, hash } = head;
    const start = seq;
    const result = await fn({
      trx,
      async audit(event) {
        const base = {
          seq: seq + 1,
          time: new Date().toISOString(),
          orgId: event.orgId,
          actor,
          action: event.action,
          subject: event.subject,
          data: event.data ?? {},
          prevHash: hash,
        };
        const entry: AuditEntry = { ...base, hash: auditEntryHash(base) };
        await trx
          .insertInto("audit_log")
          .values({
            seq: entry.seq,
            time: entry.time,
            org_id: entry.orgId,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            data: canonicalJson(entry.data),
            prev_hash: entry.prevHash,
            hash: entry.hash,
          })
          .execute();
        seq = entry.seq;
        hash = entry.hash;
        return entry;
      },
    });
    if (seq !== start) await trx.updateTable("audit_head").set({ seq, hash }).where("id", "=", 1).execute();
    return result;
  });
}

export type AuditVerdict =
  | { readonly ok: true; readonly entries: number; readonly headSeq: number; readonly headHash: string }
  | { readonly ok: false; readonly firstBadSeq: number; readonly reason: string; readonly entries: number };

/** Verifies the whole chain, reading it in pages so a long log does not need to fit in memory. */
export async function verifyAuditChain(db: Kysely<HubTables>, expect?: { seq: number; hash: string }): Promise<AuditVerdict> {
  const PAGE = 1000;
  let expected = 1;
  let prevHash = GENESIS_HASH;
  let entries = 0;
  let anchorSeen = false;
  const bad = (firstBadSeq: number, reason: string): AuditVerdict => ({ ok: false, firstBadSeq, reason, entries });
  for (;;) {
    const rows = await db.selectFrom("audit_log").selectAll().where("seq", ">=", expected).orderBy("seq").limit(PAGE).execute();
    for (const row of rows) {
      if (row.seq !== expected) return bad(expected, `entry ${expected} is missing (the next entry present is ${row.seq})`);
      if (row.prev_hash !== prevHash) return bad(row.seq, `its prevHash does not match entry ${row.seq - 1}'s hash (an entry was changed, removed or reordered)`);
      let entry: AuditEntry;
      try {
        entry = auditEntryFromRow(row);
      } catch {
        return bad(row.seq, "its data is not valid JSON (the entry was changed)");
      }
      let recomputed: string;
      try {
        recomputed = auditEntryHash(entry);
      } catch (err) {
        return bad(row.seq, `its content cannot be hashed (${(err as Error).message}); the entry was changed`);
      }
      if (recomputed !== row.hash) return bad(row.seq, "its content does not match its hash (the entry was changed)");
      if (expect && row.seq === expect.seq) {
        if (row.hash !== expect.hash) return bad(row.seq, `its hash ${row.hash} is not the anchored ${expect.hash} (the chain was rewritten)`);
        anchorSeen = true;
      }
      prevHash = row.hash;
      expected += 1;
      entries += 1;
    }
    if (rows.length < PAGE) break;
  }
  const last = expected - 1;
  // Rows the walk above cannot reach: a forged entry numbered 0 or below.
  const stray = await db.selectFrom("audit_log").select("seq").where("seq", "<", 1).orderBy("seq").limit(1).executeTakeFirst();
  if (stray !== undefined) return bad(stray.seq, `an entry numbered ${stray.seq} was added outside the hub (seq starts at 1)`);
  const head = await db.selectFrom("audit_head").select(["seq", "hash"]).where("id", "=", 1).executeTakeFirst();
  if (head === undefined) return bad(1, "the audit_head row is missing");
  if (head.seq > last) return bad(last + 1, `entries ${last + 1}..${head.seq} are missing (the log was truncated)`);
  if (head.seq < last) return bad(head.seq + 1, `entries after ${head.seq} were added outside the hub (audit_head says ${head.seq} is the last)`);
  if (head.hash !== prevHash) return bad(last, `its hash does not match audit_head (the newest entry was changed)`);
  if (expect && !anchorSeen) return bad(expect.seq, `entry ${expect.seq} (the anchor) is not in the log`);
  return { ok: true, entries, headSeq: last, headHash: prevHash };
}
