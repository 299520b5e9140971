/**
 * A batch of encoded records on its way from the pipeline's thread to the
 * store (the StoreWriter worker, or inline): one UTF-8 byte buffer, one line
 * per record, fields separated by TAB:
 *
 *   <time_ms> TAB <kind> TAB <workload as a JSON string> TAB <at> TAB <f> TAB <record JSON> LF
 *
 * `at` and `f` are empty for a whole record; for one written without its
 * workload's fields (eventChunks.ts) `at` is where they go and `f` the index
 * of their text in `fragments` (each distinct fragment crosses once a batch).
 * Safe because JSON text never holds a raw TAB or LF (JSON.stringify escapes
 * every control character) and kind is "alert" or "log"; a record that holds
 * either anyway (one not made by JSON.stringify) cannot be packed.
 *
 * Why bytes, written as records arrive: the records waiting for the next
 * batch used to be JS strings and arrays, which outlived the young
 * generation's collections and were copied and promoted by V8's GC — about a
 * fifth of the pipeline's CPU per event (docs/benchmarks.md, "Sensor"). Here
 * each record's text dies at once; the batch lives outside the JS heap and its
 * buffer is handed to the worker without a copy.
 */
import type { EncodedRecord } from "./eventChunks.js";

export interface Packed {
  /** The lines, UTF-8. */
  readonly bytes: Uint8Array;
  readonly fragments: readonly string[];
  readonly rows: number;
  readonly alerts: number;
}

/** Whether `row` can go into a packed batch (see the format above). */
export function packable(row: EncodedRecord): boolean {
  return typeof row[3] === "string" && !row[3].includes("\n") && !row[3].includes("\t");
}

export class PackedBatch {
  private buf: Buffer;
  private used = 0;
  private fragments: string[] = [];
  private lastFragment: string | undefined;
  private lastIndex = -1;
  private lastWorkload: string | undefined;
  private lastWorkloadJson = "";
  rows = 0;
  alerts = 0;

  constructor(private readonly initialBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Adds a record; false (and nothing added) when it cannot be packed. */
  add(row: EncodedRecord): boolean {
    if (!packable(row)) return false;
    const [time, kind, workload] = row;
    if (workload !== this.lastWorkload) {
      this.lastWorkload = workload;
      this.lastWorkloadJson = JSON.stringify(workload);
    }
    let tail = "\t";
    if (row.length === 6) {
      if (row[5] !== this.lastFragment) {
        this.lastFragment = row[5];
        this.lastIndex = this.fragments.indexOf(row[5]);
        if (this.lastIndex < 0) this.lastIndex = this.fragments.push(row[5]) - 1;
      }
      tail = `${row[4]}\t${this.lastIndex}`;
    }
    this.write(`${time}\t${kind}\t${this.lastWorkloadJson}\t${tail}\t${row[3]}\n`);
    this.rows++;
    if (kind === "alert") this.alerts++;
    return true;
  }

  /** The batch so far (its buffer is the caller's now); this one starts empty. */
  take(): Packed {
    const out: Packed = { bytes: this.buf.subarray(0, this.used), fragments: this.fragments, rows: this.rows, alerts: this.alerts };
    this.buf = Buffer.allocUnsafeSlow(Math.max(this.initialBytes, Math.min(this.buf.length, 4 * this.used)));
    this.used = 0;
    this.fragments = [];
    this.lastFragment = undefined;
    this.lastIndex = -1;
    this.rows = 0;
    this.alerts = 0;
    return out;
  }

  private write(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.used + line.length * 3 > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.used + line.length * 3));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    this.used += this.buf.write(line, this.used, "utf8");
  }
}

/** rows as one packed batch, or undefined when one of them cannot be packed. */
export function packRows(rows: readonly EncodedRecord[]): Packed | undefined {
  const b = new PackedBatch(1024);
  for (const r of rows) if (!b.add(r)) return undefined;
  return b.take();
}

export function unpackRows(packed: Pick<Packed, "bytes" | "fragments">): EncodedRecord[] {
  const text = Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength).toString("utf8");
  const rows: EncodedRecord[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    const t1 = text.indexOf("\t", at);
    const t2 = text.indexOf("\t", t1 + 1);
    const t3 = text.indexOf("\t", t2 + 1);
    const t4 = text.indexOf("\t", t3 + 1);
    const t5 = text.indexOf("\t", t4 + 1);
    if (end < 0 || t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0 || t5 < 0 || t5 > end) throw new Error(`bad packed batch at offset ${at}`);
    const kind = text.slice(t1 + 1, t2);
    if (kind !== "alert" && kind !== "log") throw new Error(`bad record kind ${JSON.stringify(kind)} in a packed batch`);
    const time = Number(text.slice(at, t1));
    const workload = JSON.parse(text.slice(t2 + 1, t3)) as string;
    const record = text.slice(t5 + 1, end);
    if (t4 === t3 + 1) rows.push([time, kind, workload, record]);
    else {
      const fragment = packed.fragments[Number(text.slice(t4 + 1, t5))];
      if (fragment === undefined) throw new Error(`bad fragment index in a packed batch at offset ${at}`);
      rows.push([time, kind, workload, record, Number(text.slice(t3 + 1, t4)), fragment]);
    }
    at = end + 1;
  }
  return rows;
}
