/**
 * The device daemon (`palisade agent`, docs/agent.md). Three loops over one
 * durable store:
 *
 * - poll: GET the desired state (ETag, jittered interval, exponential backoff
 *   with jitter on errors), verify every bundle against the keys pinned at
 *   enrollment (desiredStateSync.ts), update the accepted set;
 * - reconcile: make running instances match the accepted set, restart per
 *   policy, queue status reports (on change, and a heartbeat);
 * - flush: deliver queued status and alerts (outbox.ts), backing off while
 *   the hub is away and resuming as soon as a poll succeeds.
 *
 * Everything the loops act on is on disk first, so the agent can be killed
 * at any moment and restarted with the same state; workloads run in their
 * own supervisor processes and are adopted, not restarted. With the hub
 * unreachable at start, the agent runs what it last verified.
 *
 * Errors are rendered here, in one place (AgentLog.error): a failed poll or
 * delivery is a log line with code and hint, never a stack trace. Only two
 * things end the agent with an error: the hub saying this node is revoked,
 * and a broken local state at start.
 */
import { PalisadeError } from "../core/errors.js";
import { agentAlert, eventAlertId, type AgentEvent } from "./agentAlerts.js";
import { acquireAgentLock } from "./agentLock.js";
import type { AgentSensor } from "./agentSensor.js";
import type { AgentLog } from "./agentLog.js";
import { agentPaths, ensureAgentDirs, type AgentPaths } from "./agentPaths.js";
import { AgentStore, type AcceptedWorkload, type Identity } from "./agentStore.js";
import { Backoff, jittered } from "./backoff.js";
import { BundleCache } from "./bundleCache.js";
import { factsOfAccepted, inspectBundle, type BundleFacts } from "./bundleFacts.js";
import { verifyBundle } from "./bundleVerifier.js";
import { parseDesiredState } from "./desiredStateDoc.js";
import { syncDesiredState, type RevokedKeyMode, type SyncResult } from "./desiredStateSync.js";
import { ensureEnrolled } from "./ensureEnrolled.js";
import { NodeHubClient } from "./hubClient.js";
import { isTransient } from "./hubHttp.js";
import { ProcessInstanceRuntime, type InstanceRuntime } from "./instanceRuntime.js";
import { Outbox } from "./outbox.js";
import { OutboxSender } from "./outboxSender.js";
import { formatDuration } from "./parseDuration.js";
import { Reconciler, type DesiredInstance, type StatusEntry } from "./reconciler.js";
import { Waker } from "./waker.js";

export interface AgentOptions {
  readonly dataDir: string;
  readonly hubUrl?: string;
  readonly token?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly pollMs: number;
  readonly onRevokedKey: RevokedKeyMode;
  /** A status report is queued on every change and at least this often. */
  readonly statusIntervalMs?: number;
  readonly reconcileMs?: number;
  readonly stopGraceMs?: number;
  /** Cap of the exponential delay before restarting a workload that exited (default 60 s). */
  readonly maxRestartDelayMs?: number;
  readonly queueMax?: number;
  readonly log: AgentLog;
  /** argv prefix that runs the palisade CLI (for `palisade agent exec` supervisors). */
  readonly command?: readonly string[];
  /**
   * Parse bundles in a short-lived child (`<command> agent inspect-bundle`),
   * not in the agent: the YAML parsers then never load into the long-lived
   * process (bundleFacts.ts). The CLI sets it; without it (tests, library
   * use) bundles are parsed in-process.
   */
  readonly inspectInChild?: boolean;
  /** Tests substitute the runtime. */
  readonly runtime?: (paths: AgentPaths, store: AgentStore) => InstanceRuntime;
  readonly hostname?: string;
  /**
   * Run the kernel sensor (agentSensor.ts): watch every instance, keep its
   * records in <data dir>/events.db, forward its alerts to the hub. Off unless
   * asked (the CLI asks unless --no-sensor); an object passes sensor options.
   */
  readonly sensor?: boolean | { readonly binDir?: string; readonly maxRecords?: number; readonly ringbufKb?: number };
}

interface RefusalNote {
  readonly deployment: string;
  readonly digest: string;
  readonly name: string;
  readonly version: number;
  readonly message: string;
  readonly reason: string;
}

