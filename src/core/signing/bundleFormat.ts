/**
 * The signed workload bundle: what a publisher signs and an agent runs.
 *
 * Wire format (also in docs/hub.md, "Bundle envelope"):
 *
 *   envelope  = { "format": "palisade.bundle/v1", "name", "version", "workload",
 *                 "policies", "images": [{ "ref", "digest" }], "created" }
 *   bytes     = canonicalJson(envelope)            (canonicalJson.ts, UTF-8)
 *   digest    = "sha256:" + hex(sha256(bytes))      (the bundle's identity)
 *   message   = "palisade-bundle-signature-v1\n" + digest   (ASCII)
 *   signature = { "keyId": keyIdOf(publicKey), "signature": base64url(Ed25519(message)) }
 *
 * The signature covers the digest, the digest covers every byte, so a bundle
 * is content-addressed and tamper-evident end to end. The context prefix
 * keeps a publisher key's bundle signatures from being valid for any other
 * message Palisade may one day sign with the same key. The hub checks all of
 * this on upload, but agents MUST check it again against the publisher keys
 * they pinned at enrollment: the hub is not trusted to author work.
 *
 * Pure (node:crypto plus canonicalJson.ts and ed25519.ts) and in core, so
 * the hub (which checks uploads) and the agent (which must check again,
 * against its pinned keys) share one implementation of the format.
 */
import { createHash, type KeyObject } from "node:crypto";
import { canonicalJson } from "./canonicalJson.js";
import { keyIdOf, signEd25519, verifyEd25519 } from "./ed25519.js";

export const BUNDLE_FORMAT = "palisade.bundle/v1";
export const BUNDLE_SIGNATURE_CONTEXT = "palisade-bundle-signature-v1\n";

export interface BundleImage {
  /** Where the image comes from, e.g. `registry.example.com/acme/camerad:2.1`. */
  readonly ref: string;
  /** The image manifest digest the agent must pull and check. */
  readonly digest: string;
}

export interface BundleEnvelope {
  readonly format: typeof BUNDLE_FORMAT;
  /** Lower-case DNS label: the bundle's name within its org. */
  readonly name: string;
  /** Positive integer; strictly increasing per name (hub and agents refuse rollbacks). */
  readonly version: number;
  /** The Workload manifest YAML, verbatim. */
  readonly workload: string;
  /** KubeArmorPolicy documents YAML, verbatim ("" for none). */
  readonly policies: string;
  readonly images: readonly BundleImage[];
  /** RFC 3339 UTC, e.g. 2025-01-31T12:00:00Z or with milliseconds. */
  readonly created: string;
}

export interface BundleSignature {
  readonly keyId: string;
  readonly signature: string;
}

export const BUNDLE_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const CREATED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const ENVELOPE_KEYS = ["created", "format", "images", "name", "policies", "version", "workload"];

/** Every problem with a would-be envelope, as "field: problem"; empty when valid. */
export function envelopeProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return ["envelope: must be a JSON object"];
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(v)) if (!ENVELOPE_KEYS.includes(k)) problems.push(`${k}: unknown field`);
  if (v.format !== BUNDLE_FORMAT) problems.push(`format: must be "${BUNDLE_FORMAT}"`);
  if (typeof v.name !== "string" || !BUNDLE_NAME_RE.test(v.name)) problems.push("name: must be a lower-case DNS label (a-z, 0-9, '-', at most 63)");
  if (typeof v.version !== "number" || !Number.isSafeInteger(v.version) || v.version < 1) problems.push("version: must be a positive integer");
  if (typeof v.workload !== "string" || v.workload.trim() === "") problems.push("workload: must be the non-empty Workload YAML text");
  if (typeof v.policies !== "string") problems.push("policies: must be YAML text (empty for none)");
  if (typeof v.created !== "string" || !CREATED_RE.test(v.created) || Number.isNaN(Date.parse(v.created))) {
    problems.push("created: must be an RFC 3339 UTC time such as 2025-01-31T12:00:00Z");
  }
  if (!Array.isArray(v.images)) problems.push("images: must be a list of {ref, digest}");
  else {
    v.images.forEach((img: unknown, i) => {
      const o = img as Record<string, unknown> | null;
      if (typeof o !== "object" || o === null || Array.isArray(o)) return void problems.push(`images[${i}]: must be {ref, digest}`);
      for (const k of Object.keys(o)) if (k !== "ref" && k !== "digest") problems.push(`images[${i}].${k}: unknown field`);
      if (typeof o.ref !== "string" || o.ref === "") problems.push(`images[${i}].ref: must be a non-empty image reference`);
      if (typeof o.digest !== "string" || !DIGEST_RE.test(o.digest)) problems.push(`images[${i}].digest: must be sha256:<64 lower-case hex>`);
    });
  }
  return problems;
}

/** The bytes that are hashed: canonical JSON, UTF-8. */
export function canonicalBundleBytes(envelope: BundleEnvelope): Buffer {
  return Buffer.from(canonicalJson(envelope), "utf8");
}

export function digestOfBytes(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function bundleDigest(envelope: BundleEnvelope): string {
  return digestOfBytes(canonicalBundleBytes(envelope));
}

export function bundleSigningMessage(digest: string): Buffer {
  if (!DIGEST_RE.test(digest)) throw new TypeError(`not a bundle digest: ${digest}`);
  return Buffer.from(BUNDLE_SIGNATURE_CONTEXT + digest, "ascii");
}

/** Signs as a publisher would (publishing tools, tests). */
export function signBundle(envelope: BundleEnvelope, privateKey: KeyObject, publicKey: string): BundleSignature {
  return { keyId: keyIdOf(publicKey), signature: signEd25519(privateKey, bundleSigningMessage(bundleDigest(envelope))) };
}

/** True when `signature` is `publicKey`'s signature of `digest` (and names that key). */
export function verifyBundleSignature(digest: string, signature: BundleSignature, publicKey: string): boolean {
  if (!DIGEST_RE.test(digest) || signature.keyId !== keyIdOf(publicKey)) return false;
  return verifyEd25519(publicKey, bundleSigningMessage(digest), signature.signature);
}

/**
 * Parses fetched bundle bytes the way an agent must: valid JSON, a valid
 * envelope, already canonical (so the digest the publisher signed is the
 * digest of exactly these bytes), and, when given, the expected digest.
 */
export function parseBundleBytes(bytes: Uint8Array, expectedDigest?: string): BundleEnvelope {
  if (expectedDigest !== undefined && digestOfBytes(bytes) !== expectedDigest) {
    throw new TypeError(`bundle bytes hash to ${digestOfBytes(bytes)}, not ${expectedDigest}`);
  }
  const text = Buffer.from(bytes).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError("bundle bytes are not JSON");
  }
  const problems = envelopeProblems(value);
  if (problems.length > 0) throw new TypeError(`not a valid bundle envelope: ${problems.join("; ")}`);
  if (canonicalJson(value) !== text) throw new TypeError("bundle bytes are not in canonical JSON form");
  return value as BundleEnvelope;
}
