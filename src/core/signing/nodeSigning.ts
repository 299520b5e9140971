/**
 * The pure half of node request signing ("palisade-node-v1") and of the
 * enrollment proof ("palisade-enroll-v1"): the exact bytes a device signs.
 * The hub's verifier (src/hub/nodeAuth.ts) and the agent's signer
 * (src/agent/hubClient.ts) both build the message here, so they cannot drift.
 * The wire format is specified in docs/api.md ("Node request signing").
 *
 *   message = "palisade-node-v1" LF METHOD LF TARGET LF TIMESTAMP LF NONCE LF NODE_ID LF hex(sha256(body))
 *   proof   = Ed25519("palisade-enroll-v1" LF PUBLIC_KEY LF hex(sha256(ENROLLMENT_TOKEN)))
 */
import { createHash, randomBytes, type KeyObject } from "node:crypto";
import { signEd25519 } from "./ed25519.js";

export const NODE_SIGNATURE_SCHEME = "palisade-node-v1";
export const ENROLL_PROOF_SCHEME = "palisade-enroll-v1";
/** How far a request's timestamp may be from the hub's clock. */
export const CLOCK_WINDOW_MS = 5 * 60 * 1000;

/** Header names, lower case as Node's HTTP stack reports them. */
export const NODE_HEADERS = {
  node: "x-palisade-node",
  timestamp: "x-palisade-timestamp",
  nonce: "x-palisade-nonce",
  signature: "x-palisade-signature",
} as const;

export interface SignedRequestParts {
  readonly method: string;
  /** Path plus query, exactly as on the request line. */
  readonly target: string;
  readonly timestamp: string;
  readonly nonce: string;
  readonly nodeId: string;
  readonly body: Uint8Array;
}

export function nodeSigningMessage(p: SignedRequestParts): Buffer {
  const bodyHash = createHash("sha256").update(p.body).digest("hex");
  return Buffer.from([NODE_SIGNATURE_SCHEME, p.method.toUpperCase(), p.target, p.timestamp, p.nonce, p.nodeId, bodyHash].join("\n"), "utf8");
}

/** The four signature headers for one request; a fresh nonce unless one is given (test vectors). */
export function signNodeRequest(
  privateKey: KeyObject,
  req: { nodeId: string; method: string; target: string; body?: Uint8Array | string; timestampMs?: number; nonce?: string },
): Record<string, string> {
  const timestamp = String(req.timestampMs ?? Date.now());
  const nonce = req.nonce ?? randomBytes(16).toString("base64url");
  const body = typeof req.body === "string" ? Buffer.from(req.body, "utf8") : (req.body ?? new Uint8Array());
  const signature = signEd25519(privateKey, nodeSigningMessage({ method: req.method, target: req.target, timestamp, nonce, nodeId: req.nodeId, body }));
  return { [NODE_HEADERS.node]: req.nodeId, [NODE_HEADERS.timestamp]: timestamp, [NODE_HEADERS.nonce]: nonce, [NODE_HEADERS.signature]: signature };
}

export function enrollProofMessage(publicKey: string, enrollmentToken: string): Buffer {
  const tokenHash = createHash("sha256").update(enrollmentToken, "utf8").digest("hex");
  return Buffer.from([ENROLL_PROOF_SCHEME, publicKey, tokenHash].join("\n"), "utf8");
}

export function signEnrollProof(privateKey: KeyObject, publicKey: string, enrollmentToken: string): string {
  return signEd25519(privateKey, enrollProofMessage(publicKey, enrollmentToken));
}
