/**
 * The hub test harness: one backend list (SQLite always; PostgreSQL from
 * PALISADE_TEST_POSTGRES_URL), a fresh database per suite, the server driven
 * in-process with fastify's inject, and helpers that act as an admin, a
 * publisher and an enrolled node (signing requests as an agent would).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, type KeyObject } from "node:crypto";
import pg from "pg";
import { bootstrapIfEmpty } from "../../src/hub/bootstrap.js";
import { BUNDLE_FORMAT, signBundle, type BundleEnvelope } from "../../src/hub/bundleFormat.js";
import { createHubServer, type HubServer } from "../../src/hub/createHubServer.js";
import { generateEd25519 } from "../../src/hub/ed25519.js";
import type { HubDb } from "../../src/hub/hubDatabase.js";
import { signEnrollProof, signNodeRequest } from "../../src/hub/nodeAuth.js";
import { openHubDb } from "../../src/hub/openHubDb.js";

export interface Backend {
  readonly name: "sqlite" | "postgres";
  /** Why this backend cannot run here (then its tests are skipped, or fail under CI). */
  readonly unavailable?: string;
}

const PG_URL = process.env.PALISADE_TEST_POSTGRES_URL;
const CI = process.env.CI === "true" || process.env.CI === "1";

export const BACKENDS: readonly Backend[] = [
  { name: "sqlite" },
  PG_URL ? { name: "postgres" } : { name: "postgres", unavailable: "PALISADE_TEST_POSTGRES_URL is not set (run: export PALISADE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh))" },
];

/** Backends to run: under CI a missing PostgreSQL stays in the list and fails loudly. */
export function runnableBackends(): Backend[] {
  return BACKENDS.filter((b) => {
    if (b.unavailable === undefined || CI) return true;
    console.log(`[hub tests] skipping the ${b.name} backend: ${b.unavailable}`);
    return false;
  });
}

export interface ScratchDb {
  readonly url: string;
  drop(): Promise<void>;
}

