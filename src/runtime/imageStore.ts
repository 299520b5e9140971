/**
 * The image store: a content-addressed OCI image layout (docs/images.md) in
 * `<dataDir>/images`, plus unpacked root filesystems in `<dataDir>/rootfs`.
 *
 * Every blob read is verified against its digest; writes are atomic (temp
 * file + fsync + rename, index.json replaced under a lock), so a crash, a
 * full disk or a bad import never leaves the store half-changed.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { dataDir } from "../core/paths.js";
import { buildImage, type BuildOptions } from "./imageBuild.js";
import {
  applyTag,
  fallbackNameFor,
  layoutSource,
  planIndex,
  readLayoutIndex,
  stageImages,
  type BlobSource,
  type ImportOptions,
  type PlannedImage,
} from "./imageImport.js";
import { addImages, descriptorFor, recordFromDescriptor, recordsOf, removeImages, type ImageRecord, type NewImage } from "./imageIndex.js";
import { closeMatches, familiarName, formatRef, parseRef, parseTagRef, sameName } from "./imageRef.js";
import { cachedRootfs, ensureRootfs, pruneRootfs } from "./imageRootfs.js";
import { planLegacy, repoTagsByConfig, stageTarball, tarballSource } from "./imageTarball.js";
import { type LayerToUnpack } from "./imageUnpack.js";
import { OciLayout } from "./ociLayout.js";
import { configSchema, layoutFileSchema, manifestSchema, parseJson, type OciConfig, type OciManifest } from "./ociTypes.js";

export type { ImageRecord } from "./imageIndex.js";
export type { BuildOptions } from "./imageBuild.js";
export type { ImportOptions } from "./imageImport.js";

export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  /** The config's WorkingDir, or "/" when the image sets none. */
  readonly workingDir: string;
  /** The config's User ("" when unset: the runtime's default, root). */
  readonly user: string;
}

/** Everything `palisade image inspect` shows. */
export interface ImageDetails {
  readonly record: ImageRecord;
  /** Every name:tag pointing at this digest. */
  readonly tags: readonly string[];
  readonly config: ImageConfig;
  readonly layers: readonly { digest: string; size: number; mediaType: string; diffId: string | undefined }[];
  readonly configDigest: string;
  readonly manifestMediaType: string;
  /** The unpacked rootfs directory, if it is cached. */
  readonly rootfs: string | undefined;
}

export interface GcOptions {
  /** Manifest digests to keep even if no tag names them (e.g. images of running workloads). */
  readonly keep?: Iterable<string>;
}

const DAY_MS = 24 * 3600 * 1000;

function imageConfigOf(config: OciConfig): ImageConfig {
  const c = config.config ?? {};
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    workingDir: c.WorkingDir || "/",
    user: c.User ?? "",
  };
}

export class ImageStore {
  /** The OCI layout directory. */
  readonly dir: string;
  /** Where unpacked root filesystems live: `<dir>/../rootfs`. */
  readonly rootfsRoot: string;
  private readonly layout: OciLayout;
  private readonly unpacking = new Map<string, Promise<string>>();

  private constructor(dir: string) {
    this.layout = OciLayout.ensure(dir);
    this.dir = this.layout.root;
    this.rootfsRoot = resolvePath(this.dir, "..", "rootfs");
  }

  /** Opens (creating if needed) the store; default `<dataDir>/images`. */
  static open(dir?: string): ImageStore {
    return new ImageStore(dir ?? join(dataDir(), "images"));
  }

  /** Imports the images named by an OCI image layout directory's index.json. */
  async importLayout(dir: string, opts: ImportOptions = {}): Promise<ImageRecord[]> {
    const source = layoutSource(resolvePath(dir));
    const planned = applyTag(planIndex(source, readLayoutIndex(dir), fallbackNameFor(resolvePath(dir)), opts), opts, source.label);
    return this.commitPlanned(source, planned, opts);
  }

