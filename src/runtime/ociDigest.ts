/**
 * Content digests for the image store (OCI `sha256:<64 hex>` only) and the
 * streaming helpers that verify a blob while it is being read. Every read of
 * a blob goes through `readVerifiedSync` or `verifiedStream`: nothing in the
 * store is trusted just because it is on disk.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, fstatSync, openSync, closeSync, readSync } from "node:fs";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PalisadeError } from "../core/errors.js";

export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
export const TAMPER_HINT = "the store is corrupted or tampered; re-import the image";

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The hex part of a digest, safe to use as a file name (callers check DIGEST_RE first). */
export function digestHex(digest: string): string {
  return digest.slice("sha256:".length);
}

export function shortDigest(digest: string): string {
  return digestHex(digest).slice(0, 12);
}

/** Accepts only sha256 digests: they become file names, so anything else is refused here. */
export function checkDigest(value: unknown, what: string): string {
  if (typeof value === "string" && DIGEST_RE.test(value)) return value;
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
  throw new PalisadeError("IMAGE_FORMAT", `${what} has digest ${shown}, which is not a sha256 digest`, {
    hint: "Palisade stores sha256-addressed content only (sha256:<64 lowercase hex>)",
  });
}

export function digestMismatch(what: string, expected: string, actual: string): PalisadeError {
  return new PalisadeError("IMAGE_DIGEST", `${what}: content has digest ${actual}, expected ${expected}`, {
    hint: TAMPER_HINT,
    details: { expected, actual },
  });
}

export function sizeMismatch(what: string, expected: number, actual: number): PalisadeError {
  return new PalisadeError("IMAGE_DIGEST", `${what}: size is ${actual} bytes, expected ${expected}`, {
    hint: TAMPER_HINT,
    details: { expectedSize: expected, actualSize: actual },
  });
}

function missingBlob(what: string, path: string, cause: unknown): PalisadeError {
  return new PalisadeError("IMAGE_NOT_FOUND", `${what} is missing (${path})`, { hint: TAMPER_HINT, cause });
}

function isNoEnt(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * Reads a whole (small) blob and checks it against its digest and, when
 * known, its size. `limit` bounds memory: manifests and configs are small.
 */
export function readVerifiedSync(path: string, digest: string, what: string, size?: number, limit = 16 << 20): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if (isNoEnt(err)) throw missingBlob(what, path, err);
    throw err;
  }
  try {
    const actualSize = fstatSync(fd).size;
    if (size !== undefined && actualSize !== size) throw sizeMismatch(what, size, actualSize);
    if (actualSize > limit) {
      throw new PalisadeError("IMAGE_FORMAT", `${what} is ${actualSize} bytes; JSON blobs larger than ${limit} bytes are refused`);
    }
    const buf = Buffer.alloc(actualSize);
    let off = 0;
    while (off < actualSize) {
      const n = readSync(fd, buf, off, actualSize - off, off);
      if (n === 0) break;
      off += n;
    }
    const actual = sha256(buf.subarray(0, off));
    if (actual !== digest) throw digestMismatch(what, digest, actual);
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams a blob from disk, hashing as it goes; throws IMAGE_DIGEST at the end
 * if the content does not match (or as soon as it is longer than `size`).
 * The consumer must read to the end for the check to happen.
 */
export async function* verifiedStream(path: string, digest: string, what: string, size?: number): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let n = 0;
  const stream = createReadStream(path, { highWaterMark: 256 << 10 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      n += chunk.length;
      if (size !== undefined && n > size) throw sizeMismatch(what, size, n);
      yield chunk;
    }
  } catch (err) {
    if (isNoEnt(err)) throw missingBlob(what, path, err);
    throw err;
  } finally {
    stream.destroy();
  }
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== digest) throw digestMismatch(what, digest, actual);
  if (size !== undefined && n !== size) throw sizeMismatch(what, size, n);
}

/** Hashes a whole file (for re-checking a blob after an unpack failure). */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** A pass-through that hashes what flows through it; read `digest()` and `size` after the end. */
export class HashTap {
  private readonly hash: Hash = createHash("sha256");
  size = 0;

  async *tap(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of src) {
      this.hash.update(chunk);
      this.size += chunk.length;
      yield chunk;
    }
  }

  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

/**
 * Runs an async iterable through a Transform (gzip, gunzip) and yields its
 * output. An error of the source (e.g. a digest mismatch) wins over the
 * transform's own error, since it is the root cause.
 */
export async function* throughTransform(src: AsyncIterable<Buffer>, t: Transform): AsyncGenerator<Buffer> {
  let sourceError: unknown;
  const feed = pipeline(Readable.from(src, { objectMode: false }), t).catch((err: unknown) => {
    sourceError = err;
  });
  let finished = false;
  try {
    for await (const chunk of t as AsyncIterable<Buffer>) yield chunk;
    finished = true;
  } catch (err) {
    await feed;
    throw sourceError ?? err;
  } finally {
    if (!finished) t.destroy();
  }
  await feed;
  if (sourceError !== undefined) throw sourceError;
}

/** The first bytes of a stream without losing them: returns the head and an iterable of everything. */
export async function peek(src: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = src[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    got.push(r.value);
    len += r.value.length;
  }
  const head = Buffer.concat(got).subarray(0, n);
  async function* all(): AsyncGenerator<Buffer> {
    let complete = done;
    try {
      for (const b of got) yield b;
      while (!complete) {
        const r = await it.next();
        if (r.done) complete = true;
        else yield r.value;
      }
    } finally {
      if (!complete) await it.return?.();
    }
  }
  return { head, all: all() };
}

export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
