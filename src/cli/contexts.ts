/**
 * Saved hub logins ("contexts"), kubectl-style: `palisade login` stores a hub
 * URL and an API token under a name in `~/.config/palisade/contexts.json`
 * (0600, in a 0700 directory: it holds bearer secrets), and marks it
 * current. Every fleet verb picks its hub and token from, in order:
 * --hub/--token, PALISADE_HUB/PALISADE_TOKEN, --context NAME, the current context.
 * PALISADE_CONFIG_DIR (or XDG_CONFIG_HOME) moves the file.
 */
import { chmodSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomicFile.js";
import { PalisadeError } from "../core/errors.js";

export interface HubContext {
  readonly hub: string;
  readonly token: string;
  readonly org?: string;
  readonly role?: string;
  readonly savedAt: string;
}

export interface ContextsFile {
  current: string | null;
  contexts: Record<string, HubContext>;
}

export function configDir(): string {
  if (process.env.PALISADE_CONFIG_DIR) return process.env.PALISADE_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "palisade");
}

export function contextsPath(): string {
  return join(configDir(), "contexts.json");
}

export function loadContexts(): ContextsFile {
  const path = contextsPath();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { current: null, contexts: {} };
    throw e;
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  try {
    const parsed = JSON.parse(text) as ContextsFile;
    if (typeof parsed !== "object" || parsed === null || typeof parsed.contexts !== "object") throw new Error("not a contexts file");
    return { current: parsed.current ?? null, contexts: parsed.contexts };
  } catch (cause) {
    throw new PalisadeError("IO", `${path} is not a valid contexts file: ${(cause as Error).message}`, { hint: `fix or remove it, then palisade login again`, cause });
  }
}

export function saveContexts(file: ContextsFile): void {
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  writeFileAtomic(contextsPath(), JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
}

export interface TargetFlags {
  hub?: string;
  token?: string;
  context?: string;
}

export interface Target {
  readonly hub: string;
  readonly token: string;
  readonly context?: string;
}

/** Which hub and token a fleet verb uses (see the file comment for the order). */
export function resolveTarget(flags: TargetFlags): Target {
  const hub = flags.hub ?? process.env.PALISADE_HUB;
  const token = flags.token ?? process.env.PALISADE_TOKEN;
  if (hub && token) return { hub: hub.replace(/\/+$/, ""), token };
  const file = loadContexts();
  const name = flags.context ?? file.current ?? undefined;
  const ctx = name === undefined ? undefined : file.contexts[name];
  if (flags.context !== undefined && !ctx) {
    throw new PalisadeError("USAGE", `no context named ${JSON.stringify(flags.context)}`, { hint: `known: ${Object.keys(file.contexts).join(", ") || "none"} (palisade context ls)` });
  }
  if (!ctx) throw new PalisadeError("USAGE", "no hub to talk to: not logged in", { hint: "palisade login --hub URL --token TOKEN (or set PALISADE_HUB and PALISADE_TOKEN)" });
  return { hub: (hub ?? ctx.hub).replace(/\/+$/, ""), token: token ?? ctx.token, ...(name ? { context: name } : {}) };
}