  /** Imports a `docker save` tarball (legacy or OCI-style; optionally gzipped). */
  async importTarball(file: string, opts: ImportOptions = {}): Promise<ImageRecord[]> {
    opts.progress?.(`reading ${file}`);
    const contents = await stageTarball(this.layout, file, opts.progress);
    try {
      const label = `tarball ${file}`;
      const source = tarballSource(contents, label);
      let planned: PlannedImage[];
      const index = contents.get("index.json");
      const ociLayout = contents.get("oci-layout");
      if (index && ociLayout) {
        const v = parseJson(layoutFileSchema, readFileSync(ociLayout.path), `oci-layout of ${label}`);
        if (!v.imageLayoutVersion.startsWith("1.")) throw new PalisadeError("IMAGE_FORMAT", `${label} has imageLayoutVersion ${v.imageLayoutVersion}; Palisade reads 1.x`);
        const tags = repoTagsByConfig(contents, opts.progress);
        planned = planIndex(source, readFileSync(index.path), fallbackNameFor(file), opts).map((p) =>
          p.names.length ? p : { ...p, names: tags.get(p.blobs[0]?.digest ?? "") ?? [] },
        );
      } else {
        planned = await planLegacy(contents, source, label, opts);
      }
      return await this.commitPlanned(source, applyTag(planned, opts, label), opts);
    } finally {
      contents.cleanup();
    }
  }

  private async commitPlanned(source: BlobSource, planned: PlannedImage[], opts: ImportOptions): Promise<ImageRecord[]> {
    const s = await stageImages(this.layout, source, planned, opts.progress);
    try {
      this.layout.commit(s.staged, s.reused, (index) => addImages(index, s.images));
    } finally {
      s.discard();
    }
    for (const img of s.images) opts.progress?.(`imported ${formatRef(img.name, img.tag)} ${img.digest}`);
    return s.images.map((img) => recordFromDescriptor(descriptorFor(img)));
  }

  /** Builds a single-layer image from a directory, deterministically (see imageBuild.ts). */
  async build(dir: string, opts: BuildOptions): Promise<ImageRecord> {
    const { name, tag } = parseTagRef(opts.tag);
    const built = await buildImage(dir, this.layout.tmpDir, opts);
    const img: NewImage = {
      name,
      tag,
      digest: built.manifestDigest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      manifestSize: built.manifestSize,
      totalSize: built.totalSize,
      created: undefined,
      platform: built.platform,
    };
    try {
      this.layout.commit(built.staged, [], (index) => addImages(index, [img]));
    } finally {
      for (const s of built.staged) rmSync(s.file.path, { force: true });
    }
    opts.progress?.(`built ${name}:${tag} ${img.digest}`);
    return recordFromDescriptor(descriptorFor(img));
  }

  /** Every image (one record per name:tag, plus untagged images), sorted by name and tag. */
  list(): ImageRecord[] {
    return recordsOf(this.layout.readIndex());
  }

  /** Finds an image without verifying its blobs. */
  private lookup(ref: string): ImageRecord {
    const r = parseRef(ref);
    const records = this.list();
    if (r.digestPrefix !== undefined) {
      const digests = [...new Set(records.map((x) => x.digest).filter((d) => d.startsWith(r.digestPrefix as string)))];
      if (digests.length > 1) {
        throw new PalisadeError("USAGE", `${ref} is ambiguous: it matches ${digests.length} images`, { hint: "give more digits of the digest" });
      }
      const hit = records.find((x) => x.digest === digests[0]);
      if (!hit) throw this.notFound(ref, `no image digest starts with ${r.digestPrefix}`, records, "");
      return hit;
    }
    if (r.digest !== undefined) {
      const byDigest = records.filter((x) => x.digest === r.digest);
      if (byDigest.length === 0) throw this.notFound(ref, `no image has digest ${r.digest}`, records, r.name);
      if (r.tag === undefined) return byDigest.find((x) => r.name && sameName(x.name, r.name)) ?? (byDigest[0] as ImageRecord);
      const tagged = byDigest.find((x) => x.tag === r.tag && sameName(x.name, r.name));
      if (tagged) return tagged;
      const current = records.find((x) => x.tag === r.tag && sameName(x.name, r.name));
      throw new PalisadeError("IMAGE_NOT_FOUND", `${r.name}:${r.tag} ${current ? `is ${current.digest}, not ${r.digest}` : "is not in the store"} (the digest is, under another name)`, {
        hint: `refer to it by digest alone (${r.name}@${r.digest}) or re-tag it: palisade image import/build --tag ${r.name}:${r.tag}`,
      });
    }
    const tag = r.tag ?? "latest";
    const hit = records.find((x) => x.tag === tag && sameName(x.name, r.name));
    if (!hit) throw this.notFound(ref, `${r.name}:${tag} is not in the image store`, records, r.name);
    return hit;
  }

