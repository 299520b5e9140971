import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { tarBuffer, tarEnd, tarHeader, type TarWriteEntry } from "../../src/runtime/ociTarWriter.js";
import { cleanEntryPath } from "../../src/runtime/imageUnpack.js";
import { gnuTarLayer, imageFromLayers, tempDir, writeOciLayout } from "../fixtures/images.js";

let tmp: { dir: string; cleanup: () => void };
let store: ImageStore;
const OUTSIDE = "/tmp/palisade-escape-probe";

beforeEach(() => {
  tmp = tempDir();
  store = ImageStore.open(join(tmp.dir, "images"));
  rmSync(OUTSIDE, { recursive: true, force: true });
});
afterEach(() => {
  tmp.cleanup();
  rmSync(OUTSIDE, { recursive: true, force: true });
});

type Entry = TarWriteEntry & { content?: string };
const file = (path: string, content = "x"): Entry => ({ path, type: "file", mode: 0o644, content });
const dir = (path: string): Entry => ({ path, type: "dir", mode: 0o755 });
const symlink = (path: string, linkpath: string): Entry => ({ path, type: "symlink", mode: 0o777, linkpath });
const hardlink = (path: string, linkpath: string): Entry => ({ path, type: "hardlink", mode: 0o644, linkpath });

/** A tar whose single entry has an arbitrary type flag (devices, FIFOs), with a valid checksum. */
function rawTypeTar(path: string, flag: string): Buffer {
  const h = tarHeader({ path, type: "file", mode: 0o666, size: 0 });
  h.write(flag, 156, 1, "latin1");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return Buffer.concat([h, tarEnd()]);
}

async function rootfsOf(layers: Buffer[]): Promise<string> {
  await imageFromLayers(store, layers, "test:1");
  return store.rootfs("test:1");
}

async function refused(layers: Buffer[]): Promise<PalisadeError> {
  await imageFromLayers(store, layers, "bad:1");
  try {
    await store.rootfs("bad:1");
  } catch (err) {
    if (!(err instanceof PalisadeError)) throw err;
    expect(readdirSync(join(tmp.dir, "rootfs")).filter((n) => !n.startsWith("."))).toEqual([]);
    expect(readdirSync(join(tmp.dir, "rootfs"))).toEqual([]); // the temp dir is gone too
    return err;
  }
  throw new Error("expected the rootfs to be refused");
}

