/**
 * Deterministic tar writing for image layers: POSIX ustar headers, with a pax
 * extended header only when a value does not fit (long or non-ASCII paths,
 * long link targets, sizes ≥ 8 GiB). Same entries in ⇒ same bytes out.
 */

export type TarWriteType = "file" | "dir" | "symlink" | "hardlink";

export interface TarWriteEntry {
  /** Relative path, "/"-separated, no leading "./"; directories without a trailing slash. */
  readonly path: string;
  readonly type: TarWriteType;
  readonly mode: number;
  readonly size?: number;
  readonly linkpath?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
}

const TYPEFLAG: Record<TarWriteType, string> = { file: "0", hardlink: "1", symlink: "2", dir: "5" };

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s);
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`);
}

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
}

/** Splits a path into ustar prefix (≤155) + name (≤100), or undefined if it cannot. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (!isAscii(path)) return undefined;
  if (path.length <= 100) return { prefix: "", name: path };
  for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { prefix, name };
  }
  return undefined;
}

function rawHeader(path: string, flag: string, e: TarWriteEntry, size: number, linkpath: string): Buffer {
  const b = Buffer.alloc(512);
  const split = splitUstar(path) ?? { prefix: "", name: path.slice(0, 100) };
  b.write(split.name, 0, 100, "utf8");
  octal(b, 100, 8, e.mode & 0o7777);
  octal(b, 108, 8, e.uid ?? 0);
  octal(b, 116, 8, e.gid ?? 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, e.mtime ?? 0);
  b.write(flag, 156, 1, "latin1");
  b.write(linkpath.slice(0, 100), 157, 100, "utf8");
  b.write("ustar\0" + "00", 257, 8, "latin1");
  b.write(split.prefix, 345, 155, "latin1");
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return b;
}

/** The header block(s) for one entry (pax header first when needed). */
export function tarHeader(e: TarWriteEntry): Buffer {
  const path = e.type === "dir" ? `${e.path}/` : e.path;
  const size = e.type === "file" ? (e.size ?? 0) : 0;
  const linkpath = e.linkpath ?? "";
  const records: Buffer[] = [];
  if (splitUstar(path) === undefined) records.push(paxRecord("path", path));
  if (!isAscii(linkpath) || linkpath.length > 100) records.push(paxRecord("linkpath", linkpath));
  if (size >= 8 ** 11) records.push(paxRecord("size", String(size)));
  const main = rawHeader(path, TYPEFLAG[e.type], e, size >= 8 ** 11 ? 0 : size, linkpath);
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const paxName = `PaxHeaders/${path.replace(/\/$/, "").split("/").pop() ?? "x"}`.slice(0, 100);
  const paxHead = rawHeader(paxName, "x", { path: paxName, type: "file", mode: 0o644 }, data.length, "");
  return Buffer.concat([paxHead, data, tarPadding(data.length), main]);
}

/** Zero bytes after a body of `size` bytes, up to the 512-byte block boundary. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(1024);
}

/** A whole archive in memory (tests and small layers). */
export function tarBuffer(entries: readonly (TarWriteEntry & { content?: Buffer | string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const size = e.type === "file" ? content.length : 0;
    parts.push(tarHeader({ ...e, size }));
    if (size) parts.push(content, tarPadding(size));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}