  private notFound(ref: string, message: string, records: readonly ImageRecord[], name: string): PalisadeError {
    let hint: string;
    const sameRepo = records.filter((x) => name && sameName(x.name, name) && x.tag !== undefined);
    const refs = records.map((x) => formatRef(x.name, x.tag)).filter((x) => x !== "<none>");
    if (records.length === 0) {
      hint = "the image store is empty: build an image with `palisade image build DIR --tag NAME` or import one with `palisade image import PATH`";
    } else if (sameRepo.length) {
      hint = `${name} has tags: ${sameRepo.map((x) => x.tag).join(", ")}`;
    } else {
      const named = records.filter((x) => x.name);
      const wanted = ref.split("@")[0] ?? ref;
      const close = closeMatches(familiarName(wanted), named.map((x) => formatRef(familiarName(x.name), x.tag)))
        .concat(closeMatches(familiarName(name), named.map((x) => familiarName(x.name))));
      const uniq = [...new Set(close)].slice(0, 3);
      hint = uniq.length ? `did you mean ${uniq.join(" or ")}?` : `the store has ${refs.length} image(s): ${refs.slice(0, 5).join(", ")}${refs.length > 5 ? ", …" : ""} (palisade image ls)`;
    }
    return new PalisadeError("IMAGE_NOT_FOUND", message, { hint, details: { ref } });
  }

  /** Reads an image's manifest and config, verifying both digests and that its layers are present. */
  private load(record: ImageRecord): { manifest: OciManifest; config: OciConfig } {
    const desc = this.layout.readIndex().manifests.find((d) => d.digest === record.digest);
    const manifest = parseJson(manifestSchema, this.layout.readBlobSync(record.digest, "manifest", desc?.size), `manifest ${record.digest}`);
    const config = parseJson(configSchema, this.layout.readBlobSync(manifest.config.digest, "config", manifest.config.size), `config ${manifest.config.digest}`);
    for (const l of manifest.layers) this.layout.checkBlobSize(l.digest, "layer", l.size);
    return { manifest, config };
  }

  /**
   * Resolves `name[:tag]`, `name@sha256:…`, `name:tag@sha256:…` (the digest
   * wins; a given tag must point at it) or `sha256:…` (or a unique prefix),
   * verifying the manifest and config blobs.
   */
  resolve(ref: string): ImageRecord {
    const record = this.lookup(ref);
    this.load(record);
    return record;
  }

  config(ref: string): ImageConfig {
    return imageConfigOf(this.load(this.lookup(ref)).config);
  }