describe("layer unpacking", () => {
  it("normalises entry paths and flags unsafe ones", () => {
    expect(cleanEntryPath("./a//b/./c/")).toEqual({ rel: "a/b/c" });
    expect(cleanEntryPath("./")).toEqual({ rel: "" });
    expect(cleanEntryPath("../etc/x")).toEqual({ reason: "contains '..' (path traversal)" });
    expect(cleanEntryPath("a/../../x")).toHaveProperty("reason");
    expect(cleanEntryPath("/etc/x")).toEqual({ reason: "is an absolute path" });
    expect(cleanEntryPath("a\0b")).toHaveProperty("reason");
  });

  it("refuses a path traversal entry", async () => {
    const e = await refused([tarBuffer([dir("etc"), file("../etc/x", "pwned")])]);
    expect(e.code).toBe("IMAGE_FORMAT");
    expect(e.message).toContain('entry "../etc/x" contains \'..\' (path traversal); refusing to unpack');
    expect(e.details).toMatchObject({ entry: "../etc/x" });
    expect(existsSync(join(tmp.dir, "etc", "x"))).toBe(false);
  });

  it("refuses an absolute path entry", async () => {
    const e = await refused([tarBuffer([file(`${OUTSIDE}/x`, "pwned")])]);
    expect(e.message).toContain(`entry "${OUTSIDE}/x" is an absolute path`);
    expect(existsSync(OUTSIDE)).toBe(false);
  });

  it("refuses writing through a symlink that escapes, in the same layer", async () => {
    const e = await refused([tarBuffer([symlink("evil", OUTSIDE), file("evil/x", "pwned")])]);
    expect(e.message).toContain(`entry "evil/x" would be written through the symlink "evil" (-> ${OUTSIDE})`);
    expect(existsSync(join(OUTSIDE, "x"))).toBe(false);
  });

  it("refuses writing through a symlink planted by a lower layer (relative escape)", async () => {
    const lower = gnuTarLayer({ lib: { symlink: "../../../../../../../../tmp/palisade-escape-probe" } });
    const e = await refused([lower, tarBuffer([file("lib/x", "pwned")])]);
    expect(e.message).toMatch(/layer 2\/2 .*entry "lib\/x" would be written through the symlink "lib"/);
    expect(existsSync(OUTSIDE)).toBe(false);
  });

  it("replaces a lower symlink by a directory when the upper layer has a directory entry for it", async () => {
    const lower = gnuTarLayer({ lib: { symlink: "../../../../../../../../tmp/palisade-escape-probe" } });
    const root = await rootfsOf([lower, gnuTarLayer({ "lib/x": "inside" })]);
    expect(lstatSync(join(root, "lib")).isDirectory()).toBe(true);
    expect(readFileSync(join(root, "lib", "x"), "utf8")).toBe("inside");
    expect(existsSync(OUTSIDE)).toBe(false);
  });

  it("refuses hardlinks that escape the tree or go through symlinks", async () => {
    const out = await refused([tarBuffer([hardlink("h", "../../../../etc/passwd")])]);
    expect(out.message).toContain('is a hardlink whose target "../../../../etc/passwd" contains \'..\'');
    const abs = await refused([tarBuffer([hardlink("h", "/etc/passwd")])]);
    expect(abs.message).toContain("is an absolute path");
    const through = await refused([tarBuffer([symlink("s", "/etc"), hardlink("h", "s/passwd")])]);
    expect(through.message).toContain('the symlink "s"');
    const missing = await refused([tarBuffer([hardlink("h", "nope")])]);
    expect(missing.message).toContain("which is not in the image");
  });

  it("keeps symlinks that point anywhere (they resolve inside the container) and safe hardlinks", async () => {
    const root = await rootfsOf([tarBuffer([dir("bin"), file("bin/tool", "#!/bin/sh\n"), symlink("bin/abs", "/bin/tool"), symlink("up", "../../.."), hardlink("bin/tool2", "bin/tool")])]);
    expect(readlinkSync(join(root, "bin", "abs"))).toBe("/bin/tool");
    expect(readlinkSync(join(root, "up"))).toBe("../../..");
    expect(lstatSync(join(root, "bin", "tool2")).ino).toBe(lstatSync(join(root, "bin", "tool")).ino);
  });

  it("refuses device nodes and FIFOs", async () => {
    const chr = await refused([rawTypeTar("dev/null", "3")]);
    expect(chr.message).toContain('entry "dev/null" is a char device node');
    expect(chr.hint).toMatch(/device nodes/);
    expect((await refused([rawTypeTar("dev/sda", "4")])).message).toContain("block device node");
    expect((await refused([rawTypeTar("pipe", "6")])).message).toContain("is a FIFO");
  });

  it("applies whiteouts and opaque whiteouts across layers", async () => {
    const lower = gnuTarLayer({
      "top.txt": "gone",
      "a/keep": "hidden by opaque",
      "a/b/c/bar": "hidden by opaque",
      "x/y": "whited out",
      "x/z": "stays",
      "d/old": "hidden",
      "n.txt": "lower n",
      "dir/sub/f": "deleted with its directory",
    });
    // The opaque marker of a/ comes AFTER the new a/b/c/foo: it must not hide it (layer.md).
    const upper = tarBuffer([
      file(".wh.top.txt", ""),
      dir("a"),
      dir("a/b"),
      dir("a/b/c"),
      file("a/b/c/foo", "new"),
      file("a/.wh..wh..opq", ""),
      file("x/.wh.y", ""),
      file("d/.wh..wh..opq", ""),
      file("d/new", "new"),
      file("n.txt", "upper n"),
      file(".wh.n.txt", ""), // same layer: hides nothing of this layer
      file(".wh.dir", ""),
      file(".wh.never-existed", ""),
    ]);
    const root = await rootfsOf([lower, gzipSync(upper)]);
    const ls = (p: string) => readdirSync(join(root, p)).sort();
    expect(ls(".")).toEqual(["a", "d", "n.txt", "x"]);
    expect(ls("a")).toEqual(["b"]);
    expect(ls("a/b/c")).toEqual(["foo"]);
    expect(ls("x")).toEqual(["z"]);
    expect(ls("d")).toEqual(["new"]);
    expect(readFileSync(join(root, "n.txt"), "utf8")).toBe("upper n");
    const all = readdirSync(root, { recursive: true }) as string[];
    expect(all.filter((p) => p.includes(".wh."))).toEqual([]);
  });

  it("replaces a lower directory by a file and a lower file by a directory", async () => {
    const root = await rootfsOf([tarBuffer([dir("p"), file("p/q"), file("r")]), tarBuffer([file("p", "now a file"), dir("r"), file("r/s")])]);
    expect(readFileSync(join(root, "p"), "utf8")).toBe("now a file");
    expect(readdirSync(join(root, "r"))).toEqual(["s"]);
  });

  it("preserves modes, owners and times, and creates missing parents", async () => {
    const root = await rootfsOf([
      tarBuffer([
        { path: "opt/app/run", type: "file", mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_600_000_000, content: "bin" },
        { path: "srv", type: "dir", mode: 0o750, uid: 33, gid: 33, mtime: 1_500_000_000 },
        file("srv/index.html", "<h1>hi</h1>"),
      ]),
    ]);
    const st = lstatSync(join(root, "opt", "app", "run"));
    expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs / 1000]).toEqual([0o4755, 1000, 1001, 1_600_000_000]);
    const srv = lstatSync(join(root, "srv"));
    expect([srv.mode & 0o7777, srv.uid, srv.mtimeMs / 1000]).toEqual([0o750, 33, 1_500_000_000]);
    expect(lstatSync(join(root, "opt")).mode & 0o777).toBe(0o755);
  });

  it("checks the uncompressed layer against the config's diff_id", async () => {
    const layout = join(tmp.dir, "layout");
    const layer = tarBuffer([file("a", "1")]);
    const h = writeOciLayout(layout, [layer]);
    // rewrite the config with a wrong diff_id, keeping the layout self-consistent otherwise
    const put = (s: string) => {
      const hex = createHash("sha256").update(s).digest("hex");
      writeFileSync(join(layout, "blobs", "sha256", hex), s);
      return { digest: `sha256:${hex}`, size: Buffer.byteLength(s) };
    };
    const config = put(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${"1".repeat(64)}`] } }));
    const manifest = put(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: h.layerDigests[0], size: layer.length }],
      }),
    );
    writeFileSync(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest }] }));
    await store.importLayout(layout, { tag: "diff:1" });
    const e = await store.rootfs("diff:1").catch((err: unknown) => err as PalisadeError);
    expect(e).toBeInstanceOf(PalisadeError);
    expect((e as PalisadeError).code).toBe("IMAGE_DIGEST");
    expect((e as PalisadeError).message).toContain("uncompressed content (diff_id)");
  });
});
