/**
 * Ids and bearer secrets.
 *
 * A secret token is `<kind>_<16 hex id>_<43 base64url secret>`:
 *   pat_…  API token (humans, CI)           row id tok_<16 hex>
 *   pet_…  enrollment token (devices)       row id enr_<16 hex>
 * The id half finds the row by primary key; only sha256(token) is stored
 * and it is compared in constant time, so neither a database dump nor
 * response timing reveals a usable token. The fixed prefixes let secret
 * scanners recognise leaked tokens.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export type TokenKind = "pat" | "pet";

const ROW_PREFIX: Record<TokenKind, string> = { pat: "tok", pet: "enr" };
const TOKEN_RE = /^(pat|pet)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A random id such as `node_1f0c…` (64 bits: unguessable is not needed, unique is). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString("hex")}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface NewToken {
  /** The row id, e.g. tok_…; safe to show and log. */
  readonly id: string;
  /** The whole bearer secret; shown once, never stored. */
  readonly token: string;
  readonly hash: string;
}

export function newSecretToken(kind: TokenKind): NewToken {
  const idHex = randomBytes(8).toString("hex");
  const token = `${kind}_${idHex}_${randomBytes(32).toString("base64url")}`;
  return { id: `${ROW_PREFIX[kind]}_${idHex}`, token, hash: sha256Hex(token) };
}

/** The row id a presented token claims, or undefined when it is not shaped like one of `kind`. */
export function tokenRowId(token: string, kind: TokenKind): string | undefined {
  const m = TOKEN_RE.exec(token);
  if (!m || m[1] !== kind) return undefined;
  return `${ROW_PREFIX[kind]}_${m[2]}`;
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(sha256Hex(token), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
