/**
 * What the device accepts (src/agent/bundleVerifier.ts, desiredStateSync.ts):
 * key pinning, revocation, integrity, replay/rollback protection that
 * survives restarts, and "last known good" when an update is refused.
 */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { verifyBundle, type TrustView } from "../../src/agent/bundleVerifier.js";
import { syncDesiredState } from "../../src/agent/desiredStateSync.js";
import { PalisadeError } from "../../src/core/errors.js";
import { claimOf, desired, envelope, sign, signer, trustStore, type SignedBundle } from "./trustFixture.js";

const acme = signer("acme", "pub_acme");
const other = signer("other", "pub_other");
const rogue = signer("acme", "pub_acme"); // the hub's own key, claiming to be acme's

function view(pins = [acme, other], revoked: string[] = [], marks: Record<string, { version: number; digest: string; publisherId: string }> = {}): TrustView {
  return { pinnedKey: (id) => pins.find((p) => p.keyId === id)?.pin, isRevoked: (id) => revoked.includes(id), versionMark: (n) => marks[n] };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PalisadeError);
    expect((e as PalisadeError).code).toBe("AGENT_BUNDLE_REFUSED");
    return String((e as PalisadeError).details?.reason);
  }
  throw new Error("expected a refusal");
}

describe("bundle verification (key pinning, integrity, freshness)", () => {
  const v1 = sign(envelope("thermostat", 1), acme);

  it("accepts a bundle signed by a pinned key", () => {
    const r = verifyBundle(v1.bytes, claimOf(v1), view());
    expect(r.envelope.name).toBe("thermostat");
    expect(r.key.publisherId).toBe("pub_acme");
  });

  it("refuses a bundle re-signed by any key the device did not pin, whatever the hub calls it", () => {
    const forged = sign(envelope("thermostat", 2), rogue);
    expect(reason(() => verifyBundle(forged.bytes, claimOf(forged), view()))).toBe("unpinned-key");
    // Claiming a pinned key id does not help: the signature is checked with the pinned key's bytes.
    expect(reason(() => verifyBundle(forged.bytes, { ...claimOf(forged), keyId: acme.keyId }, view()))).toBe("signature");
  });

  it("refuses tampered bytes, bytes that are not canonical, and metadata that disagrees with the envelope", () => {
    const tampered = Buffer.from(v1.bytes.toString().replace("sleep 1000", "sleep 1001"));
    expect(reason(() => verifyBundle(tampered, claimOf(v1), view()))).toBe("digest");
    const pretty = Buffer.from(JSON.stringify(JSON.parse(v1.bytes.toString()), null, 1));
    expect(reason(() => verifyBundle(pretty, { ...claimOf(v1), digest: `sha256:${createHash("sha256").update(pretty).digest("hex")}` }, view()))).toBe("format");
    expect(reason(() => verifyBundle(v1.bytes, { ...claimOf(v1), version: 9 }, view()))).toBe("mismatch");
  });

  it("refuses a revoked key, unless an already-accepted bundle may keep running", () => {
    expect(reason(() => verifyBundle(v1.bytes, claimOf(v1), view(undefined, [acme.keyId])))).toBe("revoked-key");
    expect(verifyBundle(v1.bytes, claimOf(v1), view(undefined, [acme.keyId]), { allowRevoked: true }).envelope.version).toBe(1);
  });

  it("refuses rollbacks, equivocation, and another publisher taking over a name", () => {
    const marks = { thermostat: { version: 3, digest: `sha256:${"d".repeat(64)}`, publisherId: "pub_acme" } };
    expect(reason(() => verifyBundle(v1.bytes, claimOf(v1), view(undefined, [], marks)))).toBe("rollback");
    const v3 = sign(envelope("thermostat", 3), acme);
    expect(reason(() => verifyBundle(v3.bytes, claimOf(v3), view(undefined, [], marks)))).toBe("equivocation");
    const v4 = sign(envelope("thermostat", 4), acme);
    expect(verifyBundle(v4.bytes, claimOf(v4), view(undefined, [], marks)).envelope.version).toBe(4);
    const hijack = sign(envelope("thermostat", 5), other);
    expect(reason(() => verifyBundle(hijack.bytes, claimOf(hijack), view(undefined, [], marks)))).toBe("name-owner");
  });
});


