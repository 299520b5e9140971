/**
 * The agent's durable state, one SQLite file (`<data dir>/agent/agent.db`,
 * WAL, synchronous=FULL, mode 0600): who this node is, which publisher keys
 * it pinned at enrollment, which keys it learned are revoked, the highest
 * bundle version it has accepted per name (replay and rollback protection),
 * the desired state it last verified (what it runs when the hub is away), the
 * workload instances it started, and the outbox (outbox.ts).
 *
 * Trust only ever shrinks here after enrollment: there is no way to add a
 * pinned key, revocations are a growing set, and version marks only rise.
 */
import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { PalisadeError } from "../core/errors.js";

export interface Identity {
  readonly nodeId: string;
  readonly orgId: string;
  readonly hubUrl: string;
  readonly publicKey: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly enrolledAt: string;
}

export interface PinnedKey {
  readonly keyId: string;
  readonly publisherId: string;
  readonly publisherName: string;
  readonly publicKey: string;
}

/** A bundle the agent verified and will run for a deployment. */
export interface AcceptedWorkload {
  readonly deployment: string;
  readonly deploymentId: string;
  readonly revision: number;
  readonly digest: string;
  readonly name: string;
  readonly version: number;
  readonly publisherId: string;
  readonly keyId: string;
  readonly signature: string;
  readonly acceptedAt: string;
}

/** A workload instance the agent started (or adopted after a restart). */
export interface InstanceRecord {
  readonly instance: string;
  readonly namespace: string;
  readonly deployment: string;
  readonly digest: string;
  readonly supervisorPid: number | null;
  readonly spawnedAt: string | null;
  /** The finishedAt of the last exit already reported, so an exit is reported once. */
  readonly reportedExit: string | null;
}

