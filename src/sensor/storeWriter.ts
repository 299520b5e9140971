/**
 * StoreWriter: EventStore appends off the pipeline's thread. SQLite inserts
 * were the largest per-event cost in Node (bench/sensor.ts, "where the time
 * goes"); on a worker thread they overlap parsing and mapping of the next
 * events instead of adding to them.
 *
 * Messages (records are encoded on the main thread, so only bytes, strings
 * and numbers cross):
 *   main → worker  { op: "append", id, bytes, fragments }  a packed batch (packedBatch.ts); its buffer is transferred, not copied
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
import type { EncodedRecord } from "./eventChunks.js";
import { EventStore } from "./eventStore.js";
import { packRows, unpackRows, type Packed } from "./packedBatch.js";

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
    return packed === undefined ? this.send({ op: "append", rows }) : this.appendPacked(packed);
  }

  /** Appends a packed batch; its buffer moves to the worker (unusable here afterwards). */
  appendPacked(p: Packed): Promise<AppendOutcome> {
    return this.send({ op: "append", bytes: p.bytes, fragments: p.fragments }, [p.bytes.buffer as ArrayBuffer]);
  }

  /** Resolves when every append sent before has been committed (or failed). */
  async sync(): Promise<void> {
    await this.send({ op: "sync" });
  }

  async close(): Promise<void> {
    await this.sync();
    await this.worker.terminate();
  }

  private send(msg: { op: "append"; rows: EncodedRecord[] } | { op: "append"; bytes: Uint8Array; fragments: readonly string[] } | { op: "sync" }, transfer: ArrayBuffer[] = []): Promise<AppendOutcome> {
    const id = this.nextId++;
    if (this.gone !== undefined) return Promise.resolve({ ok: false, last: 0, error: this.gone });
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      // A pending answer keeps the process alive; an idle writer does not.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage({ ...msg, id }, transfer);
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
  port.on("message", (m: { op: string; id: number; rows?: EncodedRecord[]; bytes?: Uint8Array; fragments?: string[] }) => {
    if (!store) return port.postMessage({ id: m.id, ok: false, error: "the store did not open" });
    if (m.op === "sync") return port.postMessage({ id: m.id, ok: true, last: 0 });
    try {
      port.postMessage({ id: m.id, ok: true, last: store.appendEncoded(m.bytes !== undefined ? unpackRows({ bytes: m.bytes, fragments: m.fragments ?? [] }) : m.rows ?? []) });
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
}
