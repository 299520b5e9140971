/**
 * Applies image layers (tar changesets, image-spec layer.md) to a directory,
 * refusing anything that could write outside it or create devices:
 *
 * - absolute paths, `..` components and NUL bytes are refused;
 * - no entry is ever written through a symlink: every parent component must
 *   be a real directory (a symlink there is refused, never followed);
 * - hardlinks must name an existing non-directory inside the tree, reached
 *   without symlinks;
 * - character/block devices, FIFOs and sparse files are refused;
 * - whiteouts (`.wh.<name>`) and opaque whiteouts (`.wh..wh..opq`) remove
 *   content of lower layers only, wherever they appear in the layer.
 *
 * Every layer blob is verified (sha256 of the stored bytes, and of the
 * uncompressed tar against the config's diff_id) while it is read; if
 * anything fails, the blob is re-hashed so a digest mismatch is reported as
 * such rather than as the format error it caused.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { createGunzip } from "node:zlib";
import { PalisadeError } from "../core/errors.js";
import { digestMismatch, GZIP_MAGIC, hashFile, HashTap, peek, shortDigest, throughTransform, ZSTD_MAGIC } from "./ociDigest.js";
import type { OciLayout } from "./ociLayout.js";
import { readTar, TarFormatError, type TarEntry } from "./ociTarReader.js";

export interface LayerToUnpack {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** sha256 of the uncompressed tar, from the image config's rootfs.diff_ids. */
  readonly diffId: string | undefined;
}

interface Attrs {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Normalises a tar path; undefined reason means it is safe. "" is the layer root. */
export function cleanEntryPath(p: string): { rel: string } | { reason: string } {
  if (p.includes("\0")) return { reason: "contains a NUL byte" };
  if (p.startsWith("/")) return { reason: "is an absolute path" };
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.includes("..")) return { reason: "contains '..' (path traversal)" };
  return { rel: parts.join("/") };
}

/** Applies the entries of successive layers to `root` (an empty directory we own). */
export class LayerApplier {
  private readonly knownDirs = new Set<string>([""]);
  private readonly dirAttrs = new Map<string, Attrs>([["", { mode: 0o755, uid: 0, gid: 0, mtime: 0 }]]);
  private touched = new Set<string>();
  private layer = "";

  constructor(readonly root: string) {}

  beginLayer(label: string): void {
    this.layer = label;
    this.touched = new Set();
  }

  private refuse(e: TarEntry, reason: string): PalisadeError {
    return new PalisadeError("IMAGE_FORMAT", `${this.layer}: entry ${JSON.stringify(e.path)} ${reason}; refusing to unpack the image`, {
      hint: "the image is malformed or malicious: Palisade never writes outside the image's root filesystem, through symlinks, or creates device nodes",
      details: { layer: this.layer, entry: e.path, offset: e.offset },
    });
  }

  private markTouched(rel: string): void {
    for (let p = rel; p !== "" && !this.touched.has(p); p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "") this.touched.add(p);
  }