export interface VersionMark {
  readonly version: number;
  readonly digest: string;
  readonly publisherId: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS pinned_keys (key_id TEXT PRIMARY KEY, publisher_id TEXT NOT NULL, publisher_name TEXT NOT NULL, public_key TEXT NOT NULL, pinned_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS revoked_keys (key_id TEXT PRIMARY KEY, learned_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS version_marks (name TEXT PRIMARY KEY, version INTEGER NOT NULL, digest TEXT NOT NULL, publisher_id TEXT NOT NULL, seen_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS accepted (
    deployment TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, revision INTEGER NOT NULL, digest TEXT NOT NULL, name TEXT NOT NULL,
    version INTEGER NOT NULL, publisher_id TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL, accepted_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS instances (
    instance TEXT PRIMARY KEY, namespace TEXT NOT NULL, deployment TEXT NOT NULL, digest TEXT NOT NULL,
    supervisor_pid INTEGER, spawned_at TEXT, reported_exit TEXT);
  -- What the agent needs of an accepted bundle without parsing it again (bundleFacts.ts: JSON, keyed by digest).
  CREATE TABLE IF NOT EXISTS bundle_facts (digest TEXT PRIMARY KEY, facts TEXT NOT NULL);
`;

/** Opens (creating) an agent database with the durability the outbox promises. */
export function openAgentDb(path: string, opts: { readonly?: boolean } = {}): Database.Database {
  if (!opts.readonly) closeSync(openSync(path, "a", 0o600));
  let db: Database.Database;
  try {
    db = new Database(path, opts.readonly ? { readonly: true, fileMustExist: true } : {});
  } catch (cause) {
    throw new PalisadeError("AGENT_STATE", `cannot open the agent database ${path}: ${(cause as Error).message}`, { hint: "check the --data-dir and its permissions", cause });
  }
  if (!opts.readonly) {
    chmodSync(path, 0o600);
    db.pragma("journal_mode = WAL");
    // FULL: a committed enqueue or version mark survives power loss, not just a process crash.
    db.pragma("synchronous = FULL");
    db.exec(SCHEMA);
  }
  db.pragma("busy_timeout = 5000");
  // The file is small (identity, keys, a bounded outbox); better-sqlite3's default page cache (16 MB) would grow into resident memory of a long-lived agent.
  db.pragma("cache_size = -512");
  return db;
}

export class AgentStore {
  constructor(readonly db: Database.Database) {}

  static open(path: string): AgentStore {
    return new AgentStore(openAgentDb(path));
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one immediate transaction (all or nothing, even across a crash). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.db.prepare("DELETE FROM meta WHERE key = ?").run(key);
    else this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  identity(): Identity | undefined {
    const raw = this.getMeta("identity");
    return raw === undefined ? undefined : (JSON.parse(raw) as Identity);
  }

  /** Records a completed enrollment: identity and the pinned keys, in one transaction. */
  saveEnrollment(identity: Identity, keys: readonly PinnedKey[]): void {
    this.tx(() => {
      if (this.identity() !== undefined) throw new PalisadeError("AGENT_STATE", "this data directory already holds an enrolled node");
      this.setMeta("identity", JSON.stringify(identity));
      const ins = this.db.prepare("INSERT INTO pinned_keys (key_id, publisher_id, publisher_name, public_key, pinned_at) VALUES (?, ?, ?, ?, ?)");
      for (const k of keys) ins.run(k.keyId, k.publisherId, k.publisherName, k.publicKey, identity.enrolledAt);
    });
  }

  updateIdentity(change: Partial<Pick<Identity, "hubUrl" | "labels">>): Identity {
    const cur = this.identity();
    if (!cur) throw new PalisadeError("AGENT_STATE", "the node is not enrolled");
    const next = { ...cur, ...change };
    this.setMeta("identity", JSON.stringify(next));
    return next;
  }

  pinnedKeys(): PinnedKey[] {
    const rows = this.db.prepare("SELECT key_id, publisher_id, publisher_name, public_key FROM pinned_keys ORDER BY key_id").all() as Record<string, string>[];
    return rows.map((r) => ({ keyId: r.key_id!, publisherId: r.publisher_id!, publisherName: r.publisher_name!, publicKey: r.public_key! }));
  }

  pinnedKey(keyId: string): PinnedKey | undefined {
    return this.pinnedKeys().find((k) => k.keyId === keyId);
  }

  revokedKeys(): Map<string, string> {
    const rows = this.db.prepare("SELECT key_id, learned_at FROM revoked_keys").all() as { key_id: string; learned_at: string }[];
    return new Map(rows.map((r) => [r.key_id, r.learned_at]));
  }

  /** Adds revocations (never removes one); returns the key ids that are new. */
  addRevokedKeys(keyIds: readonly string[], at = new Date().toISOString()): string[] {
    const ins = this.db.prepare("INSERT OR IGNORE INTO revoked_keys (key_id, learned_at) VALUES (?, ?)");
    return this.tx(() => keyIds.filter((k) => ins.run(k, at).changes > 0));
  }

  versionMark(name: string): VersionMark | undefined {
    const r = this.db.prepare("SELECT version, digest, publisher_id FROM version_marks WHERE name = ?").get(name) as { version: number; digest: string; publisher_id: string } | undefined;
    return r && { version: r.version, digest: r.digest, publisherId: r.publisher_id };
  }

  /** Raises the mark for `name` (never lowers it). */
  raiseVersionMark(name: string, mark: VersionMark): void {
    this.db
      .prepare(
        `INSERT INTO version_marks (name, version, digest, publisher_id, seen_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, digest = excluded.digest, publisher_id = excluded.publisher_id, seen_at = excluded.seen_at
         WHERE excluded.version > version_marks.version`,
      )
      .run(name, mark.version, mark.digest, mark.publisherId, new Date().toISOString());
  }

  accepted(): AcceptedWorkload[] {
    const rows = this.db.prepare("SELECT * FROM accepted ORDER BY deployment").all() as Record<string, string | number>[];
    return rows.map((r) => ({
      deployment: String(r.deployment),
      deploymentId: String(r.deployment_id),
      revision: Number(r.revision),
      digest: String(r.digest),
      name: String(r.name),
      version: Number(r.version),
      publisherId: String(r.publisher_id),
      keyId: String(r.key_id),
      signature: String(r.signature),
      acceptedAt: String(r.accepted_at),
    }));
  }

  /** Replaces the whole accepted set (the cache of verified desired state). */
  replaceAccepted(list: readonly AcceptedWorkload[]): void {
    this.tx(() => {
      this.db.prepare("DELETE FROM accepted").run();
      const ins = this.db.prepare(
        "INSERT INTO accepted (deployment, deployment_id, revision, digest, name, version, publisher_id, key_id, signature, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      for (const a of list) ins.run(a.deployment, a.deploymentId, a.revision, a.digest, a.name, a.version, a.publisherId, a.keyId, a.signature, a.acceptedAt);
    });
  }

  /** The stored facts (bundleFacts.ts encoding) of bundle `digest`, as stored: the caller checks them. */
  bundleFacts(digest: string): string | undefined {
    return (this.db.prepare("SELECT facts FROM bundle_facts WHERE digest = ?").get(digest) as { facts: string } | undefined)?.facts;
  }

  putBundleFacts(digest: string, facts: string): void {
    this.db.prepare("INSERT INTO bundle_facts (digest, facts) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET facts = excluded.facts").run(digest, facts);
  }

  /** Forgets the facts of every bundle not in `keep`. */
  pruneBundleFacts(keep: ReadonlySet<string>): void {
    const del = this.db.prepare("DELETE FROM bundle_facts WHERE digest = ?");
    for (const { digest } of this.db.prepare("SELECT digest FROM bundle_facts").all() as { digest: string }[]) if (!keep.has(digest)) del.run(digest);
  }

  instances(): InstanceRecord[] {
    const rows = this.db.prepare("SELECT * FROM instances ORDER BY instance").all() as Record<string, string | number | null>[];
    return rows.map((r) => ({
      instance: String(r.instance),
      namespace: String(r.namespace),
      deployment: String(r.deployment),
      digest: String(r.digest),
      supervisorPid: r.supervisor_pid === null ? null : Number(r.supervisor_pid),
      spawnedAt: r.spawned_at === null ? null : String(r.spawned_at),
      reportedExit: r.reported_exit === null ? null : String(r.reported_exit),
    }));
  }

  instance(name: string): InstanceRecord | undefined {
    return this.instances().find((i) => i.instance === name);
  }

  putInstance(r: InstanceRecord): void {
    this.db
      .prepare(
        `INSERT INTO instances (instance, namespace, deployment, digest, supervisor_pid, spawned_at, reported_exit) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (instance) DO UPDATE SET namespace = excluded.namespace, deployment = excluded.deployment, digest = excluded.digest,
           supervisor_pid = excluded.supervisor_pid, spawned_at = excluded.spawned_at, reported_exit = excluded.reported_exit`,
      )
      .run(r.instance, r.namespace, r.deployment, r.digest, r.supervisorPid, r.spawnedAt, r.reportedExit);
  }

  deleteInstance(name: string): void {
    this.db.prepare("DELETE FROM instances WHERE instance = ?").run(name);
  }
}
