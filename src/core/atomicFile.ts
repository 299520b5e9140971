/**
 * Crash-safe small files, the one implementation every part uses: write a
 * temporary file on the same filesystem (created O_EXCL with its final mode,
 * so a key never exists even briefly with wider permissions), fsync it,
 * rename it over the target, fsync the directory. After a crash, power loss
 * or a full disk the target holds the old content or the new, never a torn
 * mix; the temporary file is removed when the write fails.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export function tempName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** fsync a directory so a rename inside it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface AtomicWriteOptions {
  /** File mode (before umask). Default 0600: callers widen it on purpose. */
  readonly mode?: number;
  /** Where the temporary file goes; must be on the target's filesystem. Default: the target's directory. */
  readonly tmpDir?: string;
}

export function writeFileAtomic(path: string, data: Buffer | Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const tmp = join(opts.tmpDir ?? dirname(path), tempName(`.${basename(path)}`));
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", opts.mode ?? 0o600);
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dirname(path));
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
