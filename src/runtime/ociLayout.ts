/**
 * One OCI image layout directory used as a store (image-spec image-layout.md):
 *
 *   oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   index.json            an image index; one descriptor per stored image tag
 *   blobs/sha256/<hex>    manifests, configs and layers, named by their digest
 *   .tmp/                 staging for atomic writes (same filesystem); not part of the layout
 *   index.lock            held while index.json is rewritten
 *
 * Blobs are only ever added by renaming a fully written, fsynced, verified
 * temp file; index.json only by atomic replacement under the lock.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { checkDigest, digestHex, hashFile, readVerifiedSync, TAMPER_HINT, verifiedStream } from "./ociDigest.js";
import { fsyncDir, writeFileAtomic } from "../core/atomicFile.js";
import { type StagedFile, withLockSync } from "./ociFiles.js";
import { indexSchema, layoutFileSchema, MEDIA, parseJson, type OciIndex } from "./ociTypes.js";

export const LAYOUT_VERSION = "1.0.0";

export class OciLayout {
  readonly root: string;

  private constructor(root: string) {
    this.root = resolve(root);
  }

  /** Opens a layout, creating an empty one if `root` does not hold one yet. */
  static ensure(root: string): OciLayout {
    const l = new OciLayout(root);
    try {
      mkdirSync(join(l.root, "blobs", "sha256"), { recursive: true, mode: 0o755 });
      mkdirSync(l.tmpDir, { recursive: true, mode: 0o700 });
      const layoutFile = join(l.root, "oci-layout");
      if (!existsSync(layoutFile)) {
        writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }), { mode: 0o644, tmpDir: l.tmpDir });
      } else {
        const v = parseJson(layoutFileSchema, readFileSync(layoutFile), `${layoutFile}`);
        if (!v.imageLayoutVersion.startsWith("1.")) {
          throw new PalisadeError("IMAGE_FORMAT", `${layoutFile} says imageLayoutVersion ${v.imageLayoutVersion}; Palisade reads 1.x`);
        }
      }
      if (!existsSync(l.indexPath)) {
        withLockSync(l.lockPath, () => {
          if (!existsSync(l.indexPath)) l.writeIndexUnlocked({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [] });
        });
      }
    } catch (err) {
      if (err instanceof PalisadeError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new PalisadeError("IO", `cannot open the image store at ${l.root}: ${e.code ?? e.message}`, {
        hint: e.code === "EACCES" || e.code === "EPERM" ? "run as root or choose another --data-dir" : "check the path and free space",
        cause: err,
      });
    }
    return l;
  }

  get tmpDir(): string {
    return join(this.root, ".tmp");
  }

  get indexPath(): string {
    return join(this.root, "index.json");
  }

  private get lockPath(): string {
    return join(this.root, "index.lock");
  }

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(checkDigest(digest, "blob")));
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  readIndex(): OciIndex {
    let text: Buffer;
    try {
      text = readFileSync(this.indexPath);
    } catch (err) {
      throw new PalisadeError("IMAGE_FORMAT", `the image store's index.json cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`, {
        hint: TAMPER_HINT,
        cause: err,
      });
    }
    return parseJson(indexSchema, text, `the image store's index.json (${this.indexPath})`);
  }

  /** Read-modify-write of index.json under the lock; `fn` returns the new index. */
  updateIndex(fn: (index: OciIndex) => OciIndex): OciIndex {
    return this.commit([], [], fn);
  }

  private writeIndexUnlocked(index: OciIndex): void {
    writeFileAtomic(this.indexPath, JSON.stringify(index, null, 2) + "\n", { mode: 0o644, tmpDir: this.tmpDir });
  }

  /** A small blob (manifest, config), verified against its digest (and size if given). */
  readBlobSync(digest: string, what: string, size?: number): Buffer {
    return readVerifiedSync(this.blobPath(digest), digest, `${what} ${digest}`, size);
  }

  /** A blob as a verified stream (IMAGE_DIGEST at the end if it does not match). */
  streamBlob(digest: string, what: string, size?: number): AsyncGenerator<Buffer> {
    return verifiedStream(this.blobPath(digest), digest, `${what} ${digest}`, size);
  }

  /** Checks a blob exists with the expected size (cheap; content is verified when read). */
  checkBlobSize(digest: string, what: string, size: number): void {
    let actual: number;
    try {
      actual = statSync(this.blobPath(digest)).size;
    } catch (err) {
      throw new PalisadeError("IMAGE_NOT_FOUND", `${what} ${digest} is missing from the store`, { hint: TAMPER_HINT, cause: err });
    }
    if (actual !== size) {
      throw new PalisadeError("IMAGE_DIGEST", `${what} ${digest}: size is ${actual} bytes, expected ${size}`, {
        hint: TAMPER_HINT,
        details: { expectedSize: size, actualSize: actual },
      });
    }
  }

  /** Whether a stored blob is present and intact (used to heal the store on import). */
  async blobIntact(digest: string): Promise<boolean> {
    if (!this.hasBlob(digest)) return false;
    try {
      return (await hashFile(this.blobPath(digest))).digest === digest;
    } catch {
      return false;
    }
  }

  /** Runs `fn` holding the store lock (index.json changes, blob commits, gc). */
  withLock<T>(fn: () => T): T {
    return withLockSync(this.lockPath, fn);
  }

  /**
   * The commit point of an import or build, under the lock: renames staged
   * (verified) blobs into blobs/sha256/, checks reused blobs are still there
   * (a concurrent gc could have removed them), then rewrites index.json once.
   */
  commit(staged: readonly { file: StagedFile; digest: string }[], reused: readonly string[], update: (index: OciIndex) => OciIndex): OciIndex {
    return withLockSync(this.lockPath, () => {
      for (const d of reused) {
        if (!this.hasBlob(d)) {
          throw new PalisadeError("IO", `blob ${d} disappeared from the store during the import (a concurrent gc?)`, { hint: "retry the command" });
        }
      }
      for (const s of staged) renameSync(s.file.path, this.blobPath(s.digest));
      if (staged.length) fsyncDir(join(this.root, "blobs", "sha256"));
      const next = update(this.readIndex());
      this.writeIndexUnlocked(next);
      return next;
    });
  }

  /** All blob digests present on disk. */
  listBlobs(): string[] {
    const dir = join(this.root, "blobs", "sha256");
    return readdirSync(dir)
      .filter((n) => /^[a-f0-9]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
  }

  removeBlob(digest: string): void {
    rmSync(this.blobPath(digest), { force: true });
  }

  /** Removes staging files older than `ageMs` (left by crashed processes). */
  cleanTmp(ageMs: number): number {
    let n = 0;
    const now = Date.now();
    for (const name of readdirSync(this.tmpDir)) {
      const p = join(this.tmpDir, name);
      try {
        if (now - lstatSync(p).mtimeMs > ageMs) {
          rmSync(p, { recursive: true, force: true });
          n++;
        }
      } catch {
        // raced with its owner
      }
    }
    return n;
  }
}