export class Agent {
  readonly paths: AgentPaths;
  readonly store: AgentStore;
  readonly outbox: Outbox;
  readonly cache: BundleCache;
  identity!: Identity;
  #client!: NodeHubClient;
  #reconciler!: Reconciler;
  #sender!: OutboxSender;
  #releaseLock: () => void;
  #stopped = false;
  #fatal: PalisadeError | undefined;
  #flushing = false;
  readonly #pollWaker = new Waker();
  readonly #reconcileWaker = new Waker();
  readonly #flushWaker = new Waker();
  readonly #pollBackoff: Backoff;
  readonly #flushBackoff: Backoff;
  #sensor: AgentSensor | undefined;
  #lastStatusKey = "";
  #lastStatusAt = 0;

  private constructor(private readonly opts: AgentOptions) {
    this.paths = agentPaths(opts.dataDir);
    ensureAgentDirs(this.paths);
    this.#releaseLock = acquireAgentLock(this.paths.pidFile);
    try {
      this.store = AgentStore.open(this.paths.db);
    } catch (e) {
      this.#releaseLock();
      throw e;
    }
    this.cache = new BundleCache(this.paths.bundles);
    this.outbox = new Outbox(this.store.db, {
      ...(opts.queueMax ? { maxItems: opts.queueMax } : {}),
      onEnqueue: (kind, id, dropped) => {
        opts.log.info(`queued ${kind} ${id}`, { queued: this.outbox.size(kind), ...(dropped ? { droppedOldest: dropped } : {}) });
        if (!this.#flushing && this.#flushBackoff.failures === 0) this.#flushWaker.wake();
      },
    });
    // Retry at most every 10 polls (at most 5 minutes): soon enough to notice the hub is back, gentle on a fleet.
    const maxMs = Math.min(Math.max(opts.pollMs, 10 * opts.pollMs), 300_000);
    this.#pollBackoff = new Backoff({ initialMs: Math.min(1000, opts.pollMs), maxMs: Math.max(maxMs, Math.min(1000, opts.pollMs)) });
    this.#flushBackoff = new Backoff({ initialMs: Math.min(1000, opts.pollMs), maxMs: Math.max(maxMs, Math.min(1000, opts.pollMs)) });
  }

  /** Locks the data directory, opens the store, enrolls if needed, and loads the verified cache. */
  static async open(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts);
    try {
      await agent.#init();
      return agent;
    } catch (e) {
      agent.close();
      throw e;
    }
  }

