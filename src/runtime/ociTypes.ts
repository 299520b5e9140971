/**
 * The OCI (and Docker v2) JSON documents the image store reads and writes:
 * media types, schemas (zod) and platform helpers. Spec: opencontainers/image-spec
 * (image-layout.md, image-index.md, manifest.md, config.md, descriptor.md).
 */
import { z } from "zod";
import { PalisadeError } from "../core/errors.js";
import { DIGEST_RE } from "./ociDigest.js";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

export const INDEX_TYPES: readonly string[] = [MEDIA.index, MEDIA.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MEDIA.manifest, MEDIA.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MEDIA.config, MEDIA.dockerConfig];
/** Layer media types Palisade unpacks (compression is also sniffed from the bytes). */
export const LAYER_TYPES: readonly string[] = [
  MEDIA.layerTar,
  MEDIA.layerGzip,
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
];

/** Annotation keys. */
export const ANN = {
  refName: "org.opencontainers.image.ref.name",
  created: "org.opencontainers.image.created",
  containerdName: "io.containerd.image.name",
  name: "io.palisade.image.name",
  size: "io.palisade.image.size",
} as const;

const digest = z.string().regex(DIGEST_RE, "must be sha256:<64 lowercase hex>");
const annotations = z.record(z.string()).optional();

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
});
export type OciPlatform = z.infer<typeof platformSchema>;

export const descriptorSchema = z
  .object({
    mediaType: z.string(),
    digest,
    size: z.number().int().nonnegative(),
    annotations,
    platform: platformSchema.optional(),
    urls: z.array(z.string()).optional(),
  })
  .passthrough();
export type OciDescriptor = z.infer<typeof descriptorSchema>;

export const indexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(descriptorSchema),
    annotations,
  })
  .passthrough();
export type OciIndex = z.infer<typeof indexSchema>;

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    annotations,
  })
  .passthrough();
export type OciManifest = z.infer<typeof manifestSchema>;

const strings = z.array(z.string()).nullish();
export const configSchema = z
  .object({
    created: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    variant: z.string().optional(),
    config: z
      .object({
        Entrypoint: strings,
        Cmd: strings,
        Env: strings,
        WorkingDir: z.string().nullish(),
        User: z.string().nullish(),
      })
      .passthrough()
      .nullish(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digest) }),
  })
  .passthrough();
export type OciConfig = z.infer<typeof configSchema>;

export const layoutFileSchema = z.object({ imageLayoutVersion: z.string() }).passthrough();

/** `docker save` manifest.json (legacy format, also present in newer OCI-style tarballs). */
export const dockerSaveManifestSchema = z.array(
  z
    .object({
      Config: z.string(),
      RepoTags: z.array(z.string()).nullish(),
      Layers: z.array(z.string()),
    })
    .passthrough(),
);

/** Parses JSON text and validates it, turning any problem into IMAGE_FORMAT naming `what`. */
export function parseJson<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, text: Buffer | string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text.toString());
  } catch (err) {
    throw new PalisadeError("IMAGE_FORMAT", `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new PalisadeError("IMAGE_FORMAT", `${what} is malformed${at}: ${issue?.message ?? "invalid"}`, {
      details: { issues: r.error.issues.slice(0, 5).map((i) => ({ path: i.path.join("."), message: i.message })) },
    });
  }
  return r.data;
}

const ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
};

/** This machine's OCI platform (Node's process.arch mapped to GOARCH names). */
export function hostPlatform(): OciPlatform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: OciPlatform = { os: process.platform === "win32" ? "windows" : process.platform, architecture };
  if (architecture === "arm") {
    const v = (process.config.variables as Record<string, unknown>)["arm_version"];
    return { ...p, variant: `v${typeof v === "string" || typeof v === "number" ? v : 7}` };
  }
  return p;
}

export function formatPlatform(p: { os: string; architecture: string; variant?: string | undefined }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

export function parsePlatform(s: string): OciPlatform {
  const [os, architecture, variant, extra] = s.split("/");
  if (!os || !architecture || extra !== undefined) {
    throw new PalisadeError("USAGE", `bad platform ${JSON.stringify(s)}`, { hint: "write os/arch[/variant], e.g. linux/amd64 or linux/arm/v7" });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Whether an image for `have` runs on `want` (a missing variant matches; arm64 v8 is the default). */
export function platformMatches(have: OciPlatform, want: OciPlatform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const norm = (p: OciPlatform) => p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);
  const hv = norm(have);
  const wv = norm(want);
  return hv === undefined || wv === undefined || hv === wv;
}
