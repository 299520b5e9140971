/**
 * `docker save` tarballs, both kinds:
 *
 * - legacy: manifest.json = [{Config, RepoTags, Layers}] with paths into the
 *   archive (`<id>/layer.tar`, `<hex>.json`); Palisade writes an OCI manifest
 *   for it and checks every layer against the config's diff_ids;
 * - OCI-style (Docker ≥ 25, buildx, crane): an OCI layout (oci-layout,
 *   index.json, blobs/sha256/…) with a manifest.json beside it; imported like
 *   a layout, so manifest digests are kept.
 *
 * The archive (optionally gzipped) is read once; each member is staged into
 * the store's .tmp/ while being hashed. The archive must end with the tar
 * end-of-archive marker: anything shorter is reported as truncated and
 * nothing is committed.
 */
import { createReadStream, openSync, readSync, closeSync, readFileSync, rmSync } from "node:fs";
import { posix } from "node:path";
import { createGunzip } from "node:zlib";
import { PalisadeError } from "../core/errors.js";
import { GZIP_MAGIC, HashTap, peek, sha256, throughTransform } from "./ociDigest.js";
import { stageStream, type StagedFile } from "./ociFiles.js";
import type { OciLayout } from "./ociLayout.js";
import { readTar, TarFormatError } from "./ociTarReader.js";
import { configSchema, dockerSaveManifestSchema, MEDIA, parseJson, type OciManifest } from "./ociTypes.js";
import { cleanEntryPath, formatBytes } from "./imageUnpack.js";
import { parseTagRef } from "./imageRef.js";
import { planManifest, type BlobSource, type ImportOptions, type PlannedImage } from "./imageImport.js";

export interface TarballContents {
  /** The staged member for an archive path (following symlinks/hardlinks in the archive). */
  get(path: string): StagedFile | undefined;
  has(path: string): boolean;
  /** Removes every staged file not committed. */
  cleanup(): void;
  readonly files: ReadonlyMap<string, StagedFile>;
}

const TRUNCATED_HINT = "the file is incomplete (interrupted download or copy?) or not a docker save tarball; export it again. The image store was not changed";

/** Reads a tarball once, staging every regular member into the store's .tmp/. */
export async function stageTarball(layout: OciLayout, file: string, progress?: (msg: string) => void): Promise<TarballContents> {
  const files = new Map<string, StagedFile>();
  const links = new Map<string, string>();
  const cleanup = () => {
    for (const f of files.values()) rmSync(f.path, { force: true });
  };
  const result = { sawEndMarker: false };
  let last = "";
  try {
    const { head, all } = await peek(createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>, 2);
    const data = head.equals(GZIP_MAGIC) ? throughTransform(all, createGunzip()) : all;
    for await (const e of readTar(data, result)) {
      const clean = cleanEntryPath(e.path);
      if ("reason" in clean) throw new PalisadeError("IMAGE_FORMAT", `${file}: member ${JSON.stringify(e.path)} ${clean.reason}`, { hint: "this is not a docker save tarball" });
      last = clean.rel;
      if (e.type === "file") {
        if (e.size > 8 << 20) progress?.(`reading ${clean.rel} (${formatBytes(e.size)})`);
        files.set(clean.rel, await stageStream(layout.tmpDir, e.body));
      } else if (e.type === "symlink" || e.type === "hardlink") {
        const target = e.type === "symlink" ? posix.join(posix.dirname(clean.rel), e.linkpath) : e.linkpath;
        const t = cleanEntryPath(target);
        if ("reason" in t) throw new PalisadeError("IMAGE_FORMAT", `${file}: member ${JSON.stringify(e.path)} links outside the archive (${e.linkpath})`);
        links.set(clean.rel, t.rel);
      }
    }
    if (!result.sawEndMarker) {
      throw new PalisadeError("IMAGE_FORMAT", `${file} is truncated: the tar archive ends after ${last ? `member ${JSON.stringify(last)}` : "its start"} without the end-of-archive marker`, {
        hint: TRUNCATED_HINT,
      });
    }
  } catch (err) {
    cleanup();
    if (err instanceof TarFormatError) {
      throw new PalisadeError("IMAGE_FORMAT", `${file} is ${err.truncated ? "truncated" : "not a valid tar archive"}: ${err.message}`, { hint: TRUNCATED_HINT, cause: err });
    }
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === "string" && code.startsWith("Z_")) {
      throw new PalisadeError("IMAGE_FORMAT", `${file} is truncated or corrupt: its gzip stream fails (${(err as Error).message})`, { hint: TRUNCATED_HINT, cause: err });
    }
    throw err;
  }
  const resolve = (path: string): string => {
    let p = cleanEntryPath(path);
    for (let i = 0; i < 16 && !("reason" in p) && links.has(p.rel); i++) p = { rel: links.get(p.rel) as string };
    return "reason" in p ? "" : p.rel;
  };
  return {
    files,
    get: (path) => files.get(resolve(path)),
    has: (path) => files.has(resolve(path)),
    cleanup,
  };
}