  async #init(): Promise<void> {
    const { log } = this.opts;
    const revoked = this.store.getMeta("node_revoked");
    if (revoked) {
      throw new PalisadeError("HUB_NODE_REVOKED", `this node was revoked by the hub (${revoked})`, { hint: "an admin must enroll the device again: a new --data-dir and a new enrollment token" });
    }
    const { identity, key } = await ensureEnrolled(this.paths, this.store, log, {
      ...(this.opts.hubUrl ? { hubUrl: this.opts.hubUrl } : {}),
      ...(this.opts.token ? { token: this.opts.token } : {}),
      ...(this.opts.labels ? { labels: this.opts.labels } : {}),
      ...(this.opts.hostname ? { hostname: this.opts.hostname } : {}),
      stopped: () => this.#stopped,
    });
    this.identity = identity;
    this.#client = new NodeHubClient(identity.hubUrl, identity.nodeId, key.privateKey);
    this.#sender = new OutboxSender(this.outbox, (kind, items) => this.#client.deliver(kind, items), log);
    const command = this.#command();
    const runtime = this.opts.runtime?.(this.paths, this.store) ?? new ProcessInstanceRuntime(this.paths, this.store, { command, stopGraceMs: this.opts.stopGraceMs ?? 10_000 });
    this.#reconciler = new Reconciler({
      store: this.store,
      outbox: this.outbox,
      runtime,
      log,
      nodeId: identity.nodeId,
      ...(this.opts.maxRestartDelayMs ? { restartMaxMs: this.opts.maxRestartDelayMs, restartBaseMs: Math.min(1000, this.opts.maxRestartDelayMs) } : {}),
    });
    await this.#loadVerifiedCache();
    if (this.opts.sensor) {
      const s = typeof this.opts.sensor === "object" ? this.opts.sensor : {};
      // Loaded only when asked for: the pipeline (policy evaluation, events.db) is most of what an agent --no-sensor saves.
      const { AgentSensor } = await import("./agentSensor.js");
      this.#sensor = await AgentSensor.start({
        paths: this.paths,
        store: this.store,
        cache: this.cache,
        outbox: this.outbox,
        log,
        nodeId: identity.nodeId,
        factsOf: (digest) => this.#factsOf(digest),
        ...(s.binDir || s.ringbufKb ? { sensor: { ...(s.binDir ? { binDir: s.binDir } : {}), ...(s.ringbufKb ? { ringbufKb: s.ringbufKb } : {}) } } : {}),
        ...(s.maxRecords ? { maxRecords: s.maxRecords } : {}),
      });
      // Watch the instances this agent adopts (still running from before a restart) now, not at
      // the sensor's first periodic sync 2 s later: their events from here on are seen.
      await this.#sensor?.sync().catch((e: unknown) => log.warn(`sensor: first sync failed: ${e instanceof Error ? e.message : String(e)}`));
    }
    log.info(`agent ready`, {
      node: identity.nodeId,
      hub: identity.hubUrl,
      pinnedKeys: this.store.pinnedKeys().length,
      accepted: this.store.accepted().length,
      queued: this.outbox.size(),
      onRevokedKey: this.opts.onRevokedKey,
    });
  }

  #command(): readonly string[] {
    return this.opts.command ?? [process.execPath, ...process.execArgv, process.argv[1] ?? ""];
  }

  /** Parses a verified bundle into its facts (in a child when asked: see AgentOptions.inspectInChild). */
  #inspect(bytes: Buffer, digest: string): Promise<BundleFacts> {
    return inspectBundle(bytes, digest, {
      ...(this.opts.inspectInChild ? { command: this.#command() } : {}),
      onFallback: (why) => this.opts.log.warn(`parsing bundle ${digest} in the agent: the inspect-bundle child could not (${why})`),
    });
  }

  /** The facts of an accepted bundle, stored at acceptance or parsed again (bundleFacts.ts). */
  #factsOf(digest: string): Promise<BundleFacts> {
    return factsOfAccepted({ store: this.store, cache: this.cache, inspect: (b, d) => this.#inspect(b, d) }, digest);
  }

  /** At start: re-verify every cached bundle before anything runs from it (the hub may be unreachable). */
  async #loadVerifiedCache(): Promise<void> {
    const revoked = this.store.revokedKeys();
    const keep: AcceptedWorkload[] = [];
    for (const a of this.store.accepted()) {
      const bytes = this.cache.get(a.digest);
      try {
        if (!bytes) throw new PalisadeError("AGENT_STATE", `bundle ${a.digest} for ${a.deployment} is missing from the cache or corrupt`, { hint: "it is fetched again from the hub" });
        verifyBundle(bytes, a, { pinnedKey: (id) => this.store.pinnedKey(id), isRevoked: (id) => revoked.has(id), versionMark: (n) => this.store.versionMark(n) }, { allowRevoked: this.opts.onRevokedKey === "keep" });
        await this.#factsOf(a.digest);
        keep.push(a);
      } catch (err) {
        this.opts.log.error(`not running ${a.deployment} from the cache`, err);
        this.#alert({ operation: "Bundle", resource: a.digest, action: "Block", severity: 8, message: `cached bundle for ${a.deployment} failed verification at start`, result: (err as Error).message, deployment: a.deployment }, "cache", a.digest);
      }
    }
    if (keep.length !== this.store.accepted().length) {
      this.store.replaceAccepted(keep);
      this.store.setMeta("desired_etag", undefined);
    }
    await this.#updateDesired();
  }

  /** Runs until stop(); rejects only when the node was revoked. */
  async run(): Promise<void> {
    await Promise.all([this.#pollLoop(), this.#reconcileLoop(), this.#flushLoop()]);
    // What the kernel reported until now is stored and queued (delivered by the next agent if not now).
    await this.#sensor?.close().catch((e: unknown) => this.opts.log.error("could not stop the sensor cleanly", e));
    this.#sensor = undefined;
    if (this.#fatal) {
      // Revoked: the fleet no longer trusts this device; nothing it was sent keeps running.
      this.#reconciler.setDesired([]);
      await this.#reconciler.tick().catch((e: unknown) => this.opts.log.error("could not stop workloads", e));
      throw this.#fatal;
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#pollWaker.wake();
    this.#reconcileWaker.wake();
    this.#flushWaker.wake();
  }

  close(): void {
    try {
      this.store.close();
    } finally {
      this.#releaseLock();
    }
  }

  async #pollLoop(): Promise<void> {
    const { log } = this.opts;
    while (!this.#stopped) {
      let delay: number;
      try {
        await this.#pollOnce();
        if (this.#pollBackoff.failures > 0) log.info("the hub is reachable again", { after: `${this.#pollBackoff.failures} failed polls` });
        this.#pollBackoff.succeed();
        delay = jittered(this.opts.pollMs);
        if (this.outbox.size() > 0) {
          this.#flushBackoff.succeed();
          this.#flushWaker.wake();
        }
      } catch (err) {
        if (err instanceof PalisadeError && err.code === "HUB_NODE_REVOKED") return this.#onRevoked(err);
        delay = this.#pollBackoff.fail();
        log.error(`poll failed (${this.#pollBackoff.failures} in a row); next try in ${formatDuration(delay)}`, err, {}, isTransient(err) ? "warn" : "error");
      }
      await this.#pollWaker.wait(delay);
    }
  }

  async #pollOnce(): Promise<void> {
    const answer = await this.#client.desiredState(this.store.getMeta("desired_etag"));
    if (!answer.changed) return;
    const doc = parseDesiredState(answer.body);
    if (doc.orgId !== this.identity.orgId) {
      throw new PalisadeError("HUB_BAD_REQUEST", `the desired state is for org ${doc.orgId}, but this node belongs to ${this.identity.orgId}`, { hint: "check --hub; nothing was changed" });
    }
    const result = await syncDesiredState(doc, answer.etag, {
      store: this.store,
      cache: this.cache,
      fetchBundle: (digest) => this.#client.bundle(digest),
      onRevokedKey: this.opts.onRevokedKey,
      inspect: (bytes, digest) => this.#inspect(bytes, digest),
    });
    await this.#afterSync(result);
    if (!result.complete) throw result.transientErrors[0]!;
  }

  async #afterSync(r: SyncResult): Promise<void> {
    const { log } = this.opts;
    for (const keyId of r.newlyRevoked) {
      const pinned = this.store.pinnedKey(keyId);
      log.warn(`publisher key ${keyId} is revoked: bundles signed with it are refused from now on`, { publisher: pinned?.publisherName ?? "(not pinned here)" });
      this.#alert({ operation: "PublisherKey", resource: keyId, action: "Block", severity: 6, message: `publisher key ${keyId} revoked; this device no longer trusts it`, result: "revoked" }, "revoked", keyId);
    }
    for (const a of r.droppedForRevocation) {
      log.warn(`stopping ${a.deployment}: its bundle ${a.name} v${a.version} is signed by revoked key ${a.keyId}`, { onRevokedKey: "stop" });
    }
    const notes: RefusalNote[] = [];
    for (const f of r.refusals) {
      const reason = String(f.error.details?.reason ?? f.error.code);
      notes.push({ deployment: f.deployment, digest: f.digest, name: f.name, version: f.version, message: f.error.message, reason });
      const id = this.#alert(
        { operation: "Bundle", resource: f.digest, action: "Block", severity: 8, message: `refused bundle for ${f.deployment}: ${f.error.message}`, result: reason, deployment: f.deployment, tags: ["palisade-agent", "supply-chain"] },
        "refused",
        f.deployment,
        f.digest,
        reason,
      );
      log.error(`refused bundle ${f.name} v${f.version} for ${f.deployment}`, f.error, { reason, alert: id });
    }
    this.store.setMeta("refusals", JSON.stringify(notes));
    await this.#updateDesired();
  }

  /** Turns the accepted set (and refusals) into what the reconciler should run. */
  async #updateDesired(): Promise<void> {
    const notes = JSON.parse(this.store.getMeta("refusals") ?? "[]") as RefusalNote[];
    const byDeployment = new Map(notes.map((n) => [n.deployment, n]));
    const list: DesiredInstance[] = [];
    for (const a of this.store.accepted()) {
      // Missing or corrupt in the cache: not run; the next poll fetches the full document again.
      if (!this.cache.get(a.digest)) {
        this.store.setMeta("desired_etag", undefined);
        continue;
      }
      let facts: BundleFacts;
      try {
        facts = await this.#factsOf(a.digest);
      } catch (err) {
        this.opts.log.error(`not running ${a.deployment}: its bundle ${a.digest} cannot be read`, err);
        this.store.setMeta("desired_etag", undefined);
        continue;
      }
      const refused = byDeployment.get(a.deployment);
      list.push({
        instance: a.deployment,
        namespace: facts.namespace,
        deployment: a.deployment,
        digest: a.digest,
        name: a.name,
        version: a.version,
        restartPolicy: facts.restartPolicy,
        ...(refused ? { note: `refused ${refused.name} v${refused.version}: ${refused.reason}` } : {}),
      });
    }
    const running = new Set(list.map((d) => d.deployment));
    const extra: StatusEntry[] = notes
      .filter((n) => !running.has(n.deployment))
      .map((n) => ({ deployment: n.deployment, name: n.deployment, bundleDigest: n.digest, state: "refused", message: n.message.slice(0, 2000) }));
    this.#reconciler.setDesired(list, extra);
    this.#reconcileWaker.wake();
  }

  async #reconcileLoop(): Promise<void> {
    while (!this.#stopped) {
      try {
        const statuses = await this.#reconciler.tick();
        this.#maybeQueueStatus(statuses);
      } catch (err) {
        this.opts.log.error("reconcile failed", err);
      }
      await this.#reconcileWaker.wait(this.opts.reconcileMs ?? 2000);
    }
  }

  #maybeQueueStatus(statuses: readonly StatusEntry[]): void {
    // A countdown ("restarting in 3 s") changes every tick and is not news; any other change is.
    const key = JSON.stringify(statuses.map((s) => [s.deployment, s.name, s.bundleDigest, s.state, s.state === "restarting" ? "" : s.message]));
    const now = Date.now();
    if (key === this.#lastStatusKey && now - this.#lastStatusAt < (this.opts.statusIntervalMs ?? 300_000)) return;
    this.outbox.enqueue("status", (id) => Reconciler.statusItem(id, statuses));
    this.#lastStatusKey = key;
    this.#lastStatusAt = now;
  }

  async #flushLoop(): Promise<void> {
    const { log } = this.opts;
    while (!this.#stopped) {
      let delay = 5000;
      if (this.outbox.size() > 0) {
        this.#flushing = true;
        try {
          const r = await this.#sender.flush();
          if (this.#flushBackoff.failures > 0) log.info("delivery to the hub works again");
          this.#flushBackoff.succeed();
          if (r.delivered > 0) log.info(`delivered ${r.delivered} queued items`, { duplicates: r.duplicates, rejected: r.rejected, queued: this.outbox.size() });
        } catch (err) {
          if (err instanceof PalisadeError && err.code === "HUB_NODE_REVOKED") {
            this.#onRevoked(err);
            return;
          }
          delay = this.#flushBackoff.fail();
          log.error(`delivery failed (${this.#flushBackoff.failures} in a row, ${this.outbox.size()} items kept); next try in ${formatDuration(delay)}`, err, {}, isTransient(err) ? "warn" : "error");
        } finally {
          this.#flushing = false;
        }
      }
      await this.#flushWaker.wait(delay);
    }
  }

  #onRevoked(err: PalisadeError): void {
    if (this.#fatal) return;
    this.opts.log.error("the hub revoked this node; stopping its workloads and the agent", err);
    this.store.setMeta("node_revoked", `${new Date().toISOString()}: ${err.message}`);
    this.#fatal = err;
    this.stop();
  }

  /** Queues an agent alert with an id derived from `key` (raising the same event twice is harmless). */
  #alert(ev: AgentEvent, ...key: string[]): string {
    const id = eventAlertId(this.identity?.nodeId ?? "", ...key);
    try {
      this.outbox.enqueue("alert", (i) => agentAlert(i, this.identity?.nodeId ?? "", ev), id);
    } catch (err) {
      this.opts.log.error("could not queue an alert", err);
    }
    return id;
  }
}
