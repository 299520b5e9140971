/**
 * The desired-state document as the agent reads it (format in docs/api.md,
 * "Desired state"). Parsed strictly enough that a malformed or hostile
 * answer is an error rather than a half-applied plan; everything in it is
 * still only a claim until bundleVerifier.ts has checked the bundle itself.
 */
import { PalisadeError } from "../core/errors.js";
import { DIGEST_RE } from "../core/signing/bundleFormat.js";

export const DESIRED_STATE_FORMAT = "palisade.desired-state/v1";
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface DesiredWorkload {
  deployment: string;
  deploymentId: string;
  revision: number;
  bundle: { digest: string; name: string; version: number; publisherId: string; keyId: string; signature: string; url: string };
}

export interface DesiredState {
  format: typeof DESIRED_STATE_FORMAT;
  orgId: string;
  workloads: DesiredWorkload[];
  revokedKeys: string[];
}

/*
 * A hand-written reader rather than a schema library: zod (with its locales)
 * was ≈ 4 MiB of the agent's resident memory for this one small document.
 * Same rules as before: every field checked, unknown fields dropped, the
 * first problem reported with its path (e.g. workloads.0.bundle.digest).
 */
class Malformed extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Malformed(path, "expected an object");
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, path: string, rule: { re?: RegExp; min?: number; max?: number } = {}): string {
  const v = o[key];
  const at = path ? `${path}.${key}` : key;
  if (typeof v !== "string") throw new Malformed(at, "expected a string");
  if (rule.min !== undefined && v.length < rule.min) throw new Malformed(at, `too short (at least ${rule.min})`);
  if (rule.max !== undefined && v.length > rule.max) throw new Malformed(at, `too long (at most ${rule.max})`);
  if (rule.re && !rule.re.test(v)) throw new Malformed(at, "invalid format");
  return v;
}

function int(o: Record<string, unknown>, key: string, path: string, min?: number): number {
  const v = o[key];
  const at = path ? `${path}.${key}` : key;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new Malformed(at, "expected an integer");
  if (min !== undefined && v < min) throw new Malformed(at, `must be at least ${min}`);
  return v;
}

function arr(o: Record<string, unknown>, key: string, max: number): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Malformed(key, "expected an array");
  if (v.length > max) throw new Malformed(key, `too many entries (at most ${max})`);
  return v;
}

function readWorkload(v: unknown, path: string): DesiredWorkload {
  const o = obj(v, path);
  const b = obj(o.bundle, `${path}.bundle`);
  const bp = `${path}.bundle`;
  return {
    deployment: str(o, "deployment", path, { re: DNS_LABEL }),
    deploymentId: str(o, "deploymentId", path, { min: 1, max: 128 }),
    revision: int(o, "revision", path),
    bundle: {
      digest: str(b, "digest", bp, { re: DIGEST_RE }),
      name: str(b, "name", bp, { re: DNS_LABEL }),
      version: int(b, "version", bp, 1),
      publisherId: str(b, "publisherId", bp, { min: 1, max: 128 }),
      keyId: str(b, "keyId", bp, { min: 1, max: 100 }),
      signature: str(b, "signature", bp, { min: 1, max: 200 }),
      url: str(b, "url", bp),
    },
  };
}

function readDesiredState(value: unknown): DesiredState {
  const o = obj(value, "(top)");
  if (o.format !== DESIRED_STATE_FORMAT) throw new Malformed("format", `expected ${JSON.stringify(DESIRED_STATE_FORMAT)}`);
  return {
    format: DESIRED_STATE_FORMAT,
    orgId: str(o, "orgId", "", { min: 1, max: 128 }),
    workloads: arr(o, "workloads", 1000).map((w, i) => readWorkload(w, `workloads.${i}`)),
    revokedKeys: arr(o, "revokedKeys", 100_000).map((k, i) => {
      if (typeof k !== "string" || k.length < 1 || k.length > 100) throw new Malformed(`revokedKeys.${i}`, "expected a key id");
      return k;
    }),
  };
}

export function parseDesiredState(text: string): DesiredState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PalisadeError("HUB_BAD_REQUEST", "the hub's desired state is not JSON", { hint: "check --hub points at a Palisade hub" });
  }
  let doc: DesiredState;
  try {
    doc = readDesiredState(value);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    throw new PalisadeError("HUB_BAD_REQUEST", `the hub's desired state is malformed at ${e.path}: ${e.message}`, {
      hint: "the hub and agent versions may not match; nothing was changed on this device",
    });
  }
  const names = new Set<string>();
  for (const w of doc.workloads) {
    if (names.has(w.deployment)) throw new PalisadeError("HUB_BAD_REQUEST", `the hub's desired state lists deployment ${w.deployment} twice`);
    names.add(w.deployment);
  }
  return doc;
}