  inspect(ref: string): ImageDetails {
    const record = this.lookup(ref);
    const { manifest, config } = this.load(record);
    const layers = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i] }));
    return {
      record,
      tags: this.list()
        .filter((x) => x.digest === record.digest && x.tag !== undefined)
        .map((x) => formatRef(x.name, x.tag)),
      config: imageConfigOf(config),
      layers,
      configDigest: manifest.config.digest,
      manifestMediaType: manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
      rootfs: cachedRootfs(this.rootfsRoot, record.digest, layers.map((l) => l.digest)),
    };
  }

  /**
   * The image's root filesystem, unpacked once per manifest digest into
   * `<rootfsRoot>/<hex>` (verified, whiteouts applied, unsafe entries refused).
   */
  async rootfs(ref: string, opts: { progress?: (msg: string) => void } = {}): Promise<string> {
    const record = this.lookup(ref);
    const { manifest, config } = this.load(record);
    const layers: LayerToUnpack[] = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i] }));
    const running = this.unpacking.get(record.digest);
    if (running) return running;
    const p = ensureRootfs(this.layout, this.rootfsRoot, record.digest, layers, opts.progress).finally(() => this.unpacking.delete(record.digest));
    this.unpacking.set(record.digest, p);
    return p;
  }

  /**
   * Removes a name:tag (or, for a digest reference, every name of that
   * image). Blobs and unpacked rootfs stay until gc().
   */
  remove(ref: string): ImageRecord[] {
    const r = parseRef(ref);
    const target = this.lookup(ref);
    const byDigest = r.tag === undefined && (r.digest !== undefined || r.digestPrefix !== undefined);
    let removed: ImageRecord[] = [];
    this.layout.updateIndex((index) => {
      const out = removeImages(index, (x) => (byDigest ? x.digest === target.digest : x.digest === target.digest && x.tag === target.tag && x.name === target.name));
      removed = out.removed;
      return out.index;
    });
    return removed;
  }

  /** Adds a name:tag to an existing image. */
  tag(ref: string, newTag: string): ImageRecord {
    const record = this.lookup(ref);
    const { name, tag } = parseTagRef(newTag);
    const desc = this.layout.readIndex().manifests.find((d) => d.digest === record.digest);
    if (!desc) throw new PalisadeError("IMAGE_NOT_FOUND", `${ref} vanished from the store`);
    const img: NewImage = {
      name,
      tag,
      digest: record.digest,
      mediaType: desc.mediaType,
      manifestSize: desc.size,
      totalSize: record.size,
      created: record.created,
      platform: desc.platform ?? { os: "linux", architecture: "unknown" },
    };
    this.layout.updateIndex((index) => addImages(index, [img]));
    return recordFromDescriptor(descriptorFor(img));
  }

  /**
   * Deletes blobs no image in index.json (or `keep`) references, unpacked
   * root filesystems of images no longer in the index, and staging files left
   * by crashed processes (older than a day). Returns how many blobs and
   * rootfs directories were removed. Refuses (and deletes nothing) if a
   * referenced manifest cannot be read and verified.
   */
  gc(opts: GcOptions = {}): number {
    return this.layout.withLock(() => {
      const index = this.layout.readIndex();
      const indexed = new Set(index.manifests.map((d) => d.digest));
      const manifests = new Set([...indexed, ...(opts.keep ?? [])]);
      const live = new Set<string>();
      for (const digest of manifests) {
        if (!indexed.has(digest) && !this.layout.hasBlob(digest)) continue;
        let manifest: OciManifest;
        try {
          manifest = parseJson(manifestSchema, this.layout.readBlobSync(digest, "manifest"), `manifest ${digest}`);
        } catch (err) {
          throw new PalisadeError("IMAGE_DIGEST", `gc refused: manifest ${digest} cannot be verified, so its blobs cannot be told from garbage`, {
            hint: "remove that image (palisade image rm) or re-import it, then run gc again",
            cause: err,
          });
        }
        live.add(digest);
        live.add(manifest.config.digest);
        for (const l of manifest.layers) live.add(l.digest);
      }
      let removed = 0;
      for (const blob of this.layout.listBlobs()) {
        if (live.has(blob)) continue;
        this.layout.removeBlob(blob);
        removed++;
      }
      this.layout.cleanTmp(DAY_MS);
      return removed + pruneRootfs(this.rootfsRoot, manifests, DAY_MS);
    });
  }
}
