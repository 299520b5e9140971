/**
 * What the agent needs to know about a verified bundle while it runs it —
 * the namespace, the restart policy, the workload's labels and the
 * effective policy its sensor matches events against — without loading the
 * YAML parsers (`yaml` and the KubeArmor/Workload parsers are ≈ 3.4 MiB of a
 * long-lived process, and a module once loaded stays loaded).
 *
 * The facts are computed once per bundle, when it is accepted, by parsing
 * it (bundleFactsOf.ts: the same parse and combination the supervisor
 * confines the workload with). The CLI agent does that in a short-lived
 * child (`palisade agent inspect-bundle`), so the parsers never load into
 * the agent; they are kept in agent.db (table bundle_facts, 0600, root), in
 * the same transaction as the accepted set, and read back on every later
 * start. A stored copy that is missing or does not read back exactly
 * (damaged, another digest, another format) is never taken as "no policy":
 * the facts are computed again from the verified bundle.
 *
 * Child protocol (`palisade agent inspect-bundle --bundle <digest>`):
 *   stdin   the bundle's bytes (already verified by the agent)
 *   stdout  one JSON line: {"ok":true,"facts":<encoded facts>}
 *           or {"ok":false,"error":{"code","message","hint"?,"where"?,"details"?}} (exit 0 either way)
 * Anything else (no output, a crash, a timeout) is the child failing, not
 * the bundle: the agent then parses in-process, as before.
 *
 * Stored/encoded form (JSON):
 *   {"v":1,"digest":"sha256:…","namespace":"default","restartPolicy":"Always",
 *    "labels":{"app":"x"},"effective":<EffectivePolicy as JSON>}
 */
import { spawn } from "node:child_process";
import { PalisadeError } from "../core/errors.js";
import { effectivePolicyFromJson } from "../policy/effectiveJson.js";
import type { EffectivePolicy } from "../policy/model.js";
import type { AgentStore } from "./agentStore.js";
import type { BundleCache } from "./bundleCache.js";

export type RestartPolicy = "Always" | "OnFailure" | "Never";

export interface BundleFacts {
  readonly namespace: string;
  readonly restartPolicy: RestartPolicy;
  readonly labels: Readonly<Record<string, string>>;
  readonly effective: EffectivePolicy;
}

/** How long a child may take to parse one bundle before the agent parses it itself. */
export const INSPECT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 16 * 1024 * 1024;

export function encodeBundleFacts(digest: string, f: BundleFacts): string {
  return JSON.stringify({ v: 1, digest, namespace: f.namespace, restartPolicy: f.restartPolicy, labels: f.labels, effective: f.effective });
}

/** The facts `json` holds for `digest`, or undefined when absent, damaged or about another bundle. */
export function decodeBundleFacts(json: string | undefined, digest: string): BundleFacts | undefined {
  if (json === undefined) return undefined;
  try {
    return bundleFactsFromValue(JSON.parse(json), digest);
  } catch {
    return undefined;
  }
}

/** decodeBundleFacts of the parsed JSON (the child's answer carries it parsed). */
function bundleFactsFromValue(value: unknown, digest: string): BundleFacts | undefined {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== "object" || v === null || v.v !== 1 || v.digest !== digest || typeof v.namespace !== "string") return undefined;
  if (v.restartPolicy !== "Always" && v.restartPolicy !== "OnFailure" && v.restartPolicy !== "Never") return undefined;
  const labels = v.labels as Record<string, unknown> | null;
  if (typeof labels !== "object" || labels === null || Array.isArray(labels) || !Object.values(labels).every((x) => typeof x === "string")) return undefined;
  const effective = effectivePolicyFromJson(v.effective);
  if (!effective) return undefined;
  return { namespace: v.namespace, restartPolicy: v.restartPolicy, labels: Object.freeze({ ...(labels as Record<string, string>) }), effective };
}

/**
 * The facts of an accepted bundle: as stored at acceptance, or — stored copy
 * missing (an agent.db from before facts were kept) or not reading back —
 * parsed again from the verified cached bytes, and stored. Never "no policy":
 * without the bundle's bytes it throws AGENT_STATE.
 */