describe("desired-state sync (what the device accepts and remembers)", () => {
  const fetcher = (bundles: readonly SignedBundle[], fail = new Set<string>()) => async (digest: string) => {
    if (fail.has(digest)) throw new PalisadeError("HUB_UNREACHABLE", "connection refused");
    const b = bundles.find((x) => x.digest === digest);
    if (!b) throw new PalisadeError("HUB_NOT_FOUND", "no such bundle", { details: { status: 404 } });
    return b.bytes;
  };

  it("accepts, refuses an older version replayed later (also after a restart), and keeps the last good one running", async () => {
    const t = trustStore([acme]);
    try {
      const v1 = sign(envelope("app", 1), acme);
      const v2 = sign(envelope("app", 2), acme);
      const all = [v1, v2];
      let r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v1 }]), '"e1"', { store: t.store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: "stop" });
      expect(r.accepted.map((a) => a.version)).toEqual([1]);
      r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v2 }]), '"e2"', { store: t.store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: "stop" });
      expect(r.accepted.map((a) => a.version)).toEqual([2]);
      expect(t.store.getMeta("desired_etag")).toBe('"e2"');
      t.store.close();

      // A restarted agent (same data directory) still knows v2 was the newest.
      const store = t.reopen();
      r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v1 }]), '"e3"', { store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: "stop" });
      expect(r.refusals.map((f) => f.error.details?.reason)).toEqual(["rollback"]);
      expect(r.accepted.map((a) => a.version)).toEqual([2]);
      // The replay under another deployment name is refused as well: marks are per bundle name.
      r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v2 }, { deployment: "app-old", bundle: v1 }]), '"e4"', { store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: "stop" });
      expect(r.accepted.map((a) => `${a.deployment}:${a.version}`)).toEqual(["app:2"]);
      expect(r.refusals.map((f) => `${f.deployment}:${String(f.error.details?.reason)}`)).toEqual(["app-old:rollback"]);
      store.close();
    } finally {
      rmSync(t.dir, { recursive: true, force: true });
    }
  });

  it("a transient fetch failure keeps the previous bundle and does not store the ETag", async () => {
    const t = trustStore([acme]);
    try {
      const v1 = sign(envelope("app", 1), acme);
      const v2 = sign(envelope("app", 2), acme);
      await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v1 }]), '"e1"', { store: t.store, cache: t.cache, fetchBundle: fetcher([v1]), onRevokedKey: "stop" });
      const r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: v2 }]), '"e2"', { store: t.store, cache: t.cache, fetchBundle: fetcher([v2], new Set([v2.digest])), onRevokedKey: "stop" });
      expect(r.complete).toBe(false);
      expect(r.accepted.map((a) => a.version)).toEqual([1]);
      expect(t.store.getMeta("desired_etag")).toBe('"e1"');
    } finally {
      t.store.close();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });

  it("revocation only removes trust: stop mode drops the bundle, keep mode keeps it, neither admits new bundles of that key", async () => {
    for (const mode of ["stop", "keep"] as const) {
      const t = trustStore([acme, other]);
      try {
        const a1 = sign(envelope("app", 1), acme);
        const a2 = sign(envelope("app", 2), acme);
        const o1 = sign(envelope("tool", 1), other);
        const all = [a1, a2, o1];
        await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: a1 }, { deployment: "tool", bundle: o1 }]), '"e1"', { store: t.store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: mode });
        const r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: a1 }, { deployment: "tool", bundle: o1 }], [acme.keyId]), '"e2"', { store: t.store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: mode });
        expect(r.newlyRevoked).toEqual([acme.keyId]);
        expect(r.accepted.map((a) => a.deployment)).toEqual(mode === "stop" ? ["tool"] : ["app", "tool"]);
        const upd = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: a2 }, { deployment: "tool", bundle: o1 }]), '"e3"', { store: t.store, cache: t.cache, fetchBundle: fetcher(all), onRevokedKey: mode });
        expect(upd.refusals.map((f) => f.error.details?.reason)).toEqual(["revoked-key"]);
        // The hub cannot un-revoke: a document without the revocation changes nothing.
        expect(t.store.revokedKeys().has(acme.keyId)).toBe(true);
      } finally {
        t.store.close();
        rmSync(t.dir, { recursive: true, force: true });
      }
    }
  });

  it("a bundle whose workload does not parse is refused up front", async () => {
    const t = trustStore([acme]);
    try {
      const broken = sign({ ...envelope("app", 1), workload: "apiVersion: palisade.dev/v1\nkind: Workload\nmetadata: {name: app}\nspec: {containers: []}\n" }, acme);
      const r = await syncDesiredState(desired("org_t", [{ deployment: "app", bundle: broken }]), '"e1"', { store: t.store, cache: t.cache, fetchBundle: fetcher([broken]), onRevokedKey: "stop" });
      expect(r.accepted).toEqual([]);
      expect(r.refusals[0]?.error.code).toMatch(/^POLICY_/);
    } finally {
      t.store.close();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });
});
