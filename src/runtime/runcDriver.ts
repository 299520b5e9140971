/**
 * A thin driver for Debian's runc (1.1): every call uses Palisade's own
 * state root (`--root <dataDir>/runc`), so Palisade's containers never mix
 * with another engine's, and every failure becomes a PalisadeError RUNTIME
 * carrying runc's own message (runc logs as JSON lines on stderr).
 */
import { execFile, spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PalisadeError } from "../core/errors.js";
import { dataDir } from "../core/paths.js";

const exec = promisify(execFile);

/** What `runc state` and `runc list` report. */
export interface RuncState {
  readonly id: string;
  readonly pid: number;
  readonly status: "creating" | "created" | "running" | "paused" | "stopped";
  readonly bundle: string;
  readonly created: string;
}

export interface RuncDriverOptions {
  /** runc's state directory (default `<dataDir>/runc`). */
  readonly root?: string;
  /** The runc binary (default `runc`, searched in PATH plus the sbin directories). */
  readonly binary?: string;
}

/** The environment for host tools (runc, ip, nft live in sbin, which a non-root PATH may lack). */
export function sbinEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin` };
}

/** runc's message from its stderr: the msg of JSON log lines, or the text as is. */
export function runcMessage(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    try {
      const j = JSON.parse(t) as { level?: string; msg?: string };
      if (j.msg && (j.level === "error" || j.level === "fatal" || j.level === undefined)) msgs.push(j.msg);
      continue;
    } catch {
      // not JSON
    }
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(t);
    msgs.push(m ? m[1]!.replace(/\\"/g, '"') : t);
  }
  return msgs.join("; ") || "no message";
}

export class RuncDriver {
  readonly root: string;
  readonly binary: string;

  constructor(opts: RuncDriverOptions = {}) {
    this.root = opts.root ?? join(dataDir(), "runc");
    this.binary = opts.binary ?? "runc";
  }

  private globalArgs(): string[] {
    return ["--root", this.root, "--log-format", "json"];
  }

  private async call(verb: string, args: readonly string[], what: string): Promise<string> {
    try {
      const { stdout } = await exec(this.binary, [...this.globalArgs(), verb, ...args], { env: sbinEnv(), maxBuffer: 16 << 20, timeout: 60_000 });
      return stdout;
    } catch (cause) {
      const e = cause as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === "ENOENT") {
        throw new PalisadeError("RUNTIME", `${this.binary} is not installed`, { hint: "install Debian's runc: apt-get install runc (scripts/setup.sh does)", cause });
      }
      throw new PalisadeError("RUNTIME", `runc ${verb} ${what} failed: ${runcMessage(e.stderr ?? "")}`, {
        hint: "see the runc message above; `palisade inspect` shows the workload's confinement",
        cause,
      });
    }
  }

  /**
   * Starts `runc run` in the foreground: runc creates and starts the
   * container, forwards the signals it receives to the container's first
   * process, and exits with that process's status (128+N when killed by N).
   * The caller owns the child process.
   */
  spawnRun(id: string, bundle: string, opts: { stdio: "inherit" | "pipe"; pidFile?: string; logFile: string }): ChildProcess {
    // runc's own messages go to logFile, so the workload's stderr stays the workload's.
    const args = ["--root", this.root, "--log-format", "json", "--log", opts.logFile, "run", "--bundle", bundle, ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []), id];
    const stdio: StdioOptions = opts.stdio === "inherit" ? ["inherit", "inherit", "inherit"] : ["ignore", "pipe", "pipe"];
    return spawn(this.binary, args, { stdio, env: sbinEnv() });
  }

  /** runc's error messages in a log file written by spawnRun, or undefined when it logged none. */
  static errorsIn(log: string): string | undefined {
    const errors = log.split("\n").filter((l) => /"level":"(error|fatal)"/.test(l));
    return errors.length ? runcMessage(errors.join("\n")) : undefined;
  }

  /** `runc create`: the container exists, its process waits for `start`. */
  async create(id: string, bundle: string, opts: { pidFile?: string } = {}): Promise<void> {
    await this.call("create", ["--bundle", bundle, ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []), id], id);
  }

  async start(id: string): Promise<void> {
    await this.call("start", [id], id);
  }

  /** The container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    try {
      return JSON.parse(await this.call("state", [id], id)) as RuncState;
    } catch (e) {
      if (e instanceof PalisadeError && /does not exist|not exist|no such/i.test(e.message)) return undefined;
      throw e;
    }
  }

  async list(): Promise<RuncState[]> {
    const out = await this.call("list", ["--format", "json"], "");
    const parsed = JSON.parse(out.trim() || "null") as RuncState[] | null;
    return parsed ?? [];
  }

  /** Sends a signal to the container's first process (or to all its processes with `all`). */
  async kill(id: string, signal: NodeJS.Signals | "KILL" | "TERM" = "SIGTERM", opts: { all?: boolean } = {}): Promise<void> {
    await this.call("kill", [...(opts.all ? ["--all"] : []), id, signal], id);
  }

  /**
   * Whether runc holds state for the container: runc keeps it in
   * `<root>/<id>/` from create until delete (`runc run` deletes it when the
   * container exits).
   */
  knows(id: string): boolean {
    return existsSync(join(this.root, id));
  }

  /** Removes the container; `force` kills it first if it still runs. Unknown containers are fine. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    // Without state runc has nothing to delete; skipping saves a runc start (15-20 ms) on
    // every workload start and exit, where the common case is "nothing left over".
    if (!this.knows(id)) return;
    try {
      await this.call("delete", [...(opts.force ? ["--force"] : []), id], id);
    } catch (e) {
      if (e instanceof PalisadeError && /does not exist|not exist/i.test(e.message)) return;
      throw e;
    }
  }
}
