/**
 * The wire formats other parts implement from the docs: canonical JSON, the
 * bundle envelope and its signature, node request signing, label selectors.
 * Fixed vectors here are the reference an agent implementation can test against.
 */
import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/hub/canonicalJson.js";
import {
  BUNDLE_FORMAT,
  bundleDigest,
  bundleSigningMessage,
  envelopeProblems,
  parseBundleBytes,
  signBundle,
  verifyBundleSignature,
  type BundleEnvelope,
} from "../../src/hub/bundleFormat.js";
import { generateEd25519, isPublicKeyText, keyIdOf, verifyEd25519 } from "../../src/hub/ed25519.js";
import { labelSetKey, parseSelectorQuery, selectorMatches } from "../../src/hub/labelSelector.js";
import { enrollProofMessage, nodeSigningMessage, signNodeRequest } from "../../src/hub/nodeAuth.js";
import { newSecretToken, tokenMatches, tokenRowId } from "../../src/hub/secretTokens.js";

// RFC 8032 test 1 private key, so signatures below are reproducible anywhere.
const SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const FIXED_KEY = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(SEED, "hex")]), format: "der", type: "pkcs8" });
const FIXED_PUB = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

describe("canonical JSON", () => {
  it("sorts keys, drops whitespace and undefined, keeps array order", () => {
    expect(canonicalJson({ b: 1, a: [3, { d: null, c: "x" }], u: undefined })).toBe('{"a":[3,{"c":"x","d":null}],"b":1}');
  });
  it("sorts by UTF-16 code units and escapes like JSON.stringify", () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, "\u2028": "\n" })).toBe('{"Z":3,"z":2,"é":1,"\u2028":"\\n"}');
  });
  it("refuses what two implementations could write differently", () => {
    expect(() => canonicalJson({ x: 1.5 })).toThrow(/safe integers; \$\.x/);
    expect(() => canonicalJson({ x: new Date(0) })).toThrow(/plain objects/);
    expect(() => canonicalJson([BigInt(1)])).toThrow(/bigint/);
  });
});

describe("bundle envelope", () => {
  const env: BundleEnvelope = {
    format: BUNDLE_FORMAT,
    name: "thermostat",
    version: 3,
    workload: "kind: Workload\n",
    policies: "",
    images: [{ ref: "registry.example.com/acme/thermostat:3", digest: `sha256:${"c".repeat(64)}` }],
    created: "2025-01-31T12:00:00Z",
  };

  it("has a stable canonical form and digest (reference vector)", () => {
    expect(canonicalJson(env)).toBe(
      '{"created":"2025-01-31T12:00:00Z","format":"palisade.bundle/v1","images":[{"digest":"sha256:' +
        "c".repeat(64) +
        '","ref":"registry.example.com/acme/thermostat:3"}],"name":"thermostat","policies":"","version":3,"workload":"kind: Workload\\n"}',
    );
    expect(bundleDigest(env)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundleDigest({ ...env })).toBe(bundleDigest(env));
    expect(bundleSigningMessage(bundleDigest(env)).toString()).toBe(`palisade-bundle-signature-v1\n${bundleDigest(env)}`);
  });

  it("matches the worked example in docs/hub.md", () => {
    const doc = { ...env, workload: "apiVersion: palisade.dev/v1\nkind: Workload\n..." };
    expect(keyIdOf(FIXED_PUB)).toBe("ed25519:21fe31dfa154a261626bf854046fd227");
    expect(bundleDigest(doc)).toBe("sha256:ae693f6b0805028f23945d473cbd7e602167978ea7dc634b9fd46c9a1f623890");
    expect(signBundle(doc, FIXED_KEY, FIXED_PUB).signature).toBe("2z0ZjUCKV6BdIrDxcHVSMgjVcGUPxM66SKq6xdYb4VxLFMysbnBraWMaqJ5B_zakHa0rY3WCJMBHx_U7yQ7bAQ");
  });

  it("signs and verifies; any change to the envelope, key or signature fails", () => {
    expect(keyIdOf(FIXED_PUB)).toMatch(/^ed25519:[0-9a-f]{32}$/);
    const sig = signBundle(env, FIXED_KEY, FIXED_PUB);
    expect(sig.keyId).toBe(keyIdOf(FIXED_PUB));
    expect(verifyBundleSignature(bundleDigest(env), sig, FIXED_PUB)).toBe(true);
    expect(verifyBundleSignature(bundleDigest({ ...env, version: 4 }), sig, FIXED_PUB)).toBe(false);
    const other = generateEd25519();
    expect(verifyBundleSignature(bundleDigest(env), { ...sig, keyId: keyIdOf(other.publicKey) }, other.publicKey)).toBe(false);
    const flipped = (sig.signature[0] === "A" ? "B" : "A") + sig.signature.slice(1);
    expect(verifyBundleSignature(bundleDigest(env), { ...sig, signature: flipped }, FIXED_PUB)).toBe(false);
  });

  it("parses fetched bytes only when canonical, valid and matching the expected digest", () => {
    const bytes = Buffer.from(canonicalJson(env));
    expect(parseBundleBytes(bytes, bundleDigest(env))).toEqual(env);
    expect(() => parseBundleBytes(Buffer.from(JSON.stringify(env, null, 2)))).toThrow(/canonical/);
    expect(() => parseBundleBytes(bytes, `sha256:${"0".repeat(64)}`)).toThrow(/hash to/);
    expect(envelopeProblems({ ...env, version: 0, extra: 1, images: [{ ref: "x", digest: "md5:1" }] })).toEqual([
      "extra: unknown field",
      "version: must be a positive integer",
      "images[0].digest: must be sha256:<64 lower-case hex>",
    ]);
  });
});

