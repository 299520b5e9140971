/**
 * `palisade publisher create NAME | ls` and
 * `palisade publisher key create PUBLISHER [--out FILE] | ls PUBLISHER | revoke PUBLISHER KEY_ID`.
 *
 * `key create` makes the Ed25519 key pair here, writes the private key to a
 * file only the current user can read (0600, never overwritten), and sends
 * only the public key to the hub: the hub never holds a signing key.
 */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { writeFileAtomic } from "../core/atomicFile.js";
import { PalisadeError } from "../core/errors.js";
import { generateEd25519, keyIdOf } from "../core/signing/ed25519.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, seg, withTarget } from "./hubApiClient.js";
import { formatTable, printJson } from "./output.js";

interface PublisherKey {
  keyId: string;
  publisherId: string;
  publicKey: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
}
interface Publisher {
  id: string;
  name: string;
  createdAt: string;
  keys: PublisherKey[];
}

/** A publisher id for `ref`, which may be its id (pub_…) or its name. */
export async function resolvePublisherId(client: HubApiClient, ref: string): Promise<string> {
  if (ref.startsWith("pub_")) return ref;
  const all = await client.get<Publisher[]>("/v1/publishers");
  const hit = all.find((p) => p.name === ref);
  if (!hit) throw new PalisadeError("HUB_NOT_FOUND", `no publisher named ${JSON.stringify(ref)}`, { hint: `known: ${all.map((p) => p.name).join(", ") || "none"} (palisade publisher ls)` });
  return hit.id;
}

async function publisher(client: HubApiClient, ref: string): Promise<Publisher> {
  const id = await resolvePublisherId(client, ref);
  const hit = (await client.get<Publisher[]>("/v1/publishers")).find((p) => p.id === id);
  if (!hit) throw new PalisadeError("HUB_NOT_FOUND", `no publisher ${id} in this org`, { hint: "palisade publisher ls" });
  return hit;
}

export function registerPublisherCommand(program: Command): void {
  const pub = program.command("publisher").description("publishers and their signing keys");
  withTarget(pub.command("create").description("create a publisher").argument("<name>").option("--json", "machine-readable output")).action(async (name: string, flags: TargetFlags & { json?: boolean }) => {
    const p = await HubApiClient.from(flags).post<Publisher>("/v1/publishers", { name });
    if (flags.json) return printJson(p);
    process.stdout.write(`created publisher ${p.name} (${p.id}); next: palisade publisher key create ${p.name}\n`);
  });
  withTarget(pub.command("ls").description("list publishers and their keys").option("--json", "machine-readable output")).action(async (flags: TargetFlags & { json?: boolean }) => {
    const all = await HubApiClient.from(flags).get<Publisher[]>("/v1/publishers");
    if (flags.json) return printJson(all);
    process.stdout.write(formatTable(["ID", "NAME", "KEYS", "CREATED"], all.map((p) => [p.id, p.name, `${p.keys.filter((k) => !k.revokedAt).length} active, ${p.keys.filter((k) => k.revokedAt).length} revoked`, p.createdAt])));
  });

  const key = pub.command("key").description("a publisher's signing keys");
  withTarget(
    key
      .command("create")
      .description("generate an Ed25519 key pair here, save the private key (0600), register the public key")
      .argument("<publisher>", "publisher id or name")
      .option("--out <file>", "where to write the private key (default ./<publisher>-<key id>.key)")
      .option("--name <name>", "a label for the key", "")
      .option("--json", "machine-readable output"),
  ).action(async (ref: string, flags: TargetFlags & { out?: string; name: string; json?: boolean }) => {
    const client = HubApiClient.from(flags);
    const p = await publisher(client, ref);
    const { publicKey, privateKey } = generateEd25519();
    const keyId = keyIdOf(publicKey);
    const out = resolve(flags.out ?? `${p.name}-${keyId.slice("ed25519:".length, "ed25519:".length + 12)}.key`);
    if (existsSync(out)) throw new PalisadeError("USAGE", `${out} exists; a signing key is never overwritten`, { hint: "choose another --out" });
    // The private key is on disk (0600) before the hub knows the public key, so a registered key is never lost.
    writeFileAtomic(out, privateKey.export({ format: "pem", type: "pkcs8" }) as string, { mode: 0o600 });
    const k = await client.post<PublisherKey>(`/v1/publishers/${seg(p.id)}/keys`, { publicKey, name: flags.name });
    if (flags.json) return printJson({ ...k, privateKeyFile: out });
    process.stdout.write(`registered key ${k.keyId} for publisher ${p.name}\nprivate key: ${out} (mode 0600; keep it offline or in your CI's secret store)\n`);
    process.stdout.write("devices pin the keys that exist when they enroll: register keys before enrolling devices\n");
  });
  withTarget(key.command("ls").description("list a publisher's keys").argument("<publisher>", "publisher id or name").option("--json", "machine-readable output")).action(
    async (ref: string, flags: TargetFlags & { json?: boolean }) => {
      const p = await publisher(HubApiClient.from(flags), ref);
      if (flags.json) return printJson(p.keys);
      process.stdout.write(formatTable(["KEY ID", "NAME", "CREATED", "STATE"], p.keys.map((k) => [k.keyId, k.name, k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : "active"])));
    },
  );
  withTarget(
    key
      .command("revoke")
      .description("revoke a key: no new bundles signed with it, and every device is told to distrust it")
      .argument("<publisher>", "publisher id or name")
      .argument("<keyId>", "ed25519:…")
      .option("--reason <text>", "why (kept in the audit log)"),
  ).action(async (ref: string, keyId: string, flags: TargetFlags & { reason?: string }) => {
    const client = HubApiClient.from(flags);
    const id = await resolvePublisherId(client, ref);
    const k = await client.post<PublisherKey>(`/v1/publishers/${seg(id)}/keys/${seg(keyId)}/revoke`, flags.reason ? { reason: flags.reason } : {});
    process.stdout.write(`revoked key ${k.keyId} at ${k.revokedAt ?? "now"}; devices stop trusting it at their next poll\n`);
  });
}
