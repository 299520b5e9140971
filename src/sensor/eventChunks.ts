/**
 * Records as the EventStore keeps them: consecutive records of one workload
 * and kind in one row (a chunk), not one row each.
 *
 * Why: SQLite's cost per stored record was a per-row B-tree insert plus an
 * index entry plus ~800 bytes written three times (page cache, WAL,
 * checkpoint); it was the store worker's whole cost, ≈ 10 µs per record
 * (docs/benchmarks.md, "Sensor"). A flood is one workload doing one kind of
 * thing, so its records make long chunks — one row per batch — and the
 * workload's own fields (cluster, host, namespace … image: ≈ 300 of the ≈ 800
 * bytes of a log) are stored once per chunk instead of once per record.
 *
 * An encoded record (what the pipeline hands the store):
 *   [time_ms, kind, workload, json]                  json is the whole record
 *   [time_ms, kind, workload, json, at, fragment]    the record is
 *       json.slice(0, at) + fragment + json.slice(at): logJson writes the
 *       workload's fields (`"ClusterName":…,"ContainerImage":…,`) once per
 *       workload and leaves them out of each record (fullJson() puts them back).
 *
 * A chunk's body — one line per record, in seq order, LF-terminated:
 *
 *   <time_ms> TAB <at, or empty when the record is whole> TAB <json> LF
 *
 * `json` may itself hold TABs (only the first two split a line) but not a raw
 * LF: JSON.stringify escapes every control character, and a record that has
 * one anyway (a caller's hand-made JSON text) gets a chunk of its own (n = 1),
 * whose body is read without splitting (its json is everything up to the
 * body's final LF). All records of a chunk share its `fragment` (NULL when
 * they are whole).
 */
import type { RecordKind } from "./eventStore.js";

export type EncodedRecord = readonly [number, RecordKind, string, string] | readonly [number, RecordKind, string, string, number, string];

/** A record's JSON text written without its workload's fields, with them put back at `at`. */
export function withFragment(json: string, at: number, fragment: string): string {
  return json.slice(0, at) + fragment + json.slice(at);
}

/** The record's JSON text, workload fields included. */
export function fullJson(row: EncodedRecord): string {
  return row.length === 6 ? withFragment(row[3], row[4], row[5]) : row[3];
}

/** One row of the chunks table (see eventStore.ts for the table). */
export interface Chunk {
  readonly firstSeq: number;
  readonly n: number;
  readonly kind: RecordKind;
  readonly workload: string;
  readonly minTime: number;
  readonly maxTime: number;
  readonly fragment: string | null;
  readonly body: string;
}

export type NewChunk = Omit<Chunk, "firstSeq">;

/** The most records one chunk takes (a trimmed chunk is rewritten whole: this bounds that work). */
export const CHUNK_MAX = 2000;

/** Groups rows into chunks, in order: a new chunk starts when kind, workload or fragment changes. */
export function toChunks(rows: readonly EncodedRecord[]): NewChunk[] {
  const out: NewChunk[] = [];
  let cur: { kind: RecordKind; workload: string; fragment: string | null; lines: string[]; min: number; max: number; single: boolean } | undefined;
  const close = () => {
    if (cur) out.push({ n: cur.lines.length, kind: cur.kind, workload: cur.workload, minTime: cur.min, maxTime: cur.max, fragment: cur.fragment, body: cur.lines.join("") });
    cur = undefined;
  };
  for (const row of rows) {
    if (row.length < 4 || (row[1] !== "alert" && row[1] !== "log") || typeof row[2] !== "string" || typeof row[3] !== "string" || !Number.isFinite(row[0])) {
      throw new Error(`malformed record ${JSON.stringify(row).slice(0, 120)}`);
    }
    const fragment = row.length === 6 ? row[5] : null;
    const at = row.length === 6 ? String(row[4]) : "";
    const single = row[3].includes("\n");
    if (!cur || single || cur.single || cur.kind !== row[1] || cur.workload !== row[2] || cur.fragment !== fragment || cur.lines.length >= CHUNK_MAX) {
      close();
      cur = { kind: row[1], workload: row[2], fragment, lines: [], min: row[0], max: row[0], single };
    }
    cur.lines.push(`${row[0]}\t${at}\t${row[3]}\n`);
    if (row[0] < cur.min) cur.min = row[0];
    if (row[0] > cur.max) cur.max = row[0];
  }
  close();
  return out;
}

/** A chunk's records: seq, time and the whole JSON text of each. */
export function chunkRecords(c: Chunk): { seq: number; timeMs: number; json: string }[] {
  const out: { seq: number; timeMs: number; json: string }[] = [];
  let pos = 0;
  for (let i = 0; i < c.n; i++) {
    const t1 = c.body.indexOf("\t", pos);
    const t2 = c.body.indexOf("\t", t1 + 1);
    const end = c.n === 1 ? c.body.length - 1 : c.body.indexOf("\n", t2 + 1);
    if (t1 < 0 || t2 < 0 || end < t2) throw new Error(`chunk ${c.firstSeq}: record ${i + 1} of ${c.n} is damaged`);
    const atText = c.body.slice(t1 + 1, t2);
    const json = c.body.slice(t2 + 1, end);
    const at = atText === "" ? -1 : Number(atText);
    out.push({ seq: c.firstSeq + i, timeMs: Number(c.body.slice(pos, t1)), json: at >= 0 && c.fragment !== null ? withFragment(json, at, c.fragment) : json });
    pos = end + 1;
  }
  return out;
}

/** The chunk without its first `k` records (the store's bound dropped them). */
export function dropFirst(c: Chunk, k: number): Chunk {
  let pos = 0;
  for (let i = 0; i < k; i++) pos = c.body.indexOf("\n", pos) + 1;
  const body = c.body.slice(pos);
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (let p = 0; p < body.length; p = body.indexOf("\n", p) + 1 || body.length) {
    const t = Number(body.slice(p, body.indexOf("\t", p)));
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
  }
  return { ...c, firstSeq: c.firstSeq + k, n: c.n - k, body, minTime, maxTime };
}
