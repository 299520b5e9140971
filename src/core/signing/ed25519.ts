/**
 * Ed25519 keys and signatures as they travel in Palisade's wire formats:
 * a public key is its raw 32 bytes in unpadded base64url (43 characters,
 * the same as a JWK's `x`), a signature its raw 64 bytes in unpadded
 * base64url (86 characters). Key ids are derived from the key itself, so
 * nobody (the hub included) can rebind an id to another key.
 *
 * Pure (node:crypto only); shared by the hub, the agent and the CLI.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

const PUBLIC_KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const SIGNATURE_RE = /^[A-Za-z0-9_-]{86}$/;

/** True when `s` is a canonical unpadded base64url encoding of exactly `bytes` bytes. */
function isCanonicalBase64url(s: string, re: RegExp, bytes: number): boolean {
  if (!re.test(s)) return false;
  const raw = Buffer.from(s, "base64url");
  // Re-encoding rejects strings whose unused trailing bits are set (two spellings of one key).
  return raw.length === bytes && raw.toString("base64url") === s;
}

export function isPublicKeyText(s: string): boolean {
  return isCanonicalBase64url(s, PUBLIC_KEY_RE, 32);
}

export function isSignatureText(s: string): boolean {
  return isCanonicalBase64url(s, SIGNATURE_RE, 64);
}

/** A KeyObject for a raw base64url public key; throws TypeError for anything else. */
export function publicKeyFromText(publicKey: string): KeyObject {
  if (!isPublicKeyText(publicKey)) throw new TypeError("an Ed25519 public key is 32 bytes in unpadded base64url (43 characters)");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey }, format: "jwk" });
}

/** `ed25519:` + the first 16 bytes of sha256(raw key), in hex. */
export function keyIdOf(publicKey: string): string {
  const raw = Buffer.from(publicKey, "base64url");
  return `ed25519:${createHash("sha256").update(raw).digest("hex").slice(0, 32)}`;
}

/** Verifies without throwing: malformed keys or signatures simply do not verify. */
export function verifyEd25519(publicKey: string | KeyObject, message: Uint8Array, signature: string): boolean {
  if (!isSignatureText(signature)) return false;
  let key: KeyObject;
  try {
    key = typeof publicKey === "string" ? publicKeyFromText(publicKey) : publicKey;
  } catch {
    return false;
  }
  return verify(null, message, key, Buffer.from(signature, "base64url"));
}

export function signEd25519(privateKey: KeyObject, message: Uint8Array): string {
  return sign(null, message, privateKey).toString("base64url");
}

/** A new key pair; the public half in wire format. For tools, tests and agents. */
export function generateEd25519(): { publicKey: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" });
  return { publicKey: String(jwk.x), privateKey };
}
