/**
 * Crash-safe file operations for the image store: every write goes to a
 * temporary file on the same filesystem, is fsynced, then renamed over its
 * target (and the directory fsynced), so a crash or a full disk leaves either
 * the old content or the new one, never a torn file. Small whole-file writes
 * use core/atomicFile.ts; this file stages streamed blobs and holds the lock.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { tempName } from "../core/atomicFile.js";
import { PalisadeError } from "../core/errors.js";

/** A file written to a temporary path, with the digest and size of what was written. */
export interface StagedFile {
  readonly path: string;
  readonly digest: string;
  readonly size: number;
}

/**
 * Writes a stream to a new temp file in `tmpDir`, hashing it, and fsyncs it.
 * The caller renames it into place (or removes it).
 */
export async function stageStream(tmpDir: string, src: AsyncIterable<Buffer>): Promise<StagedFile> {
  const path = join(tmpDir, tempName("blob"));
  const hash = createHash("sha256");
  let size = 0;
  const fh = await open(path, "wx", 0o644);
  // Small chunks (tar headers, small files) are gathered so each write is large.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    const buf = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    let off = 0;
    while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
  };
  try {
    for await (const chunk of src) {
      hash.update(chunk);
      size += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= 1 << 20) await flush();
    }
    if (pendingBytes > 0) await flush();
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
  return { path, digest: `sha256:${hash.digest("hex")}`, size };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A lock file held for a short read-modify-write (index.json updates). A lock
 * left by a dead process is broken; a live holder is waited for up to
 * `timeoutMs`. Within one process, calls are synchronous and so serialised.
 */
export function withLockSync<T>(lockPath: string, fn: () => T, timeoutMs = 15_000): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lockPath, "wx", 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(lockPath, "utf8"));
      } catch {
        continue; // released meanwhile
      }
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
        rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new PalisadeError("IO", `the image store is locked by process ${holder} (${lockPath})`, {
          hint: "another palisade process is changing the image store; wait for it, or remove the lock file if that process is gone",
        });
      }
      sleepSync(25);
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {
      // already gone
    }
  }
}