describe("node request signing (palisade-node-v1)", () => {
  it("signs exactly the documented message (reference vector)", () => {
    const msg = nodeSigningMessage({ method: "post", target: "/v1/node/status", timestamp: "1735689600000", nonce: "AAAAAAAAAAAAAAAAAAAAAA", nodeId: "node_0123456789abcdef", body: Buffer.from("{}") });
    expect(msg.toString()).toBe(
      "palisade-node-v1\nPOST\n/v1/node/status\n1735689600000\nAAAAAAAAAAAAAAAAAAAAAA\nnode_0123456789abcdef\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    );
    const headers = signNodeRequest(FIXED_KEY, { nodeId: "node_0123456789abcdef", method: "POST", target: "/v1/node/status", body: "{}", timestampMs: 1735689600000, nonce: "AAAAAAAAAAAAAAAAAAAAAA" });
    expect(Object.keys(headers).sort()).toEqual(["x-palisade-node", "x-palisade-nonce", "x-palisade-signature", "x-palisade-timestamp"]);
    expect(verifyEd25519(FIXED_PUB, msg, headers["x-palisade-signature"] as string)).toBe(true);
  });

  it("matches the worked example in docs/api.md byte for byte", () => {
    const body = '{"items":[{"id":"s-1","time":"2025-01-01T00:00:00Z","workloads":[]}]}';
    const headers = signNodeRequest(FIXED_KEY, { nodeId: "node_0123456789abcdef", method: "POST", target: "/v1/node/status", body, timestampMs: 1735689600000, nonce: "AAAAAAAAAAAAAAAAAAAAAA" });
    expect(headers["x-palisade-signature"]).toBe("3czKwgbNT1CnjWFajiTIIBhQuDKy9-CYGX76oYGFIi2Dyh-yZn4SNU_EzzzfFYbzCBGlNTqeRiNuBu52StlzAQ");
  });

  it("defines the enrollment proof message", () => {
    expect(enrollProofMessage(FIXED_PUB, "pet_x").toString()).toMatch(new RegExp(`^palisade-enroll-v1\\n${FIXED_PUB}\\n[0-9a-f]{64}$`));
  });

  it("accepts only canonical 32-byte base64url public keys", () => {
    expect(isPublicKeyText(FIXED_PUB)).toBe(true);
    expect(isPublicKeyText(FIXED_PUB.slice(0, -1) + "b")).toBe(false); // unused trailing bits set
    expect(isPublicKeyText(`${FIXED_PUB}=`)).toBe(false);
  });
});

describe("secret tokens", () => {
  it("carry a row id, and match only their own hash", () => {
    const t = newSecretToken("pat");
    expect(t.token).toMatch(/^pat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(tokenRowId(t.token, "pat")).toBe(t.id);
    expect(tokenRowId(t.token, "pet")).toBeUndefined();
    expect(tokenMatches(t.token, t.hash)).toBe(true);
    expect(tokenMatches(`${t.token.slice(0, -1)}x`, t.hash)).toBe(false);
    expect(newSecretToken("pet").id).toMatch(/^enr_/);
  });
});

describe("label selectors", () => {
  const labels = { zone: "eu", tier: "edge" };
  it("match like Kubernetes", () => {
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { zone: "eu" } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { zone: "us" } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: "zone", operator: "In", values: ["us", "eu"] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["eu"] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: "gpu", operator: "NotIn", values: ["yes"] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: "gpu", operator: "Exists" }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] }, labels)).toBe(true);
  });
  it("parse from the query form, and key label sets order-independently", () => {
    expect(parseSelectorQuery("zone=eu, tier!=core,gpu,!old")).toEqual({
      matchLabels: { zone: "eu" },
      matchExpressions: [
        { key: "tier", operator: "NotIn", values: ["core"] },
        { key: "gpu", operator: "Exists" },
        { key: "old", operator: "DoesNotExist" },
      ],
    });
    expect(labelSetKey({ a: "1", b: "2" })).toBe(labelSetKey({ b: "2", a: "1" }));
  });
});
