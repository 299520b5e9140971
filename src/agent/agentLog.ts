/**
 * The agent's log: one line per event on stdout, as text for people
 * (`2025-03-01T10:00:00.000Z info  enrolled as node_… (org_…)`) or as JSON
 * lines for collectors (`--log-format json`: {time, level, msg, ...fields}).
 * Errors are logged through `error(err)`, which renders a PalisadeError as
 * code, message and hint, never as a stack trace.
 */
import { asPalisadeError } from "../core/errors.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface AgentLogOptions {
  readonly format?: "text" | "json";
  readonly level?: LogLevel;
  readonly write?: (line: string) => void;
}

export class AgentLog {
  readonly #format: "text" | "json";
  readonly #min: number;
  readonly #write: (line: string) => void;

  constructor(opts: AgentLogOptions = {}) {
    this.#format = opts.format ?? "text";
    this.#min = ORDER[opts.level ?? "info"];
    this.#write = opts.write ?? ((line) => process.stdout.write(line));
  }

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < this.#min) return;
    const time = new Date().toISOString();
    if (this.#format === "json") {
      this.#write(JSON.stringify({ time, level, msg, ...fields }) + "\n");
      return;
    }
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(" ");
    this.#write(`${time} ${level.padEnd(5)} ${msg}${extra ? `  ${extra}` : ""}\n`);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log("warn", msg, fields);
  }

  /** Logs anything thrown as code + message + hint (the agent's one place for rendering errors). */
  error(context: string, err: unknown, fields: Record<string, unknown> = {}, level: LogLevel = "error"): void {
    const e = asPalisadeError(err);
    this.log(level, `${context}: ${e.message}`, { code: e.code, ...(e.hint ? { hint: e.hint } : {}), ...fields });
    if (process.env.PALISADE_DEBUG === "1" && e.code === "INTERNAL" && e.cause instanceof Error) this.#write(`${e.cause.stack ?? ""}\n`);
  }
}
