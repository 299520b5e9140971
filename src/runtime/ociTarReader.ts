/**
 * A small streaming tar reader (ustar, GNU long names, pax headers) written
 * for the image store, so that every entry's type, path and link target is
 * seen by our own code before anything touches the disk. It never writes;
 * `imageUnpack.ts` decides what is safe to apply.
 */

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarEntry {
  readonly path: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly size: number;
  readonly linkpath: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Byte offset of the entry's header in the (uncompressed) archive. */
  readonly offset: number;
  /** The entry's content; read it fully or not at all (the reader skips what is left). */
  readonly body: AsyncIterable<Buffer>;
}

/** Raised for malformed archives; callers add which file it was. */
export class TarFormatError extends Error {
  constructor(
    message: string,
    readonly truncated = false,
  ) {
    super(message);
  }
}

const META_LIMIT = 1 << 20;

/** Buffered exact reads over an async iterable of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  position = 0;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
      }
    }
  }

  private take(n: number): Buffer {
    const whole = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = whole.subarray(0, n);
    const rest = whole.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    this.position += n;
    return out;
  }

  /** Exactly n bytes, or null at a clean end of input; throws when input ends part-way. */
  async read(n: number, what: () => string): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && this.ended) return null;
    if (this.buffered < n) throw new TarFormatError(`${what()}: needs ${n - this.buffered} more bytes but the input ended`, true);
    return this.take(n);
  }

  /** Yields exactly n bytes in chunks. */
  async *stream(n: number, what: () => string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) throw new TarFormatError(`${what()}: needs ${left} more bytes but the input ended`, true);
      const k = Math.min(left, this.buffered, 1 << 20);
      left -= k;
      yield this.take(k);
    }
  }

  async skip(n: number, what: () => string): Promise<void> {
    for await (const _ of this.stream(n, what)) {
      // discard
    }
  }

  /** Stops reading early: closes the source (files, streams) behind the iterator. */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }

  /** Consumes everything left (so a hash over the input covers all of it). */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
    }
  }
}

function cstring(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString("utf8", off, end === -1 || end > off + len ? off + len : end);
}