export async function factsOfAccepted(
  d: { readonly store: AgentStore; readonly cache: BundleCache; readonly inspect: (bytes: Buffer, digest: string) => Promise<BundleFacts> },
  digest: string,
): Promise<BundleFacts> {
  const stored = decodeBundleFacts(d.store.bundleFacts(digest), digest);
  if (stored) return stored;
  const bytes = d.cache.get(digest);
  if (!bytes) throw new PalisadeError("AGENT_STATE", `bundle ${digest} is missing from the cache or corrupt`, { hint: "it is fetched again from the hub" });
  const facts = await d.inspect(bytes, digest);
  d.store.putBundleFacts(digest, encodeBundleFacts(digest, facts));
  return facts;
}

/** How the agent computes facts: in a child running the CLI (`command`), or in-process. */
export interface InspectOptions {
  /** argv prefix that runs the palisade CLI; absent: parse in this process. */
  readonly command?: readonly string[];
  readonly timeoutMs?: number;
  /** Told when the child could not be used and the bundle was parsed in-process. */
  readonly onFallback?: (why: string) => void;
}

/**
 * The facts of a verified bundle. Throws the parser's error (POLICY_*,
 * AGENT_BUNDLE_REFUSED) when the bundle cannot run on any device.
 */
export async function inspectBundle(bytes: Buffer, digest: string, o: InspectOptions = {}): Promise<BundleFacts> {
  if (o.command && o.command.length > 0) {
    const r = await inspectInChild(bytes, digest, o.command, o.timeoutMs ?? INSPECT_TIMEOUT_MS);
    if (r.facts) return r.facts;
    if (r.error) throw r.error;
    o.onFallback?.(r.why ?? "no answer");
  }
  // Loaded only here: in the CLI agent this runs only if the child could not.
  const { bundleFactsOf } = await import("./bundleFactsOf.js");
  return bundleFactsOf(bytes, digest);
}

interface ChildAnswer {
  readonly facts?: BundleFacts;
  readonly error?: PalisadeError;
  readonly why?: string;
}

function inspectInChild(bytes: Buffer, digest: string, command: readonly string[], timeoutMs: number): Promise<ChildAnswer> {
  return new Promise((res) => {
    let out = "";
    let err = "";
    let done = false;
    const finish = (a: ChildAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      res(a);
    };
    const child = spawn(command[0]!, [...command.slice(1), "agent", "inspect-bundle", "--bundle", digest], { stdio: ["pipe", "pipe", "pipe"] });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish({ why: `the child took longer than ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
      if (out.length > MAX_OUTPUT) child.kill("SIGKILL");
    });
    child.stderr.on("data", (d: string) => {
      if (err.length < 4096) err += d;
    });
    child.on("error", (e) => finish({ why: `cannot start the child: ${e.message}` }));
    child.on("close", (code, signal) => finish(readAnswer(out, digest) ?? { why: `the child ended (${signal ?? `exit ${code}`}) without an answer${err ? `: ${err.trim().split("\n").pop()}` : ""}` }));
    // A child that exits before reading stdin (EPIPE) answers through its exit, not here.
    child.stdin.on("error", () => undefined);
    child.stdin.end(bytes);
  });
}

function readAnswer(out: string, digest: string): ChildAnswer | undefined {
  const line = out.split("\n").find((l) => l.startsWith("{"));
  if (!line) return undefined;
  let a: { ok?: unknown; facts?: unknown; error?: unknown };
  try {
    a = JSON.parse(line) as typeof a;
  } catch {
    return undefined;
  }
  if (a.ok === true) {
    const facts = bundleFactsFromValue(a.facts, digest);
    return facts ? { facts } : undefined;
  }
  const e = a.ok === false ? PalisadeError.fromJSON(a.error) : undefined;
  if (!e) return undefined;
  // Only the bundle's own faults are the bundle's; anything else (INTERNAL, IO) is the child's, and is retried in-process.
  if (e.code !== "AGENT_BUNDLE_REFUSED" && !e.code.startsWith("POLICY_")) return { why: `the child failed: ${e.code}: ${e.message}` };
  return { error: e };
}
