/**
 * Importing images into the store from an OCI image layout directory or a
 * `docker save` tarball (legacy manifest.json format, or the newer OCI-style
 * tarball that also carries manifest.json). Three phases, so a failure at
 * any point leaves index.json untouched:
 *
 *   1. plan: read and validate every manifest and config (digests verified);
 *   2. stage: copy every blob into the store's .tmp/, hashing as it goes;
 *   3. commit: rename blobs into blobs/sha256/, then rewrite index.json once.
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { readVerifiedSync, shortDigest, verifiedStream } from "./ociDigest.js";
import { stageStream, type StagedFile } from "./ociFiles.js";
import type { OciLayout } from "./ociLayout.js";
import {
  ANN,
  CONFIG_TYPES,
  configSchema,
  formatPlatform,
  hostPlatform,
  INDEX_TYPES,
  indexSchema,
  LAYER_TYPES,
  layoutFileSchema,
  MANIFEST_TYPES,
  manifestSchema,
  parseJson,
  parsePlatform,
  platformMatches,
  type OciDescriptor,
  type OciPlatform,
} from "./ociTypes.js";
import { isValidTag, nameFromPath, parseTagRef } from "./imageRef.js";
import type { NewImage } from "./imageIndex.js";
import { formatBytes } from "./imageUnpack.js";

export interface ImportOptions {
  /** name[:tag] to give the imported image (the source must hold exactly one image). */
  readonly tag?: string;
  /** os/arch[/variant] to pick from multi-platform images (default: this machine's). */
  readonly platform?: string;
  readonly progress?: (msg: string) => void;
}

/** Where an import reads blobs from. */
export interface BlobSource {
  /** "OCI layout /path" or "tarball /path/x.tar", for messages. */
  readonly label: string;
  /** A small blob's bytes, verified against digest and size. */
  readJson(digest: string, size: number, what: string): Buffer;
  /** Copies a blob into `tmpDir`, hashing it; the caller compares the digest. */
  stage(digest: string, size: number, what: string, tmpDir: string): Promise<StagedFile>;
}

const SOURCE_HINT = "the source image is corrupted, truncated or was tampered with; export or download it again";

function sourceError(err: unknown, source: string): unknown {
  if (err instanceof PalisadeError && (err.code === "IMAGE_DIGEST" || err.code === "IMAGE_NOT_FOUND")) {
    return new PalisadeError(err.code, `${err.message} (in ${source})`, { hint: SOURCE_HINT, details: err.details, cause: err });
  }
  return err;
}

/** Blobs of an OCI layout directory. */
export function layoutSource(dir: string): BlobSource {
  const label = `OCI layout ${dir}`;
  const path = (d: string) => join(dir, "blobs", "sha256", d.slice("sha256:".length));
  return {
    label,
    readJson(digest, size, what) {
      try {
        return readVerifiedSync(path(digest), digest, `${what} ${digest}`, size);
      } catch (err) {
        throw sourceError(err, label);
      }
    },
    async stage(digest, size, what, tmpDir) {
      try {
        return await stageStream(tmpDir, verifiedStream(path(digest), digest, `${what} ${digest}`, size));
      } catch (err) {
        throw sourceError(err, label);
      }
    },
  };
}

/** One image found in a source, fully validated, with the blobs it needs. */
export interface PlannedImage {
  readonly manifestBytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
  readonly blobs: readonly { digest: string; size: number; what: string }[];
  readonly created: string | undefined;
  readonly platform: OciPlatform;
  readonly names: { name: string; tag: string }[];
  readonly totalSize: number;
}