function numeric(b: Buffer, off: number, len: number, field: string): number {
  const first = b[off] ?? 0;
  if (first & 0x80) {
    // base-256 (GNU/star) for big values; negative values are refused
    if (first === 0xff) throw new TarFormatError(`negative ${field} in tar header`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (b[off + i] ?? 0);
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`${field} in tar header is too large`);
    return v;
  }
  const s = b.toString("latin1", off, off + len).replace(/[\0 ]+$/g, "").replace(/^[ \0]+/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad ${field} ${JSON.stringify(s)} in tar header`);
  return parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  let stored: number;
  try {
    stored = numeric(b, 148, 8, "checksum");
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (b[i] as number);
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** Parses pax extended header records: "<len> <key>=<value>\n". */
export function parsePax(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    const len = sp === -1 ? NaN : Number(buf.toString("latin1", off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > buf.length) throw new TarFormatError("malformed pax extended header");
    const rec = buf.toString("utf8", sp + 1, off + len - 1);
    const eq = rec.indexOf("=");
    if (eq === -1) throw new TarFormatError("malformed pax extended header record");
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

export interface TarReadResult {
  /** True when the archive ended with its zero-block end-of-archive marker. */
  readonly sawEndMarker: boolean;
}

/**
 * Yields the entries of a tar stream. Each entry's body must be consumed (or
 * ignored) before asking for the next. When iteration ends, everything left
 * in the input has been read (so hashes over the input are complete), and
 * `result.sawEndMarker` tells whether the archive was properly terminated.
 */
export async function* readTar(src: AsyncIterable<Buffer>, result: { sawEndMarker: boolean } = { sawEndMarker: false }): AsyncGenerator<TarEntry> {
  const r = new ByteReader(src[Symbol.asyncIterator]());
  try {
    yield* entries(r, result);
  } finally {
    await r.close();
  }
}

async function* entries(r: ByteReader, result: { sawEndMarker: boolean }): AsyncGenerator<TarEntry> {
  let globalPax = new Map<string, string>();
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let last = "the start of the archive";
  for (;;) {
    const offset = r.position;
    const header = await r.read(512, () => `tar header after ${last}`);
    if (header === null) break; // input ended without end marker; caller decides
    if (header.every((b) => b === 0)) {
      result.sawEndMarker = true;
      await r.drain();
      return;
    }
    if (!checksumOk(header)) {
      throw new TarFormatError(offset === 0 ? "not a tar archive (bad header checksum at byte 0)" : `bad tar header checksum at byte ${offset} (after ${last})`);
    }
    const flag = String.fromCharCode(header[156] as number);
    const size = numeric(header, 124, 12, "size");
    const magic = header.toString("latin1", 257, 263);
    let name = cstring(header, 0, 100);
    if (magic === "ustar\0") {
      const prefix = cstring(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const padded = Math.ceil(size / 512) * 512;
    const what = () => `tar entry ${JSON.stringify(name)} at byte ${offset}`;
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > META_LIMIT) throw new TarFormatError(`${what()}: metadata entry of ${size} bytes is too large`);
      const body = (await r.read(padded, what)) ?? Buffer.alloc(0);
      if (body.length < padded) throw new TarFormatError(`${what()}: truncated`, true);
      const data = body.subarray(0, size);
      if (flag === "x") pax = new Map([...pax, ...parsePax(data)]);
      else if (flag === "g") globalPax = new Map([...globalPax, ...parsePax(data)]);
      else if (flag === "L") longName = cstring(data, 0, data.length);
      else longLink = cstring(data, 0, data.length);
      continue;
    }
    // old (v7) archives mark directories only by a trailing slash
    const type = (flag === "0" || flag === "\0") && name.endsWith("/") && size === 0 ? "dir" : TYPES[flag];
    if (type === undefined) {
      const kind = flag === "S" ? "a sparse file" : `type ${JSON.stringify(flag)}`;
      throw new TarFormatError(`${what()} is ${kind}, which Palisade does not unpack`);
    }
    const meta = new Map([...globalPax, ...pax]);
    if ([...meta.keys()].some((k) => k.startsWith("GNU.sparse."))) throw new TarFormatError(`${what()} is a sparse file, which Palisade does not unpack`);
    const num = (key: string, fallback: number): number => {
      const v = meta.get(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new TarFormatError(`${what()}: bad pax ${key}=${JSON.stringify(v)}`);
      return key === "mtime" ? Math.floor(n) : n;
    };
    const path = meta.get("path") ?? longName ?? name;
    const linkpath = meta.get("linkpath") ?? longLink ?? cstring(header, 157, 100);
    const bodySize = type === "file" ? num("size", size) : 0;
    const skipSize = type === "file" ? Math.ceil(bodySize / 512) * 512 : padded;
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    last = `entry ${JSON.stringify(path)}`;
    const entryWhat = () => `tar entry ${JSON.stringify(path)} at byte ${offset}`;
    let consumed = false;
    const body = (async function* () {
      if (consumed) throw new Error("tar entry body read twice");
      consumed = true;
      yield* r.stream(bodySize, entryWhat);
    })();
    yield {
      path,
      type,
      mode: numeric(header, 100, 8, "mode") & 0o7777,
      uid: num("uid", numeric(header, 108, 8, "uid")),
      gid: num("gid", numeric(header, 116, 8, "gid")),
      mtime: num("mtime", numeric(header, 136, 12, "mtime")),
      size: bodySize,
      linkpath,
      devmajor: type === "char" || type === "block" ? numeric(header, 329, 8, "devmajor") : 0,
      devminor: type === "char" || type === "block" ? numeric(header, 337, 8, "devminor") : 0,
      offset,
      body,
    };
    if (!consumed) {
      consumed = true;
      await r.skip(bodySize, entryWhat);
    } else {
      // the consumer may have stopped early; skip whatever it left
      const left = offset + 512 + bodySize - r.position;
      if (left > 0) await r.skip(left, entryWhat);
    }
    await r.skip(skipSize - bodySize, entryWhat);
  }
}