  /** Drops cached knowledge about `rel` and everything below it (after removing it). */
  private forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const d of [...this.knownDirs]) if (d === rel || d.startsWith(prefix)) this.knownDirs.delete(d);
    for (const d of [...this.dirAttrs.keys()]) if (d === rel || d.startsWith(prefix)) this.dirAttrs.delete(d);
  }

  /**
   * Checks that every component of `relDir` is a real directory (not a
   * symlink). Missing components are created when `create`, else false is returned.
   */
  private dirChain(relDir: string, create: boolean, e: TarEntry): boolean {
    if (relDir === "") return true;
    let cur = "";
    for (const part of relDir.split("/")) {
      cur = cur ? `${cur}/${part}` : part;
      if (this.knownDirs.has(cur)) continue;
      const abs = join(this.root, cur);
      const st = lstatOrUndefined(abs);
      if (st === undefined) {
        if (!create) return false;
        mkdirSync(abs, { mode: 0o755 });
        this.dirAttrs.set(cur, { mode: 0o755, uid: 0, gid: 0, mtime: e.mtime });
      } else if (st.isSymbolicLink()) {
        throw this.refuse(e, `would be written through the symlink "${cur}" (-> ${readlinkSync(abs)})`);
      } else if (!st.isDirectory()) {
        throw this.refuse(e, `needs "${cur}" to be a directory, but it is not one`);
      }
      this.knownDirs.add(cur);
    }
    return true;
  }

  /** Opaque whiteout: removes what lower layers put in `dirRel` (not what this layer added). */
  private prune(dirRel: string): void {
    let names: string[];
    try {
      names = readdirSync(join(this.root, dirRel));
    } catch {
      return;
    }
    for (const name of names) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      if (!this.touched.has(rel)) {
        rmSync(join(this.root, rel), { recursive: true, force: true });
        this.forget(rel);
      } else if (lstatSync(join(this.root, rel)).isDirectory()) {
        this.prune(rel);
      }
    }
  }

  private whiteout(e: TarEntry, rel: string, base: string): void {
    const parent = rel.includes("/") ? dirname(rel) : "";
    if (!this.dirChain(parent, false, e)) return; // nothing below to hide
    if (base === ".wh..wh..opq") {
      this.prune(parent);
      this.markTouched(parent);
      return;
    }
    if (base.startsWith(".wh..wh.")) return; // other AUFS metadata (.wh..wh.plnk…): ignored, like Docker
    const name = base.slice(".wh.".length);
    if (name === "" || name === "." || name === "..") throw this.refuse(e, "is a whiteout for an invalid name");
    const target = parent ? `${parent}/${name}` : name;
    if (this.touched.has(target)) return; // a whiteout hides lower layers only
    rmSync(join(this.root, target), { recursive: true, force: true });
    this.forget(target);
  }

  async apply(e: TarEntry): Promise<void> {
    const clean = cleanEntryPath(e.path);
    if ("reason" in clean) throw this.refuse(e, clean.reason);
    const rel = clean.rel;
    const base = basename(rel);
    if (base.startsWith(".wh.")) return this.whiteout(e, rel, base);
    if (e.type === "char" || e.type === "block") throw this.refuse(e, `is a ${e.type} device node (${e.devmajor}:${e.devminor})`);
    if (e.type === "fifo") throw this.refuse(e, "is a FIFO, which Palisade does not create in images");
    const attrs: Attrs = { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
    if (rel === "") {
      if (e.type !== "dir") throw this.refuse(e, "replaces the root directory with a non-directory");
      this.dirAttrs.set("", attrs);
      return;
    }
    const parent = rel.includes("/") ? dirname(rel) : "";
    this.dirChain(parent, true, e);
    this.markTouched(rel);
    const abs = join(this.root, rel);
    const existing = lstatOrUndefined(abs);
    if (existing) {
      if (existing.isDirectory() && e.type === "dir") {
        this.dirAttrs.set(rel, attrs);
        return;
      }
      rmSync(abs, { recursive: true, force: true });
      if (existing.isDirectory()) this.forget(rel);
    }
    switch (e.type) {
      case "dir":
        mkdirSync(abs, { mode: 0o700 });
        this.knownDirs.add(rel);
        this.dirAttrs.set(rel, attrs);
        return;
      case "file":
        return this.writeFile(abs, e, attrs);
      case "symlink":
        if (e.linkpath === "" || e.linkpath.includes("\0")) throw this.refuse(e, "is a symlink with an empty or invalid target");
        symlinkSync(e.linkpath, abs);
        if (isRoot) lchownSync(abs, attrs.uid, attrs.gid);
        lutimesSync(abs, attrs.mtime, attrs.mtime);
        return;
      case "hardlink":
        return this.hardlink(e, abs);
    }
  }

  // Metadata calls are synchronous on purpose: ~3× faster than the promise API for many small
  // files, and the event loop still turns while each file's content streams in.
  private async writeFile(abs: string, e: TarEntry, a: Attrs): Promise<void> {
    const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of e.body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      if (isRoot) fchownSync(fd, a.uid, a.gid);
      fchmodSync(fd, a.mode);
      futimesSync(fd, a.mtime, a.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private hardlink(e: TarEntry, abs: string): void {
    const clean = cleanEntryPath(e.linkpath);
    if ("reason" in clean) throw this.refuse(e, `is a hardlink whose target ${JSON.stringify(e.linkpath)} ${clean.reason}`);
    if (clean.rel === "") throw this.refuse(e, "is a hardlink to the root directory");
    const targetParent = clean.rel.includes("/") ? dirname(clean.rel) : "";
    if (!this.dirChain(targetParent, false, e)) throw this.refuse(e, `is a hardlink to ${JSON.stringify(e.linkpath)}, which is not in the image`);
    const target = join(this.root, clean.rel);
    const st = lstatOrUndefined(target);
    if (st === undefined) throw this.refuse(e, `is a hardlink to ${JSON.stringify(e.linkpath)}, which is not in the image`);
    if (st.isDirectory()) throw this.refuse(e, `is a hardlink to the directory ${JSON.stringify(e.linkpath)}`);
    linkSync(target, abs);
  }

  /** Sets directory owners, modes and times last (adding children changes a directory's mtime). */
  finish(): void {
    for (const [rel, a] of this.dirAttrs) {
      const abs = join(this.root, rel);
      if (!lstatOrUndefined(abs)?.isDirectory()) continue;
      if (isRoot) chownSync(abs, a.uid, a.gid);
      chmodSync(abs, a.mode);
      utimesSync(abs, a.mtime, a.mtime);
    }
  }
}

function formatError(label: string, err: unknown): unknown {
  if (err instanceof TarFormatError) {
    return new PalisadeError("IMAGE_FORMAT", `${label}: ${err.message}`, { hint: "the layer is not a valid tar archive; re-import the image", cause: err });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && code.startsWith("Z_")) {
    return new PalisadeError("IMAGE_FORMAT", `${label}: gzip data is corrupt or truncated (${(err as Error).message})`, { hint: "re-import the image", cause: err });
  }
  return err;
}

async function applyLayer(layout: OciLayout, layer: LayerToUnpack, applier: LayerApplier, label: string): Promise<void> {
  const { head, all } = await peek(layout.streamBlob(layer.digest, "layer", layer.size), 4);
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) {
    throw new PalisadeError("IMAGE_FORMAT", `${label} is zstd-compressed, which this Palisade cannot unpack`, {
      hint: "rebuild or convert the image with gzip or uncompressed layers (e.g. skopeo copy --dest-compress-format gzip)",
    });
  }
  const data = head.subarray(0, 2).equals(GZIP_MAGIC) ? throughTransform(all, createGunzip()) : all;
  const diff = new HashTap();
  applier.beginLayer(label);
  for await (const entry of readTar(diff.tap(data))) await applier.apply(entry);
  const actual = diff.digest();
  if (layer.diffId !== undefined && actual !== layer.diffId) {
    throw digestMismatch(`${label}: uncompressed content (diff_id)`, layer.diffId, actual);
  }
}

/** Unpacks `layers` in order into `dest` (an empty directory), verifying each blob. */
export async function unpackLayers(layout: OciLayout, layers: readonly LayerToUnpack[], dest: string, progress?: (msg: string) => void): Promise<void> {
  const applier = new LayerApplier(dest);
  for (const [i, layer] of layers.entries()) {
    const label = `layer ${i + 1}/${layers.length} (${layer.digest})`;
    progress?.(`unpacking layer ${i + 1}/${layers.length} ${shortDigest(layer.digest)} (${formatBytes(layer.size)})`);
    try {
      await applyLayer(layout, layer, applier, label);
    } catch (err) {
      if (err instanceof PalisadeError && (err.code === "IMAGE_DIGEST" || err.code === "IMAGE_NOT_FOUND")) throw err;
      // A tampered blob often shows up first as a gzip or tar error: the digest is the real cause.
      const check = await hashFile(layout.blobPath(layer.digest)).catch(() => undefined);
      if (check && check.digest !== layer.digest) throw digestMismatch(`layer ${layer.digest}`, layer.digest, check.digest);
      throw formatError(label, err);
    }
  }
  applier.finish();
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
