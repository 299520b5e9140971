/**
 * The supervisor's side of the agent's sensor socket, `<data dir>/agent/sensor.sock`
 * (agentSensor.ts is the agent's side and documents the exchange). Kept
 * apart so a supervisor (`palisade agent exec`) announces its workload
 * without loading the event pipeline and its SQLite store.
 *
 * Wire format: one JSON line each way,
 *
 *   supervisor → agent  {"v":1,"instance":"gateway","cgroupPath":"/sys/fs/cgroup/…","id":"default.gateway","image":"palisade/sample@sha256:…",
 *                        "implicitGrants":[{"path":"/proc","write":false,"recursive":true},…]}
 *   agent → supervisor  {"ok":true}   or   {"ok":false,"error":"…"}
 *
 * `implicitGrants` (optional; an agent that does not know it ignores it) is
 * what the runtime granted the workload whatever its policy says — the
 * runtime computed it to confine the workload; sending it spares the agent
 * from loading the compiler and the runtime to compute it again.
 */
import { createConnection } from "node:net";
import { join } from "node:path";
import type { AgentPaths } from "./agentPaths.js";

export const ANNOUNCE_TIMEOUT_MS = 5_000;

export function sensorSocketPath(p: AgentPaths): string {
  return join(p.root, "sensor.sock");
}

/** What a supervisor announces about the workload it is about to start. */
export interface Announcement {
  readonly v: 1;
  readonly instance: string;
  readonly cgroupPath: string;
  readonly id: string;
  readonly image: string;
  readonly implicitGrants?: readonly AnnouncedGrant[];
}

/** One path the runtime grants whatever the policy says (runtime's RuntimeGrant, sensor's ImplicitGrant). */
export interface AnnouncedGrant {
  readonly path: string;
  readonly write: boolean;
  readonly recursive: boolean;
}

/** The grants of an announcement (or a stored copy), or undefined when absent or not well formed. */
export function parseAnnouncedGrants(v: unknown): AnnouncedGrant[] | undefined {
  if (!Array.isArray(v) || v.length > 4096) return undefined;
  const out: AnnouncedGrant[] = [];
  for (const g of v as unknown[]) {
    const o = g as Partial<AnnouncedGrant> | null;
    if (typeof o !== "object" || o === null || typeof o.path !== "string" || !o.path.startsWith("/") || typeof o.write !== "boolean" || typeof o.recursive !== "boolean") return undefined;
    out.push({ path: o.path, write: o.write, recursive: o.recursive });
  }
  return out;
}

/**
 * The supervisor's side: tells the agent about the cgroup and waits until it
 * is watched. Never throws; returns why not when it was not.
 */
export function announceToAgent(p: AgentPaths, a: Omit<Announcement, "v">, timeoutMs = ANNOUNCE_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((res) => {
    let done = false;
    let answer = "";
    const finish = (why: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      res(why);
    };
    const timer = setTimeout(() => finish(`the agent did not answer within ${timeoutMs} ms`), timeoutMs);
    const sock = createConnection(sensorSocketPath(p));
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify({ v: 1, ...a }) + "\n"));
    sock.on("data", (d: string) => {
      answer += d;
      if (!answer.includes("\n")) return;
      try {
        const r = JSON.parse(answer.slice(0, answer.indexOf("\n"))) as { ok?: boolean; error?: string };
        finish(r.ok ? undefined : (r.error ?? "refused"));
      } catch {
        finish("unreadable answer");
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => finish(e.code === "ENOENT" || e.code === "ECONNREFUSED" ? "the agent's sensor is not running" : e.message));
    sock.on("close", () => finish("the agent closed the connection"));
  });
}
