/**
 * The real pieces of the fleet benchmark: a `palisade hub` child process
 * (the CLI from source through tsx's loader, one node process, so its pid is
 * the hub's own), a scratch database for it, and a small HTTP client on a
 * keep-alive pool that the simulated nodes share.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";

export const REPO = resolve(import.meta.dirname, "../..");

export function palisadeArgv(nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, "--import", pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href, join(REPO, "src/cli/main.ts")];
}

export interface ScratchDb {
  readonly url: string;
  readonly label: string;
  drop(): Promise<void>;
}

/** A fresh SQLite file, or a fresh PostgreSQL database on the server scripts/postgres.sh sets up. */
export async function scratchDb(kind: "sqlite" | "postgres", sqliteParent = tmpdir()): Promise<ScratchDb> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(sqliteParent, "palisade-fleet-"));
    const where = sqliteParent.startsWith("/dev/shm") ? "in tmpfs (/dev/shm)" : `on local disk (${sqliteParent})`;
    return { url: `sqlite:${join(dir, "hub.sqlite")}`, label: `SQLite (WAL, file ${where})`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const base = process.env.PALISADE_TEST_POSTGRES_URL ?? postgresUrlFromScript();
  const name = `fleet_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    label: `PostgreSQL ${postgresVersion(base)} (same machine, loopback)`,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        // Without FORCE (that needs the right to end other roles' backends); the hub's pool is closed by now.
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS ${name}`);
            return;
          } catch (err) {
            if (attempt >= 10) throw err;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}

function postgresUrlFromScript(): string {
  const r = spawnSync("bash", [join(REPO, "scripts/postgres.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const url = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !url.startsWith("postgres")) throw new Error("scripts/postgres.sh failed; set PALISADE_TEST_POSTGRES_URL");
  return url;
}

function postgresVersion(url: string): string {
  const r = spawnSync("psql", [url, "-Atc", "SHOW server_version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim().split(" ")[0]! : "";
}

export class HubChild {
  readonly child: ChildProcess;
  readonly stderr: string[] = [];
  url = "";
  token = "";
  #exited: Promise<number | null>;

  private constructor(dbUrl: string, nodeFlags: readonly string[]) {
    const [cmd, ...args] = [...palisadeArgv(nodeFlags), "hub", "--listen", "127.0.0.1:0", "--db", dbUrl, "--log-level", "warn"];
    this.child = spawn(cmd!, args, { cwd: REPO, stdio: ["ignore", "inherit", "pipe"] });
    this.child.stderr!.on("data", (b: Buffer) => this.stderr.push(b.toString()));
    this.#exited = new Promise((r) => this.child.once("close", (code) => r(code)));
  }

  static async start(dbUrl: string, nodeFlags: readonly string[] = []): Promise<HubChild> {
    const hub = new HubChild(dbUrl, nodeFlags);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const text = hub.stderr.join("");
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        hub.url = m[1]!;
        hub.token = /\s(pat_[A-Za-z0-9_-]+)/.exec(text)?.[1] ?? "";
        if (hub.token === "") throw new Error("the hub printed no bootstrap token (database not fresh?)");
        return hub;
      }
      if (hub.child.exitCode !== null) throw new Error(`hub exited: ${text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`hub did not start: ${hub.stderr.join("")}`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    await this.#exited;
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * HTTP/1.1 on a keep-alive pool. node:http rather than fetch: the load
 * generator shares the two cores with the hub, and fetch costs it several
 * times more CPU per request.
 */
export class HttpPool {
  readonly agent: Agent;
  readonly host: string;
  readonly port: number;

  constructor(baseUrl: string, maxSockets: number) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: "fifo" });
  }

  request(method: string, path: string, headers: Record<string, string>, body?: Buffer, timeoutMs = 30_000): Promise<HttpAnswer> {
    return new Promise((resolveAnswer, reject) => {
      const req = httpRequest(
        { host: this.host, port: this.port, method, path, agent: this.agent, headers: body ? { ...headers, "content-length": String(body.length) } : headers, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end(body);
    });
  }

  async json<T>(method: string, path: string, token: string | undefined, body?: unknown, expect = [200, 201]): Promise<T> {
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(bytes ? { "content-type": "application/json" } : {}) };
    const res = await this.request(method, path, headers, bytes);
    if (!expect.includes(res.status)) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    return JSON.parse(res.body.toString()) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}
