/**
 * `palisade workload sign MANIFEST [--policy F…] --key K --version V -o bundle.json`
 * builds a bundle envelope (docs/hub.md, "Bundle envelope") from a Workload
 * manifest and its policies, signs it with a publisher's private key, and
 * writes `{envelope, signature}` — exactly the body of POST /v1/bundles.
 * `palisade workload push bundle.json` uploads it.
 *
 * Everything is validated before signing (the same parser the hub and the
 * devices use), so a publisher never signs something no device can run.
 */
import type { Command } from "commander";
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { writeFileAtomic } from "../core/atomicFile.js";
import { PalisadeError } from "../core/errors.js";
import { BUNDLE_FORMAT, bundleDigest, envelopeProblems, signBundle, type BundleEnvelope, type BundleSignature } from "../core/signing/bundleFormat.js";
import { invalidFileError, parsePolicyFile, type Workload } from "../policy/index.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, withTarget } from "./hubApiClient.js";
import { printJson } from "./output.js";

export interface SignedBundleFile {
  readonly envelope: BundleEnvelope;
  readonly signature: BundleSignature;
}

/** A publisher's private key from a PEM file (as `palisade publisher key create` writes it). */
export function loadSigningKey(file: string): { privateKey: KeyObject; publicKey: string } {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file, "utf8"));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new PalisadeError(code ? "IO" : "USAGE", `cannot read the signing key ${file}: ${code ?? (cause as Error).message}`, { hint: "pass the private key file palisade publisher key create wrote", cause });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new PalisadeError("USAGE", `${file} is a ${privateKey.asymmetricKeyType ?? "unknown"} key, not Ed25519`);
  return { privateKey, publicKey: String(createPublicKey(privateKey).export({ format: "jwk" }).x) };
}

/** The source text of each document of `text` whose kind is in `kinds`, verbatim (comments and layout kept). */
function documentsOfKind(text: string, kinds: readonly string[]): string[] {
  const parsed = parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [];
  // Each document's text runs from where the previous one ended, so comments above it stay with it.
  return docs
    .map((d, i) => ({ kind: String((d.toJS() as { kind?: unknown } | null)?.kind ?? ""), text: text.slice(i === 0 ? 0 : docs[i - 1]!.range[2], d.range[2]) }))
    .filter((d) => kinds.includes(d.kind))
    .map((d) => d.text.replace(/^\s*---[^\n]*\n/, ""));
}

/** Builds the (unsigned) envelope: validated workload, policies, and the image digests it runs. */
export async function buildEnvelope(manifest: string, policyFiles: readonly string[], version: number, name?: string): Promise<BundleEnvelope> {
  const main = await parsePolicyFile(manifest);
  if (main.errors.length > 0) throw invalidFileError(manifest, main.errors);
  if (main.workloads.length !== 1) {
    throw new PalisadeError("USAGE", `${manifest} must hold exactly one Workload (it has ${main.workloads.length})`, { hint: "one bundle carries one workload; sign each separately" });
  }
  const workload: Workload = main.workloads[0]!;
  const texts = { manifest: readFileSync(manifest, "utf8"), policies: [] as string[] };
  texts.policies.push(...documentsOfKind(texts.manifest, ["KubeArmorPolicy", "KubeArmorHostPolicy"]));
  for (const f of policyFiles) {
    const p = await parsePolicyFile(f);
    if (p.errors.length > 0) throw invalidFileError(f, p.errors);
    if (p.workloads.length > 0) throw new PalisadeError("USAGE", `${f} holds a Workload; --policy files hold policies only`);
    texts.policies.push(...documentsOfKind(readFileSync(f, "utf8"), ["KubeArmorPolicy", "KubeArmorHostPolicy"]));
  }
  const images = new Map<string, { ref: string; digest: string }>();
  for (const c of workload.containers) images.set(c.imageDigest, { ref: c.image.split("@")[0]!, digest: c.imageDigest });
  const envelope: BundleEnvelope = {
    format: BUNDLE_FORMAT,
    name: name ?? workload.name,
    version,
    workload: documentsOfKind(texts.manifest, ["Workload"])[0]!,
    policies: texts.policies.map((t) => (t.endsWith("\n") ? t : `${t}\n`)).join("---\n"),
    images: [...images.values()],
    created: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  const problems = envelopeProblems(envelope);
  if (problems.length > 0) throw new PalisadeError("USAGE", `cannot make a bundle: ${problems.join("; ")}`, { hint: "a bundle name is a lower-case DNS label (use --name)" });
  return envelope;
}

export function registerWorkloadCommand(program: Command): void {
  const workload = program.command("workload").description("sign and upload workload bundles");
  workload
    .command("sign")
    .description("build a bundle from a Workload manifest and policies, sign it with a publisher key, write {envelope, signature}")
    .argument("<manifest>", "Workload manifest (may also hold KubeArmorPolicy documents)")
    .option("--policy <file...>", "more policy files")
    .requiredOption("--key <file>", "the publisher's private key (PEM, from palisade publisher key create)")
    .requiredOption("--version <n>", "bundle version: a positive integer above every earlier version of this name")
    .option("--name <name>", "bundle name (default: the workload's metadata.name)")
    .requiredOption("-o, --output <file>", "where to write the signed bundle (- for stdout)")
    .option("--json", "print {digest, name, version, keyId} as JSON")
    .action(async (manifest: string, flags: { policy?: string[]; key: string; version: string; name?: string; output: string; json?: boolean }) => {
      const version = Number(flags.version);
      if (!Number.isSafeInteger(version) || version < 1) throw new PalisadeError("USAGE", `--version must be a positive integer, not ${JSON.stringify(flags.version)}`);
      const { privateKey, publicKey } = loadSigningKey(flags.key);
      const envelope = await buildEnvelope(manifest, flags.policy ?? [], version, flags.name);
      const signature = signBundle(envelope, privateKey, publicKey);
      const text = JSON.stringify({ envelope, signature } satisfies SignedBundleFile, null, 2) + "\n";
      if (flags.output === "-") process.stdout.write(text);
      else writeFileAtomic(flags.output, text, { mode: 0o644 });
      const digest = bundleDigest(envelope);
      if (flags.json) return printJson({ digest, name: envelope.name, version, keyId: signature.keyId, file: flags.output });
      (flags.output === "-" ? process.stderr : process.stdout).write(`signed ${envelope.name} v${version} with ${signature.keyId}\ndigest ${digest}\n`);
    });
  withTarget(
    workload
      .command("push")
      .description("upload a signed bundle (palisade workload sign) to the hub")
      .argument("<bundle>", "the file workload sign wrote")
      .option("--json", "machine-readable output"),
  ).action(async (file: string, flags: TargetFlags & { json?: boolean }) => {
    let body: SignedBundleFile;
    try {
      body = JSON.parse(readFileSync(file, "utf8")) as SignedBundleFile;
    } catch (cause) {
      throw new PalisadeError("USAGE", `${file} is not a signed bundle file: ${(cause as Error).message}`, { hint: "make one with palisade workload sign", cause });
    }
    const b = await HubApiClient.from(flags).post<{ digest: string; name: string; version: number; keyId: string }>("/v1/bundles", body);
    if (flags.json) return printJson(b);
    process.stdout.write(`uploaded ${b.name} v${b.version} (${b.keyId})\ndigest ${b.digest}\nnext: palisade deploy ${b.name} --bundle ${b.digest} --selector KEY=VALUE\n`);
  });
}
