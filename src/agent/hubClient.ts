/**
 * The agent's side of the hub API: enrollment (proof of key possession) and
 * every later request signed with the node key (palisade-node-v1,
 * src/core/signing/nodeSigning.ts). After enrollment there is no bearer
 * secret anywhere on the device: a captured request cannot be replayed
 * (fresh nonce each time) and nothing on disk is worth more than the key.
 */
import type { KeyObject } from "node:crypto";
import { PalisadeError } from "../core/errors.js";
import { isPublicKeyText, keyIdOf } from "../core/signing/ed25519.js";
import { signEnrollProof, signNodeRequest } from "../core/signing/nodeSigning.js";
import { PALISADE_VERSION } from "../core/version.js";
import type { PinnedKey } from "./agentStore.js";
import { hubFetch, hubResponseError, hubUrl, type HubResponse } from "./hubHttp.js";

export interface EnrollRequest {
  readonly hubUrl: string;
  readonly token: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
  readonly hostname: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface EnrollResult {
  readonly nodeId: string;
  readonly orgId: string;
  readonly labels: Record<string, string>;
  /** Keys whose id matches their bytes; the others are listed in `rejectedKeys`. */
  readonly publisherKeys: PinnedKey[];
  readonly rejectedKeys: string[];
}

export async function enrollNode(req: EnrollRequest): Promise<EnrollResult> {
  const body = JSON.stringify({
    token: req.token,
    publicKey: req.publicKey,
    proof: signEnrollProof(req.privateKey, req.publicKey, req.token),
    agentVersion: PALISADE_VERSION,
    hostname: req.hostname.slice(0, 253),
    labels: req.labels,
  });
  const res = await hubFetch(hubUrl(req.hubUrl, "/v1/enroll"), { method: "POST", headers: { "content-type": "application/json" }, body });
  if (res.status !== 201) throw await hubResponseError(res, "enrollment refused");
  const json = (await res.json()) as { nodeId: string; orgId: string; labels: Record<string, string>; publisherKeys: PinnedKey[] };
  if (typeof json.nodeId !== "string" || typeof json.orgId !== "string" || !Array.isArray(json.publisherKeys)) {
    throw new PalisadeError("HUB_BAD_REQUEST", "the hub's enrollment answer is malformed", { hint: "check --hub points at a Palisade hub of the same version" });
  }
  // Key ids are computed here, never taken from the hub: an id names exactly one key.
  const good = json.publisherKeys.filter((k) => typeof k.publicKey === "string" && isPublicKeyText(k.publicKey) && keyIdOf(k.publicKey) === k.keyId);
  const rejected = json.publisherKeys.filter((k) => !good.includes(k)).map((k) => String(k.keyId));
  return { nodeId: json.nodeId, orgId: json.orgId, labels: json.labels ?? {}, publisherKeys: good, rejectedKeys: rejected };
}

export type DesiredStateAnswer = { readonly changed: false } | { readonly changed: true; readonly etag: string | undefined; readonly body: string };

export class NodeHubClient {
  constructor(
    readonly baseUrl: string,
    readonly nodeId: string,
    private readonly privateKey: KeyObject,
    private readonly timeoutMs = 30_000,
  ) {}

  /** A signed request; the body is serialised once so the signature covers exactly the bytes sent. */
  async #request(method: "GET" | "POST", target: string, body?: string, extra: Record<string, string> = {}): Promise<HubResponse> {
    const bytes = body === undefined ? undefined : Buffer.from(body, "utf8");
    const headers = {
      ...signNodeRequest(this.privateKey, { nodeId: this.nodeId, method, target, ...(bytes ? { body: bytes } : {}) }),
      ...(bytes ? { "content-type": "application/json" } : {}),
      ...extra,
    };
    // The signature covers the path as sent: join the base and target without re-encoding.
    return hubFetch(hubUrl(this.baseUrl, target), { method, headers, ...(bytes ? { body: bytes } : {}), timeoutMs: this.timeoutMs });
  }

  /** GET /v1/node/desired-state with If-None-Match; 304 → unchanged. */
  async desiredState(etag: string | undefined): Promise<DesiredStateAnswer> {
    const res = await this.#request("GET", "/v1/node/desired-state", undefined, etag ? { "if-none-match": etag } : {});
    if (res.status === 304) return { changed: false };
    if (res.status !== 200) throw await hubResponseError(res, "desired state");
    return { changed: true, etag: res.headers.get("etag") ?? undefined, body: await res.text() };
  }

  /** The raw bytes of a bundle in this node's desired state (the caller verifies them). */
  async bundle(digest: string): Promise<Buffer> {
    const res = await this.#request("GET", `/v1/node/bundles/${digest}`);
    if (res.status !== 200) throw await hubResponseError(res, `bundle ${digest}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** POSTs a batch of status or alert items; resolves when the hub stored them (or already had them). */
  async deliver(kind: "status" | "alert", items: readonly Record<string, unknown>[]): Promise<{ stored: number; duplicates: string[] }> {
    const res = await this.#request("POST", kind === "status" ? "/v1/node/status" : "/v1/node/alerts", JSON.stringify({ items }));
    if (res.status !== 200) throw await hubResponseError(res, `${kind} delivery`);
    return (await res.json()) as { stored: number; duplicates: string[] };
  }
}
