/**
 * Node request signing: how an enrolled device proves who it is on every
 * request, and how the hub checks it. The signed message and the signing side
 * are in src/core/signing/nodeSigning.ts, shared with the agent (docs/api.md
 * repeats the format with an example).
 *
 * ## Wire format "palisade-node-v1"
 *
 * Every request to /v1/node/* carries four headers:
 *
 *   X-Palisade-Node:       the node id from enrollment (node_…)
 *   X-Palisade-Timestamp:  Unix time in milliseconds, decimal ASCII (e.g. 1735689600000)
 *   X-Palisade-Nonce:      16–128 random characters from [A-Za-z0-9_-]; new for every request
 *                          (16 random bytes in base64url is the recommended source)
 *   X-Palisade-Signature:  base64url (unpadded) Ed25519 signature, by the node key, of
 *
 *     "palisade-node-v1" LF METHOD LF TARGET LF TIMESTAMP LF NONCE LF NODE_ID LF BODY_SHA256
 *
 * where LF is "\n" (no trailing LF), METHOD is upper case ("GET"), TARGET is the
 * request target exactly as on the request line (path plus "?query" if any,
 * e.g. "/v1/node/desired-state"), TIMESTAMP, NONCE and NODE_ID are the header
 * values, and BODY_SHA256 is the lower-case hex sha256 of the exact body bytes
 * sent (of the empty string for a request without a body:
 * e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855).
 *
 * The hub refuses (HTTP 401 unless noted, JSON error with a stable code):
 *   HUB_NODE_AUTH     a header is missing or malformed, the node id is unknown,
 *                     or the signature does not verify (wrong key, changed body,
 *                     path, method or header);
 *   HUB_NODE_CLOCK    the timestamp is more than 5 minutes from the hub's clock
 *                     (the error's details carry the hub's time; fix NTP);
 *   HUB_NODE_REPLAY   this node already used this nonce (nonces are remembered
 *                     for as long as their timestamp is inside the window, so an
 *                     identical request can never be accepted twice);
 *   HUB_NODE_REVOKED  (403) the node was revoked by an admin: stop, do not retry.
 *
 * ## Enrollment proof
 *
 * POST /v1/enroll is made before the node has an id, so instead of the headers
 * its body carries `proof`: the node key's signature of
 *
 *     "palisade-enroll-v1" LF PUBLIC_KEY LF hex(sha256(ENROLLMENT_TOKEN))
 *
 * which shows the enrolling device holds the private key it registers, bound to
 * the token it used (without putting the token itself into the signed text).
 */
import type { KeyObject } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { CompiledQuery } from "kysely";
import { publicKeyFromText, verifyEd25519 } from "../core/signing/ed25519.js";
import { CLOCK_WINDOW_MS, NODE_HEADERS, nodeSigningMessage } from "../core/signing/nodeSigning.js";
import { hubError } from "./httpErrors.js";
import type { HubDb } from "./hubDatabase.js";
import type { NodePrincipal } from "./hubContext.js";
import type { NodeActivity } from "./nodeActivity.js";
import type { NodeAdmission } from "./nodeAdmission.js";

// The message format and the signing side are pure and shared with the agent (src/core/signing/nodeSigning.ts).
export {
  CLOCK_WINDOW_MS,
  ENROLL_PROOF_SCHEME,
  NODE_HEADERS,
  NODE_SIGNATURE_SCHEME,
  enrollProofMessage,
  nodeSigningMessage,
  signEnrollProof,
  signNodeRequest,
  type SignedRequestParts,
} from "../core/signing/nodeSigning.js";

const NODE_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const TIMESTAMP_RE = /^\d{1,16}$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" ? v : undefined;
}

/** What never changes for an enrolled node: the key it signs with and its org. */
interface NodeIdentity {
  readonly key: KeyObject;
  readonly orgId: string;
}

const IDENTITY_SQL = {
  sqlite: "select public_key, org_id from nodes where id = ?",
  postgres: "select public_key, org_id from nodes where id = $1",
} as const;

export class NodeAuthenticator {
  /**
   * Node id → imported public key and org. Safe to keep for the life of the
   * process, on every replica: enrollment writes both once and nothing
   * updates them (a re-enrolled device gets a new id). Revocation, labels and
   * the org's generation are NOT cached: NodeAdmission reads them with every
   * request. Importing a key costs about a third of a verification.
   */
  readonly #identities = new Map<string, NodeIdentity>();