/** A new empty database of `backend`. */
export async function scratchDb(backend: Backend): Promise<ScratchDb> {
  if (backend.name === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "palisade-hub-test-"));
    return { url: `sqlite:${join(dir, "hub.sqlite")}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (!PG_URL) throw new Error(`CI requires PostgreSQL for the hub tests: ${backend.unavailable}`);
  const name = `palisade_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface Res {
  readonly status: number;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are checked field by field
  readonly body: string;
  readonly headers: Record<string, string | string[] | number | undefined>;
}

export interface TestNode {
  readonly id: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

export interface TestPublisher {
  readonly id: string;
  readonly keyId: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
  readonly token: string;
}

export const WORKLOAD_YAML = (name: string) => `apiVersion: palisade.dev/v1
kind: Workload
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  containers:
  - name: main
    image: registry.example.com/acme/${name}:1.0@sha256:${"a".repeat(64)}
`;

export function envelope(name: string, version: number, extra: Partial<BundleEnvelope> = {}): BundleEnvelope {
  return {
    format: BUNDLE_FORMAT,
    name,
    version,
    workload: WORKLOAD_YAML(name),
    policies: "",
    images: [{ ref: `registry.example.com/acme/${name}:1.0`, digest: `sha256:${"a".repeat(64)}` }],
    created: "2025-01-31T12:00:00Z",
    ...extra,
  };
}

let counter = 0;
/** A name unique within the test run (tests share one hub per suite). */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(2).toString("hex")}`;
}

export class TestHub {
  db!: ScratchDb;
  hub!: HubDb;
  server!: HubServer;
  adminToken!: string;
  orgId!: string;

  constructor(readonly backend: Backend) {}

  async start(): Promise<this> {
    this.db = await scratchDb(this.backend);
    this.hub = await openHubDb(this.db.url);
    const boot = await bootstrapIfEmpty(this.hub);
    if (!boot) throw new Error("fresh database was not empty");
    this.adminToken = boot.token;
    this.orgId = boot.org.id;
    this.server = await createHubServer({ hub: this.hub });
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.app.close();
    await this.hub?.close();
    await this.db?.drop();
  }

  async req(method: string, url: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {}): Promise<Res> {
    const token = opts.token === undefined ? this.adminToken : opts.token;
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers };
    const payload = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (payload !== undefined) headers["content-type"] ??= "application/json";
    const r = await this.server.app.inject({ method: method as "GET", url, headers, ...(payload === undefined ? {} : { payload }) });
    let json: unknown;
    try {
      json = r.body ? JSON.parse(r.body) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.statusCode, json, body: r.body, headers: r.headers };
  }

  /** A request signed by `node` (palisade-node-v1); `tweak` lets tests break it. */
  async nodeReq(
    node: TestNode,
    method: string,
    url: string,
    body?: unknown,
    tweak: { timestampMs?: number; nonce?: string; signWith?: KeyObject; sendBody?: string; headers?: Record<string, string> } = {},
  ): Promise<Res> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers = signNodeRequest(tweak.signWith ?? node.privateKey, {
      nodeId: node.id,
      method,
      target: url,
      body: text,
      ...(tweak.timestampMs === undefined ? {} : { timestampMs: tweak.timestampMs }),
      ...(tweak.nonce === undefined ? {} : { nonce: tweak.nonce }),
    });
    return this.req(method, url, { token: null, headers: { ...headers, ...tweak.headers }, ...(body === undefined && tweak.sendBody === undefined ? {} : { rawBody: tweak.sendBody ?? text }) });
  }

  async enrollmentToken(opts: { maxUses?: number; expiresInSeconds?: number; labels?: Record<string, string> } = {}): Promise<string> {
    const r = await this.req("POST", "/v1/enrollment-tokens", { body: { name: "test", ...opts } });
    if (r.status !== 201) throw new Error(`enrollment token: ${r.status} ${r.body}`);
    return r.json.token as string;
  }

  async enroll(token: string, labels: Record<string, string> = {}): Promise<{ res: Res; node?: TestNode }> {
    const { publicKey, privateKey } = generateEd25519();
    const res = await this.req("POST", "/v1/enroll", {
      token: null,
      body: { token, publicKey, proof: signEnrollProof(privateKey, publicKey, token), agentVersion: "0.1.0", hostname: "dev", labels },
    });
    return res.status === 201 ? { res, node: { id: res.json.nodeId, publicKey, privateKey } } : { res };
  }

  async newNode(labels: Record<string, string> = {}): Promise<TestNode> {
    const { res, node } = await this.enroll(await this.enrollmentToken(), labels);
    if (!node) throw new Error(`enroll: ${res.status} ${res.body}`);
    return node;
  }

  async newPublisher(): Promise<TestPublisher> {
    const p = await this.req("POST", "/v1/publishers", { body: { name: unique("pub") } });
    if (p.status !== 201) throw new Error(`publisher: ${p.status} ${p.body}`);
    const { publicKey, privateKey } = generateEd25519();
    const k = await this.req("POST", `/v1/publishers/${p.json.id}/keys`, { body: { publicKey, name: "ci" } });
    if (k.status !== 201) throw new Error(`key: ${k.status} ${k.body}`);
    const t = await this.req("POST", "/v1/tokens", { body: { name: "ci", role: "publisher", publisherId: p.json.id } });
    if (t.status !== 201) throw new Error(`token: ${t.status} ${t.body}`);
    return { id: p.json.id, keyId: k.json.keyId, publicKey, privateKey, token: t.json.token };
  }

  async upload(pub: TestPublisher, env: BundleEnvelope): Promise<Res> {
    return this.req("POST", "/v1/bundles", { token: pub.token, body: { envelope: env, signature: signBundle(env, pub.privateKey, pub.publicKey) } });
  }

  async token(role: "admin" | "publisher" | "viewer", publisherId?: string): Promise<string> {
    const r = await this.req("POST", "/v1/tokens", { body: { name: `${role} token`, role, ...(publisherId ? { publisherId } : {}) } });
    if (r.status !== 201) throw new Error(`token: ${r.status} ${r.body}`);
    return r.json.token as string;
  }
}
