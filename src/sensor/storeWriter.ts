/**
 * StoreWriter: EventStore appends off the pipeline's thread. SQLite inserts
 * were the largest per-event cost in Node (bench/sensor.ts, "where the time
 * goes"); on a worker thread they overlap parsing and mapping of the next
 * events instead of adding to them.
 *
 * Messages (structured clone; records are encoded on the main thread, so
 * only strings and numbers cross):
 *   main → worker  { op: "append", id, packed: string }   the batch, packed (below)
 *                  { op: "append", id, rows: EncodedRecord[] }  a batch that cannot be packed
 *                  { op: "sync", id }          answered after every earlier append
 *   worker → main  { id, ok: true, last }      last = seq of the batch's last row (0 for sync)
 *                  { id, ok: false, error }    the batch was not stored (one transaction: all or none)
 *                  { ready: true } / { ready: false, error }  after opening the store
 * The worker opens its own connection to the same file (WAL: the caller's
 * connection keeps reading and writing sensor_stats; writers wait on each other).
 *
 * When no worker can be started (an in-memory store, a runtime without the
 * TypeScript loader) appends run inline, as before.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { EventStore, type EncodedRecord } from "./eventStore.js";

/** The worker's entry (CommonJS, eval'd): the loader when needed, then this module, whose bottom half serves. */
const BOOT = `const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})();`;

/** tsx's ESM API module: require.resolve finds its CommonJS twin, whose register() fails when imported from ESM. */
function tsxEsmApi(from: string): string {
  const mjs = createRequire(from).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  if (!existsSync(mjs)) throw new Error("tsx's ESM API is missing");
  return pathToFileURL(mjs).href;
}

/**
 * A batch as one string: a structured clone of N small arrays cost the
 * pipeline thread ≈ 3.6 µs per record, one string of the same bytes almost
 * nothing. One line per record, fields separated by TAB:
 *
 *   <time_ms> TAB <kind> TAB <workload as a JSON string> TAB <record JSON> LF
 *
 * Safe because JSON text never holds a raw TAB or LF (JSON.stringify escapes
 * every control character) and kind is "alert" or "log"; a batch holding
 * either anyway (a record not made by JSON.stringify), or a malformed row, is
 * sent as arrays (and a malformed row then fails its batch in the worker).
 */
export function packRows(rows: readonly EncodedRecord[]): string | undefined {
  let out = "";
  for (const [time, kind, workload, record] of rows) {
    if (typeof record !== "string" || record.includes("\n") || record.includes("\t")) return undefined;
    out += `${time}\t${kind}\t${JSON.stringify(workload)}\t${record}\n`;
  }
  return out;
}

export function unpackRows(packed: string): EncodedRecord[] {
  const rows: EncodedRecord[] = [];
  let at = 0;
  while (at < packed.length) {
    const end = packed.indexOf("\n", at);
    const t1 = packed.indexOf("\t", at);
    const t2 = packed.indexOf("\t", t1 + 1);
    const t3 = packed.indexOf("\t", t2 + 1);
    if (end < 0 || t1 < 0 || t2 < 0 || t3 < 0 || t3 > end) throw new Error(`bad packed batch at offset ${at}`);
    const kind = packed.slice(t1 + 1, t2);
    if (kind !== "alert" && kind !== "log") throw new Error(`bad record kind ${JSON.stringify(kind)} in a packed batch`);
    rows.push([Number(packed.slice(at, t1)), kind, JSON.parse(packed.slice(t2 + 1, t3)) as string, packed.slice(t3 + 1, end)]);
    at = end + 1;
  }
  return rows;
}

type Reply = { id: number; ok: true; last: number } | { id: number; ok: false; error: string };

export interface AppendOutcome {
  readonly ok: boolean;
  /** seq of the batch's last row when ok. */
  readonly last: number;
  readonly error?: string;
}

export class StoreWriter {
  private nextId = 1;
  private gone?: string;
  private readonly waiting = new Map<number, (r: AppendOutcome) => void>();

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: Reply) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.ok ? { ok: true, last: m.last } : { ok: false, last: 0, error: m.error });
    });
    worker.on("error", (e) => this.failAll(e.message));
    worker.on("exit", () => this.failAll("the store worker exited"));
  }

  /** A writer for the store at `path`, or undefined when a worker cannot serve it (then append inline). */
  static async start(path: string, maxRecords: number): Promise<StoreWriter | undefined> {
    if (path === ":memory:" || path === "") return undefined;
    const entry = import.meta.url;
    let worker: Worker;
    try {
      // Under tsx or vitest this file is TypeScript: the worker registers tsx's loader before importing it
      // (Node 20 does not apply `--import tsx` in a worker's execArgv to the worker's entry module).
      const tsx = entry.endsWith(".ts") ? tsxEsmApi(entry) : undefined;
      worker = new Worker(BOOT, { eval: true, workerData: { entry, tsx, path, maxRecords } });
    } catch {
      return undefined;
    }
    const ready = await new Promise<boolean>((resolve) => {
      worker.once("message", (m: { ready?: boolean }) => resolve(m.ready === true));
      worker.once("error", () => resolve(false));
      worker.once("exit", () => resolve(false));
    });
    if (!ready) {
      await worker.terminate().catch(() => undefined);
      return undefined;
    }
    worker.unref();
    return new StoreWriter(worker);
  }

  append(rows: EncodedRecord[]): Promise<AppendOutcome> {
    const packed = packRows(rows);
    return this.send(packed === undefined ? { op: "append", rows } : { op: "append", packed });
  }

  /** Resolves when every append sent before has been committed (or failed). */
  async sync(): Promise<void> {
    await this.send({ op: "sync" });
  }

  async close(): Promise<void> {
    await this.sync();
    await this.worker.terminate();
  }

  private send(msg: { op: "append"; rows: EncodedRecord[] } | { op: "append"; packed: string } | { op: "sync" }): Promise<AppendOutcome> {
    const id = this.nextId++;
    if (this.gone !== undefined) return Promise.resolve({ ok: false, last: 0, error: this.gone });
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      // A pending answer keeps the process alive; an idle writer does not.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage({ ...msg, id });
    }).finally(() => {
      if (this.waiting.size === 0) this.worker.unref();
    }) as Promise<AppendOutcome>;
  }

  private failAll(error: string): void {
    this.gone ??= error;
    for (const [id, done] of this.waiting) {
      this.waiting.delete(id);
      done({ ok: false, last: 0, error });
    }
  }
}

// The worker side: opens the store and appends batches in order, one transaction each.
if (!isMainThread && parentPort && (workerData as { path?: string } | null)?.path) {
  const port = parentPort;
  const { path, maxRecords } = workerData as { path: string; maxRecords: number };
  let store: EventStore | undefined;
  try {
    store = EventStore.open(path, { maxRecords });
    port.postMessage({ ready: true });
  } catch (e) {
    port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) });
  }
  port.on("message", (m: { op: string; id: number; rows?: EncodedRecord[]; packed?: string }) => {
    if (!store) return port.postMessage({ id: m.id, ok: false, error: "the store did not open" });
    if (m.op === "sync") return port.postMessage({ id: m.id, ok: true, last: 0 });
    try {
      port.postMessage({ id: m.id, ok: true, last: store.appendEncoded(m.packed !== undefined ? unpackRows(m.packed) : m.rows ?? []) });
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
}