  constructor(
    private readonly hub: HubDb,
    private readonly admission: NodeAdmission,
    private readonly activity: NodeActivity,
    private readonly windowMs: number = CLOCK_WINDOW_MS,
    private readonly maxIdentities = 200_000,
  ) {}

  /** Checks a request's signature headers; throws the PalisadeError to send back. */
  async authenticate(req: FastifyRequest, rawBody: Uint8Array): Promise<NodePrincipal> {
    const nodeId = header(req, NODE_HEADERS.node);
    const timestamp = header(req, NODE_HEADERS.timestamp);
    const nonce = header(req, NODE_HEADERS.nonce);
    const signature = header(req, NODE_HEADERS.signature);
    const how = "sign every /v1/node request as docs/api.md (\"Node request signing\") describes";
    if (nodeId === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
      const missing = Object.values(NODE_HEADERS).filter((h) => header(req, h) === undefined);
      throw hubError("HUB_NODE_AUTH", `missing node signature header${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`, how);
    }
    if (!NODE_ID_RE.test(nodeId)) throw hubError("HUB_NODE_AUTH", "malformed X-Palisade-Node header", how);
    if (!TIMESTAMP_RE.test(timestamp)) throw hubError("HUB_NODE_AUTH", "X-Palisade-Timestamp must be Unix time in milliseconds", how);
    if (!NONCE_RE.test(nonce)) throw hubError("HUB_NODE_AUTH", "X-Palisade-Nonce must be 16-128 characters of [A-Za-z0-9_-]", how);

    const now = Date.now();
    const ts = Number(timestamp);
    if (Math.abs(now - ts) > this.windowMs) {
      throw hubError(
        "HUB_NODE_CLOCK",
        `request timestamp is ${Math.round((ts - now) / 1000)} s from the hub's clock (the window is ±${this.windowMs / 1000} s)`,
        "synchronise the device clock (NTP); a replayed old request also looks like this",
        { hubTime: new Date(now).toISOString() },
      );
    }

    const unknown = () => hubError("HUB_NODE_AUTH", `unknown node "${nodeId}"`, "enroll the device again (palisade agent --hub URL --token T)");
    const identity = this.#identities.get(nodeId) ?? (await this.#loadIdentity(nodeId));
    if (identity === undefined) throw unknown();

    const message = nodeSigningMessage({ method: req.method, target: req.url, timestamp, nonce, nodeId, body: rawBody });
    if (!verifyEd25519(identity.key, message, signature)) {
      throw hubError("HUB_NODE_AUTH", "node request signature does not verify", `${how}; the body, path, method and headers must be signed exactly as sent`);
    }
    // Only a verified request may spend a nonce; its state comes from the same read.
    const admitted = await this.admission.admit(nodeId, nonce, ts + this.windowMs);
    if (admitted.kind === "unknown") throw unknown();
    // Checked after the signature so that only the node itself learns it was revoked.
    if (admitted.kind === "fresh" && admitted.state.revokedAt !== null) {
      throw hubError("HUB_NODE_REVOKED", `node ${nodeId} was revoked at ${admitted.state.revokedAt}`, "this device is no longer trusted; an admin must enroll it again with a new key");
    }
    if (admitted.kind === "replay") {
      throw hubError("HUB_NODE_REPLAY", "this signed request was already used (same node and nonce)", "use a fresh random X-Palisade-Nonce for every request, including retries");
    }
    this.activity.touch(nodeId, now);
    return {
      kind: "node",
      nodeId,
      orgId: identity.orgId,
      labels: JSON.parse(admitted.state.labels) as Record<string, string>,
      generation: admitted.state.generation,
      actor: `node:${nodeId}`,
    };
  }

  async #loadIdentity(nodeId: string): Promise<NodeIdentity | undefined> {
    const r = await this.hub.db.executeQuery(CompiledQuery.raw(IDENTITY_SQL[this.hub.dialect], [nodeId]));
    const row = r.rows[0] as { public_key: string; org_id: string } | undefined;
    if (row === undefined) return undefined;
    const identity = { key: publicKeyFromText(row.public_key), orgId: row.org_id };
    if (this.#identities.size >= this.maxIdentities) this.#identities.delete(this.#identities.keys().next().value as string);
    this.#identities.set(nodeId, identity);
    return identity;
  }
}
