import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePax, readTar, TarFormatError, type TarEntry } from "../../src/runtime/ociTarReader.js";
import { tarBuffer } from "../../src/runtime/ociTarWriter.js";
import { tempDir } from "../fixtures/images.js";

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

async function* chunks(buf: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function entries(buf: Buffer, result = { sawEndMarker: false }): Promise<(Omit<TarEntry, "body" | "offset"> & { content: string })[]> {
  const out = [];
  for await (const e of readTar(chunks(buf), result)) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    const { body: _b, offset: _o, ...rest } = e;
    out.push({ ...rest, content: Buffer.concat(parts).toString() });
  }
  return out;
}

describe("tar reader and writer", () => {
  const long = `${"deep/".repeat(40)}file-with-a-long-name.txt`;

  it("round-trips ustar and pax entries (long and non-ASCII paths, long link targets)", async () => {
    const buf = tarBuffer([
      { path: "dir", type: "dir", mode: 0o755 },
      { path: "dir/a.txt", type: "file", mode: 0o640, uid: 7, gid: 8, mtime: 1234567890, content: "hello" },
      { path: long, type: "file", mode: 0o600, content: "x".repeat(1000) },
      { path: "dir/ünïcødé", type: "file", mode: 0o644, content: "u" },
      { path: "link", type: "symlink", mode: 0o777, linkpath: `/${long}` },
      { path: "hard", type: "hardlink", mode: 0o640, linkpath: "dir/a.txt" },
    ]);
    expect(buf.length % 512).toBe(0);
    const result = { sawEndMarker: false };
    const got = await entries(buf, result);
    expect(result.sawEndMarker).toBe(true);
    expect(got.map((e) => [e.type, e.path, e.linkpath])).toEqual([
      ["dir", "dir/", ""],
      ["file", "dir/a.txt", ""],
      ["file", long, ""],
      ["file", "dir/ünïcødé", ""],
      ["symlink", "link", `/${long}`],
      ["hardlink", "hard", "dir/a.txt"],
    ]);
    expect(got[1]).toMatchObject({ mode: 0o640, uid: 7, gid: 8, mtime: 1234567890, size: 5, content: "hello" });
    expect(got[2]?.content).toHaveLength(1000);
  });

  it("writes archives GNU tar reads, and reads archives GNU tar writes", async () => {
    const buf = tarBuffer([
      { path: "d", type: "dir", mode: 0o755 },
      { path: `d/${long}`, type: "file", mode: 0o644, content: "gnu" },
      { path: "d/l", type: "symlink", mode: 0o777, linkpath: "../x" },
    ]);
    writeFileSync(join(tmp.dir, "ours.tar"), buf);
    expect(execFileSync("tar", ["-tvf", join(tmp.dir, "ours.tar")], { encoding: "utf8" })).toContain(long);
    const src = join(tmp.dir, "src");
    mkdirSync(join(src, long.split("/").slice(0, -1).join("/")), { recursive: true });
    writeFileSync(join(src, long), "from gnu");
    for (const format of ["gnu", "posix", "ustar"]) {
      const file = join(tmp.dir, `${format}.tar`);
      const args = ["--format", format, "-C", src, "-cf", file, format === "ustar" ? long.slice(0, 100).replace(/\/[^/]*$/, "") : "."];
      execFileSync("tar", args);
      const got = await entries(readFileSync(file));
      const f = got.find((e) => e.type === "file");
      expect(f?.content, format).toBe("from gnu");
    }
  });

  it("reports truncation precisely and checks header checksums", async () => {
    const buf = tarBuffer([{ path: "big", type: "file", mode: 0o644, content: "y".repeat(5000) }]);
    const err = await entries(buf.subarray(0, 3000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarFormatError);
    expect((err as TarFormatError).truncated).toBe(true);
    expect((err as Error).message).toBe('tar entry "big" at byte 0: needs 2512 more bytes but the input ended');
    const bad = Buffer.from(buf);
    bad.writeUInt8(bad.readUInt8(10) ^ 1, 10);
    await expect(entries(bad)).rejects.toThrow("not a tar archive (bad header checksum at byte 0)");
    const noEnd = { sawEndMarker: false };
    await entries(buf.subarray(0, 512 + 5120), noEnd);
    expect(noEnd.sawEndMarker).toBe(false);
  });

  it("parses pax records", () => {
    expect([...parsePax(Buffer.from("18 path=a/b/c.txt\n21 linkpath=/x/y/z12\n"))]).toEqual([
      ["path", "a/b/c.txt"],
      ["linkpath", "/x/y/z12"],
    ]);
    expect(() => parsePax(Buffer.from("99 path=x\n"))).toThrow(TarFormatError);
  });
});