/** Reads a manifest (and its config) from a source and checks everything Palisade relies on. */
export function planManifest(source: BlobSource, desc: OciDescriptor, names: { name: string; tag: string }[], bytes?: Buffer): PlannedImage {
  const manifestBytes = bytes ?? source.readJson(desc.digest, desc.size, "manifest");
  const manifest = parseJson(manifestSchema, manifestBytes, `manifest ${desc.digest} in ${source.label}`);
  const mediaType = manifest.mediaType ?? desc.mediaType;
  if (!MANIFEST_TYPES.includes(mediaType)) {
    throw new PalisadeError("IMAGE_FORMAT", `manifest ${desc.digest} in ${source.label} has media type ${mediaType}, not an image manifest`);
  }
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
    throw new PalisadeError("IMAGE_FORMAT", `manifest ${desc.digest} in ${source.label} is not a container image (config media type ${manifest.config.mediaType})`, {
      hint: "artifacts such as signatures or attestations cannot be run",
    });
  }
  const configBytes = source.readJson(manifest.config.digest, manifest.config.size, "config");
  const config = parseJson(configSchema, configBytes, `config ${manifest.config.digest} in ${source.label}`);
  for (const [i, l] of manifest.layers.entries()) {
    if (l.mediaType.includes("zstd")) {
      throw new PalisadeError("IMAGE_FORMAT", `layer ${i + 1} (${l.digest}) in ${source.label} is zstd-compressed, which this Palisade cannot unpack`, {
        hint: "convert the image to gzip layers (e.g. skopeo copy --dest-compress-format gzip)",
      });
    }
    if (!LAYER_TYPES.includes(l.mediaType)) {
      throw new PalisadeError("IMAGE_FORMAT", `layer ${i + 1} (${l.digest}) in ${source.label} has unsupported media type ${l.mediaType}`);
    }
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new PalisadeError("IMAGE_FORMAT", `image ${desc.digest} in ${source.label} has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const blobs = [
    { digest: manifest.config.digest, size: manifest.config.size, what: "config" },
    ...manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, what: `layer ${i + 1}` })),
  ];
  const platform: OciPlatform = { os: config.os, architecture: config.architecture };
  if (config.variant) platform.variant = config.variant;
  return {
    manifestBytes,
    digest: desc.digest,
    mediaType,
    blobs,
    created: config.created,
    platform,
    names,
    totalSize: manifestBytes.length + blobs.reduce((n, b) => n + b.size, 0),
  };
}

/** Names from a descriptor's annotations (containerd's full name, else ref.name). */
export function namesFromAnnotations(ann: Record<string, string> | undefined, fallbackName: string): { name: string; tag: string }[] {
  const full = ann?.[ANN.containerdName];
  const ref = ann?.[ANN.refName];
  for (const candidate of [full, ref]) {
    if (!candidate) continue;
    if (candidate.includes(":") || candidate.includes("/")) {
      try {
        return [parseTagRef(candidate)];
      } catch {
        continue;
      }
    }
  }
  if (ref && isValidTag(ref)) return [{ name: fallbackName, tag: ref }];
  return [];
}

/** Picks the manifest for `want` from an image index (multi-platform image). */
function pickPlatform(source: BlobSource, desc: OciDescriptor, want: OciPlatform, depth = 0): OciDescriptor {
  const index = parseJson(indexSchema, source.readJson(desc.digest, desc.size, "image index"), `image index ${desc.digest} in ${source.label}`);
  const candidates = index.manifests.filter((d) => !(d.platform?.os === "unknown" && d.platform.architecture === "unknown"));
  const match = candidates.find((d) => d.platform !== undefined && platformMatches(d.platform, want)) ?? (candidates.length === 1 && !candidates[0]?.platform ? candidates[0] : undefined);
  if (!match) {
    const have = candidates.map((d) => (d.platform ? formatPlatform(d.platform) : "unspecified")).join(", ") || "none";
    throw new PalisadeError("IMAGE_FORMAT", `image index ${desc.digest} in ${source.label} has no image for ${formatPlatform(want)} (it has: ${have})`, {
      hint: "pass --platform os/arch to import another platform's image",
    });
  }
  if (INDEX_TYPES.includes(match.mediaType) && depth < 2) return pickPlatform(source, match, want, depth + 1);
  return match;
}

/** Plans every image named by an OCI index.json (top level of a layout or OCI-style tarball). */
export function planIndex(source: BlobSource, indexText: Buffer, fallbackName: string, opts: ImportOptions): PlannedImage[] {
  const index = parseJson(indexSchema, indexText, `index.json of ${source.label}`);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const planned: PlannedImage[] = [];
  for (const desc of index.manifests) {
    const names = namesFromAnnotations(desc.annotations, fallbackName);
    if (INDEX_TYPES.includes(desc.mediaType)) {
      planned.push(planManifest(source, pickPlatform(source, desc, want), names));
    } else if (MANIFEST_TYPES.includes(desc.mediaType)) {
      const img = planManifest(source, desc, names);
      if (opts.platform === undefined || platformMatches(img.platform, want)) planned.push(img);
    } else {
      opts.progress?.(`skipping ${desc.mediaType} ${shortDigest(desc.digest)} (not an image)`);
    }
  }
  return dedupeTags(planned, want);
}

/** When several images claim one name:tag (per-platform entries), keep the one for `want`. */
function dedupeTags(planned: PlannedImage[], want: OciPlatform): PlannedImage[] {
  const owner = new Map<string, PlannedImage>();
  for (const img of planned) {
    for (const n of img.names) {
      const key = `${n.name}:${n.tag}`;
      const prev = owner.get(key);
      if (!prev || (!platformMatches(prev.platform, want) && platformMatches(img.platform, want))) owner.set(key, img);
    }
  }
  return planned.map((img) => ({ ...img, names: img.names.filter((n) => owner.get(`${n.name}:${n.tag}`) === img) }));
}

/** Applies --tag: the source must hold exactly one image, which gets that one name. */
export function applyTag(planned: PlannedImage[], opts: ImportOptions, label: string): PlannedImage[] {
  const unique = [...new Map(planned.map((p) => [p.digest, p])).values()];
  if (unique.length === 0) {
    throw new PalisadeError("IMAGE_FORMAT", `${label} holds no runnable image${opts.platform ? ` for ${opts.platform}` : ""}`);
  }
  if (opts.tag === undefined) return unique.map((p) => ({ ...p, names: planned.filter((q) => q.digest === p.digest).flatMap((q) => q.names) }));
  if (unique.length > 1) {
    throw new PalisadeError("USAGE", `${label} holds ${unique.length} images; --tag can name only one`, {
      hint: "import without --tag (images keep the names in the source), or choose one with --platform",
    });
  }
  return [{ ...(unique[0] as PlannedImage), names: [parseTagRef(opts.tag)] }];
}

/** Reads and checks a layout directory's oci-layout file and index.json. */
export function readLayoutIndex(dir: string): Buffer {
  const layoutFile = join(dir, "oci-layout");
  let layoutText: Buffer;
  try {
    layoutText = readSmallFile(layoutFile);
  } catch (err) {
    const extracted = (() => {
      try {
        readSmallFile(join(dir, "manifest.json"));
        return true;
      } catch {
        return false;
      }
    })();
    throw new PalisadeError("IMAGE_FORMAT", `${dir} is not an OCI image layout: it has no readable oci-layout file`, {
      hint: extracted ? "this looks like an extracted `docker save`; import the .tar file itself" : "pass an OCI layout directory (oci-layout, index.json, blobs/) or a docker save tarball",
      cause: err,
    });
  }
  const v = parseJson(layoutFileSchema, layoutText, `${layoutFile}`);
  if (!v.imageLayoutVersion.startsWith("1.")) {
    throw new PalisadeError("IMAGE_FORMAT", `${layoutFile} says imageLayoutVersion ${v.imageLayoutVersion}; Palisade reads 1.x`);
  }
  try {
    return readSmallFile(join(dir, "index.json"));
  } catch (err) {
    throw new PalisadeError("IMAGE_FORMAT", `${dir} is not an OCI image layout: index.json is missing or unreadable`, { cause: err });
  }
}

/** A small metadata file of a source (oci-layout, index.json: not content-addressed). */
export function readSmallFile(path: string, limit = 16 << 20): Buffer {
  const st = statSync(path);
  if (st.size > limit) throw new PalisadeError("IMAGE_FORMAT", `${path} is ${st.size} bytes; larger than ${limit} is refused`);
  return readFileSync(path);
}

/** Blobs ready to commit: staged copies (verified) and digests already intact in the store. */
export interface StagedImport {
  readonly staged: readonly { file: StagedFile; digest: string }[];
  readonly reused: readonly string[];
  readonly images: readonly NewImage[];
  /** Removes staged files that were not committed. */
  discard(): void;
}

/**
 * Stages every blob the planned images need (skipping intact ones already in
 * the store) and checks each against its digest. Nothing is committed here;
 * on failure everything staged is removed.
 */
export async function stageImages(layout: OciLayout, source: BlobSource, planned: readonly PlannedImage[], progress?: (msg: string) => void): Promise<StagedImport> {
  const staged: { file: StagedFile; digest: string }[] = [];
  const reused: string[] = [];
  const seen = new Set<string>();
  const discard = () => {
    for (const s of staged) rmSync(s.file.path, { force: true });
  };
  try {
    const stageOne = async (digest: string, what: string, make: () => Promise<StagedFile>) => {
      if (seen.has(digest)) return;
      seen.add(digest);
      if (await layout.blobIntact(digest)) {
        reused.push(digest);
        return;
      }
      const file = await make();
      staged.push({ file, digest });
      if (file.digest !== digest) {
        throw new PalisadeError("IMAGE_DIGEST", `${what} in ${source.label}: content has digest ${file.digest}, expected ${digest}`, { hint: SOURCE_HINT, details: { expected: digest, actual: file.digest } });
      }
    };
    for (const img of planned) {
      for (const b of img.blobs) {
        await stageOne(b.digest, `${b.what} ${b.digest}`, () => {
          if (b.size > 1 << 20) progress?.(`copying ${b.what} ${shortDigest(b.digest)} (${formatBytes(b.size)})`);
          return source.stage(b.digest, b.size, b.what, layout.tmpDir);
        });
      }
      await stageOne(img.digest, `manifest ${img.digest}`, () => stageBytes(layout.tmpDir, img.manifestBytes));
    }
  } catch (err) {
    discard();
    throw err;
  }
  const images = planned.flatMap((img): NewImage[] => {
    const base = { digest: img.digest, mediaType: img.mediaType, manifestSize: img.manifestBytes.length, totalSize: img.totalSize, created: img.created, platform: img.platform };
    return img.names.length ? img.names.map((n) => ({ ...base, name: n.name, tag: n.tag })) : [{ ...base, name: "", tag: undefined }];
  });
  return { staged, reused, images, discard };
}

export function stageBytes(tmpDir: string, bytes: Buffer): Promise<StagedFile> {
  return stageStream(
    tmpDir,
    (async function* () {
      yield bytes;
    })(),
  );
}

export function fallbackNameFor(path: string): string {
  return nameFromPath(basename(path));
}
