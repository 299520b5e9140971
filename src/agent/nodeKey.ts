/**
 * The device's own Ed25519 key: made on the device at first start, never
 * leaves it. The private half is a PKCS#8 PEM file with mode 0600 in the
 * agent's state directory; the hub only ever sees the public half (sent at
 * enrollment) and signatures made with it.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { PalisadeError } from "../core/errors.js";
import { generateEd25519 } from "../core/signing/ed25519.js";
import { writeFileAtomic } from "../core/atomicFile.js";

export interface NodeKey {
  /** Raw public key, unpadded base64url (the wire format). */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** Generates a key and writes its private half to `path` (0600, atomically). */
export function createNodeKey(path: string): NodeKey {
  const { publicKey, privateKey } = generateEd25519();
  writeFileAtomic(path, privateKey.export({ format: "pem", type: "pkcs8" }) as string, { mode: 0o600 });
  return { publicKey, privateKey };
}

/** Reads the private key at `path`; refuses a file others can read (it would let them impersonate the device). */
export function loadNodeKey(path: string): NodeKey {
  let mode: number;
  let pem: string;
  try {
    mode = statSync(path).mode;
    pem = readFileSync(path, "utf8");
  } catch (cause) {
    throw new PalisadeError("AGENT_STATE", `cannot read the node key ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, {
      hint: "the agent's data directory is incomplete; restore it from backup, or enroll again with a fresh --data-dir and a new enrollment token",
      cause,
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new PalisadeError("AGENT_STATE", `the node key ${path} is accessible to other users (mode ${(mode & 0o777).toString(8)})`, {
      hint: `chmod 600 ${path}; if others may have copied it, revoke this node on the hub and enroll again`,
    });
  }
  try {
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`it is a ${privateKey.asymmetricKeyType ?? "unknown"} key`);
    const publicKey = String(createPublicKey(privateKey).export({ format: "jwk" }).x);
    return { publicKey, privateKey };
  } catch (cause) {
    throw new PalisadeError("AGENT_STATE", `the node key ${path} is not an Ed25519 private key: ${(cause as Error).message}`, { hint: "restore it from backup, or enroll again with a fresh --data-dir", cause });
  }
}
