/**
 * Delivers the outbox to the hub in batches, oldest first, deleting items
 * only after the hub answered 200 for them (see outbox.ts for the delivery
 * guarantees). A batch the hub rejects as malformed is split, and a single
 * item the hub can never accept is dropped and logged, so one bad item
 * cannot block the queue for ever; anything else (hub down, 5xx) stops the
 * flush with the items kept, and the caller retries with backoff.
 */
import { PalisadeError } from "../core/errors.js";
import type { AgentLog } from "./agentLog.js";
import type { Outbox, OutboxItem, OutboxKind } from "./outbox.js";

export type Deliver = (kind: OutboxKind, items: readonly Record<string, unknown>[]) => Promise<{ stored: number; duplicates: string[] }>;

/** Hub limits are 500 status and 1000 alert items per request; stay well inside them. */
const BATCH: Record<OutboxKind, number> = { status: 100, alert: 500 };

export interface FlushResult {
  readonly delivered: number;
  readonly duplicates: number;
  readonly rejected: number;
}

export class OutboxSender {
  constructor(
    private readonly outbox: Outbox,
    private readonly deliver: Deliver,
    private readonly log: AgentLog,
  ) {}

  /** Sends everything queued; throws the first transport/hub error (items stay queued). */
  async flush(): Promise<FlushResult> {
    const total = { delivered: 0, duplicates: 0, rejected: 0 };
    for (const kind of ["alert", "status"] as const) {
      for (;;) {
        const batch = this.outbox.peek(kind, BATCH[kind]);
        if (batch.length === 0) break;
        const r = await this.#send(kind, batch);
        total.delivered += r.delivered;
        total.duplicates += r.duplicates;
        total.rejected += r.rejected;
      }
    }
    return total;
  }

  async #send(kind: OutboxKind, batch: readonly OutboxItem[]): Promise<FlushResult> {
    try {
      const r = await this.deliver(kind, batch.map((b) => b.item));
      this.outbox.ack(batch.map((b) => b.id));
      for (const b of batch) this.log.debug(`delivered ${kind} ${b.id}`, { duplicate: r.duplicates.includes(b.id) });
      return { delivered: batch.length, duplicates: r.duplicates.length, rejected: 0 };
    } catch (err) {
      if (!(err instanceof PalisadeError && err.code === "HUB_BAD_REQUEST" && Number(err.details?.status) === 400)) throw err;
      if (batch.length === 1) {
        this.log.error(`the hub refuses ${kind} item ${batch[0]!.id}; dropping it`, err);
        this.outbox.ack([batch[0]!.id]);
        return { delivered: 0, duplicates: 0, rejected: 1 };
      }
      // Find the bad item(s) without giving up the good ones.
      const total = { delivered: 0, duplicates: 0, rejected: 0 };
      for (const item of batch) {
        const r = await this.#send(kind, [item]);
        total.delivered += r.delivered;
        total.duplicates += r.duplicates;
        total.rejected += r.rejected;
      }
      return total;
    }
  }
}