/** Blobs of a staged tarball, by `blobs/sha256/<hex>` path or else by content digest. */
export function tarballSource(contents: TarballContents, label: string): BlobSource {
  const byDigest = new Map<string, StagedFile>();
  for (const f of contents.files.values()) byDigest.set(f.digest, f);
  const find = (digest: string, size: number, what: string): StagedFile => {
    const named = contents.get(`blobs/sha256/${digest.slice("sha256:".length)}`);
    const f = named ?? byDigest.get(digest);
    if (!f) throw new PalisadeError("IMAGE_NOT_FOUND", `${what} ${digest} is not in ${label}`, { hint: TRUNCATED_HINT });
    if (f.digest !== digest) {
      throw new PalisadeError("IMAGE_DIGEST", `${what} blobs/sha256/${digest.slice(7)} in ${label}: content has digest ${f.digest}, expected ${digest}`, {
        hint: "the tarball is corrupted or was tampered with; export it again",
        details: { expected: digest, actual: f.digest },
      });
    }
    if (f.size !== size) {
      throw new PalisadeError("IMAGE_DIGEST", `${what} ${digest} in ${label}: size is ${f.size} bytes, expected ${size}`, {
        hint: "the tarball is corrupted or was tampered with; export it again",
      });
    }
    return f;
  };
  return {
    label,
    readJson(digest, size, what) {
      const f = find(digest, size, what);
      if (f.size > 16 << 20) throw new PalisadeError("IMAGE_FORMAT", `${what} ${digest} in ${label} is too large for a JSON document`);
      const bytes = readFileSync(f.path);
      if (sha256(bytes) !== digest) throw new PalisadeError("IMAGE_DIGEST", `${what} ${digest} in ${label} changed while importing`);
      return bytes;
    },
    async stage(digest, size, what) {
      return find(digest, size, what);
    },
  };
}

function isGzipFile(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b.equals(GZIP_MAGIC);
  } finally {
    closeSync(fd);
  }
}

async function uncompressedDigest(path: string): Promise<string> {
  const tap = new HashTap();
  for await (const _ of tap.tap(throughTransform(createReadStream(path) as AsyncIterable<Buffer>, createGunzip()))) {
    // hash only
  }
  return tap.digest();
}

function parseRepoTags(tags: readonly string[] | null | undefined, progress?: (msg: string) => void): { name: string; tag: string }[] {
  const out: { name: string; tag: string }[] = [];
  for (const t of tags ?? []) {
    try {
      out.push(parseTagRef(t));
    } catch {
      progress?.(`ignoring invalid RepoTag ${JSON.stringify(t)}`);
    }
  }
  return out;
}

/** Names from an OCI-style tarball's manifest.json, for images whose index entry has none. */
export function repoTagsByConfig(contents: TarballContents, progress?: (msg: string) => void): Map<string, { name: string; tag: string }[]> {
  const out = new Map<string, { name: string; tag: string }[]>();
  const mf = contents.get("manifest.json");
  if (!mf) return out;
  let entries;
  try {
    entries = parseJson(dockerSaveManifestSchema, readFileSync(mf.path), "manifest.json");
  } catch {
    return out;
  }
  for (const e of entries) {
    const cfg = contents.get(e.Config);
    if (cfg) out.set(cfg.digest, parseRepoTags(e.RepoTags, progress));
  }
  return out;
}

/** Plans the images of a legacy `docker save` tarball (manifest.json only). */
export async function planLegacy(contents: TarballContents, source: BlobSource, label: string, opts: ImportOptions): Promise<PlannedImage[]> {
  const mf = contents.get("manifest.json");
  if (!mf) {
    throw new PalisadeError("IMAGE_FORMAT", `${label} has neither index.json + oci-layout nor manifest.json`, {
      hint: "this is not a docker save tarball or an OCI layout archive",
    });
  }
  const entries = parseJson(dockerSaveManifestSchema, readFileSync(mf.path), `manifest.json of ${label}`);
  const planned: PlannedImage[] = [];
  for (const [n, entry] of entries.entries()) {
    const where = `manifest.json entry ${n + 1} of ${label}`;
    const cfg = contents.get(entry.Config);
    if (!cfg) throw new PalisadeError("IMAGE_FORMAT", `${where} names config ${JSON.stringify(entry.Config)}, which is not in the tarball`, { hint: TRUNCATED_HINT });
    const config = parseJson(configSchema, source.readJson(cfg.digest, cfg.size, "config"), `config ${JSON.stringify(entry.Config)} of ${label}`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new PalisadeError("IMAGE_FORMAT", `${where} lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
    }
    const layers: OciManifest["layers"] = [];
    for (const [i, path] of entry.Layers.entries()) {
      const f = contents.get(path);
      if (!f) throw new PalisadeError("IMAGE_FORMAT", `${where} names layer ${JSON.stringify(path)}, which is not in the tarball`, { hint: TRUNCATED_HINT });
      const gz = isGzipFile(f.path);
      const diffId = gz ? await uncompressedDigest(f.path) : f.digest;
      if (diffId !== diffIds[i]) {
        throw new PalisadeError("IMAGE_DIGEST", `layer ${JSON.stringify(path)} in ${label}: content has digest ${diffId}, but the config's diff_id is ${String(diffIds[i])}`, {
          hint: "the tarball is corrupted or was tampered with; export it again",
          details: { expected: diffIds[i], actual: diffId },
        });
      }
      layers.push({ mediaType: gz ? MEDIA.layerGzip : MEDIA.layerTar, digest: f.digest, size: f.size });
    }
    const manifest = { schemaVersion: 2, mediaType: MEDIA.manifest, config: { mediaType: MEDIA.config, digest: cfg.digest, size: cfg.size }, layers };
    const bytes = Buffer.from(JSON.stringify(manifest));
    planned.push(planManifest(source, { mediaType: MEDIA.manifest, digest: sha256(bytes), size: bytes.length }, parseRepoTags(entry.RepoTags, opts.progress), bytes));
  }
  return planned;
}
