/**
 * The one error type of Palisade. Every failure a user can cause or meet is a
 * PalisadeError with a stable `code` (for scripts and docs), a `message` for
 * humans, and a `hint` saying how to fix it. Each process renders errors in
 * exactly one place (the CLI's main, the hub's error handler, the agent loop),
 * so nothing else prints stack traces.
 */

/** Where in a source file a problem is. Lines and columns are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Field path inside the document, e.g. `spec.file.matchPaths[0].path`. */
  readonly path?: string;
}

/**
 * Stable error codes. Add new codes here (never rename or reuse one); the
 * prefix names the part of the system that raises it.
 */
export const ERROR_CODES = {
  USAGE: "bad command-line usage",
  NOT_LINUX: "Palisade's runtime needs Linux",
  NOT_ROOT: "this operation needs root",
  IO: "a file could not be read or written",
  INTERNAL: "a bug in Palisade",
  POLICY_YAML: "the YAML itself is malformed",
  POLICY_SCHEMA: "a document does not match the policy or manifest schema",
  POLICY_SEMANTIC: "a document is well-formed but contradictory or unenforceable as written",
  COMPILE_UNSUPPORTED: "no available backend can enforce a rule (fail closed)",
  IMAGE_NOT_FOUND: "an image or blob is not in the store",
  IMAGE_DIGEST: "a blob's content does not match its digest",
  IMAGE_FORMAT: "an image layout, manifest or tarball is malformed",
  RUNTIME: "the OCI runtime failed",
  RUNTIME_NOT_FOUND: "no such workload",
  NATIVE: "the native launcher or a kernel call failed",
  PROBE: "the kernel probe failed",
  HUB_BAD_REQUEST: "a request to the hub is malformed or does not match its schema",
  HUB_UNAUTHENTICATED: "the request carries no valid API token",
  HUB_FORBIDDEN: "the API token's role does not allow this operation",
  HUB_NOT_FOUND: "no such object (or route) on the hub",
  HUB_CONFLICT: "the request conflicts with the hub's current state",
  HUB_ENROLLMENT_TOKEN: "the enrollment token is unknown or revoked",
  HUB_ENROLLMENT_USED_UP: "the enrollment token has no uses left",
  HUB_ENROLLMENT_EXPIRED: "the enrollment token has expired",
  HUB_NODE_AUTH: "a node request's signature headers are missing, malformed, or do not verify",
  HUB_NODE_CLOCK: "a node request's timestamp is outside the accepted clock window",
  HUB_NODE_REPLAY: "a node request was already seen (replay)",
  HUB_NODE_REVOKED: "the node has been revoked",
  HUB_BUNDLE_SIGNATURE: "a bundle's publisher signature does not verify",
  HUB_KEY_REVOKED: "the publisher signing key has been revoked",
  HUB_BUNDLE_VERSION: "a bundle's version is not greater than the latest version of that name",
  HUB_STORE: "the hub's database failed or is unreachable",
  HUB_AUDIT_CHAIN: "the hub's audit log hash chain is broken (entries changed, removed or reordered)",
  HUB_UNREACHABLE: "the hub could not be reached (connection refused, timeout, TLS or DNS failure)",
  AGENT_BUNDLE_REFUSED: "the agent refused a bundle: digest, publisher signature, pinned key, revocation or version check failed",
  AGENT_STATE: "the agent's local state (identity, key, cache or queue) is missing, unreadable or inconsistent",
  EVENTS_FORMAT: "a recorded-events file (JSON lines of KubeArmor records) has lines that are not records",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PalisadeErrorOptions {
  readonly hint?: string;
  readonly where?: SourceLocation;
  readonly cause?: unknown;
  /** Extra machine-readable details, shown in --json output. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class PalisadeError extends Error {
  override readonly name = "PalisadeError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly where: SourceLocation | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: PalisadeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.where = options.where;
    this.details = options.details;
  }

  /** The error toJSON() described (e.g. sent by another process), or undefined if `v` is not one. */
  static fromJSON(v: unknown): PalisadeError | undefined {
    if (typeof v !== "object" || v === null) return undefined;
    const e = v as Record<string, unknown>;
    if (typeof e.code !== "string" || !(e.code in ERROR_CODES) || typeof e.message !== "string") return undefined;
    return new PalisadeError(e.code as ErrorCode, e.message, {
      ...(typeof e.hint === "string" ? { hint: e.hint } : {}),
      ...(typeof e.where === "object" && e.where !== null ? { where: e.where as SourceLocation } : {}),
      ...(typeof e.details === "object" && e.details !== null ? { details: e.details as Record<string, unknown> } : {}),
    });
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.where === undefined ? {} : { where: this.where }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** `file:line:column` (or as much of it as is known). */
export function formatLocation(where: SourceLocation): string {
  let s = where.file;
  if (where.line !== undefined) s += `:${where.line}`;
  if (where.line !== undefined && where.column !== undefined) s += `:${where.column}`;
  return s;
}

/**
 * Human rendering, one problem per block:
 *   policy.yaml:12:7: error POLICY_SCHEMA at spec.file.matchPaths[0].paht: unknown field "paht"
 *     hint: did you mean "path"?
 */
export function renderError(err: PalisadeError): string {
  const where = err.where ? `${formatLocation(err.where)}: ` : "";
  const path = err.where?.path ? ` at ${err.where.path}` : "";
  let out = `${where}error ${err.code}${path}: ${err.message}`;
  if (err.hint) out += `\n  hint: ${err.hint}`;
  return out;
}

/** Wraps anything thrown into a PalisadeError, so callers render one type. */
export function asPalisadeError(err: unknown): PalisadeError {
  if (err instanceof PalisadeError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.syscall === "string") {
    const target = e.path ? ` ${e.path}` : "";
    return new PalisadeError("IO", `${e.syscall}${target} failed: ${e.code}`, {
      hint: ioHint(e.code),
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PalisadeError("INTERNAL", message, {
    hint: "this is a bug in Palisade; rerun with PALISADE_DEBUG=1 for a stack trace and report it",
    cause: err,
  });
}

function ioHint(code: string): string {
  switch (code) {
    case "ENOENT":
      return "check the path exists";
    case "EACCES":
    case "EPERM":
      return "check permissions, or run as root";
    case "ENOSPC":
      return "the disk is full; free space and retry (nothing was changed)";
    default:
      return "check the path and retry";
  }
}
