import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { buildBusyboxImage, gnuTarLayer, haveBusybox, makeBusyboxRootfs, sha256Hex, tempDir, writeOciLayout } from "../fixtures/images.js";

let tmp: { dir: string; cleanup: () => void };
let store: ImageStore;
const ARCH = process.arch === "x64" ? "amd64" : process.arch;

beforeEach(() => {
  tmp = tempDir();
  store = ImageStore.open(join(tmp.dir, "store", "images"));
});
afterEach(() => tmp.cleanup());

async function rejection(p: Promise<unknown>): Promise<PalisadeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PalisadeError) return err;
    throw err;
  }
  throw new Error("expected a PalisadeError");
}

/** index.json bytes, blob names and staging dir: everything an import may change. */
function snapshot(s: ImageStore): { index: Buffer; blobs: string[]; tmp: string[] } {
  return {
    index: readFileSync(join(s.dir, "index.json")),
    blobs: readdirSync(join(s.dir, "blobs", "sha256")).sort(),
    tmp: readdirSync(join(s.dir, ".tmp")),
  };
}

/** A busybox rootfs layer made by GNU tar (≈2 MB, uncompressed). */
function busyboxLayerTar(): Buffer {
  const src = join(tmp.dir, "bbsrc");
  makeBusyboxRootfs(src);
  return execFileSync("tar", ["--sort=name", "--numeric-owner", "-C", src, "-cf", "-", "."], { maxBuffer: 64 << 20 });
}

/** A legacy `docker save` tarball built by hand (manifest.json + <id>/layer.tar + <hex>.json). */
function legacyTarball(layers: Buffer[], repoTags: string[], opts: { gzip?: boolean; badDiffId?: boolean } = {}): string {
  const d = join(tmp.dir, `legacy-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const diffIds = layers.map((l) => `sha256:${sha256Hex(l)}`);
  if (opts.badDiffId) diffIds[0] = `sha256:${"2".repeat(64)}`;
  const config = JSON.stringify({ architecture: ARCH, os: "linux", config: { Cmd: ["/bin/sh"], Env: ["A=1"] }, created: "2024-05-06T07:08:09Z", rootfs: { type: "layers", diff_ids: diffIds } });
  const configName = `${sha256Hex(config)}.json`;
  writeFileSync(join(d, configName), config);
  const layerPaths = layers.map((l, i) => {
    const id = sha256Hex(`layer${i}${sha256Hex(l)}`);
    mkdirSync(join(d, id));
    writeFileSync(join(d, id, "layer.tar"), l);
    writeFileSync(join(d, id, "VERSION"), "1.0");
    writeFileSync(join(d, id, "json"), JSON.stringify({ id }));
    return `${id}/layer.tar`;
  });
  writeFileSync(join(d, "manifest.json"), JSON.stringify([{ Config: configName, RepoTags: repoTags, Layers: layerPaths }]));
  writeFileSync(join(d, "repositories"), "{}");
  const out = `${d}.tar${opts.gzip ? ".gz" : ""}`;
  execFileSync("tar", ["-C", d, opts.gzip ? "-czf" : "-cf", out, "."]);
  return out;
}

describe("importing OCI image layouts", () => {
  it.skipIf(!haveBusybox())("imports a layout written by Palisade itself (another store)", async () => {
    const other = ImageStore.open(join(tmp.dir, "other", "images"));
    const built = await buildBusyboxImage(other, "busybox:test");
    const records = await store.importLayout(other.dir);
    expect(records).toEqual([built]);
    expect(store.resolve("busybox:test").digest).toBe(built.digest);
    const root = await store.rootfs("busybox:test");
    expect(execFileSync("chroot", [root, "/bin/echo", "ok"], { encoding: "utf8" })).toBe("ok\n");
  });

  it("imports a hand-written layout (explicit JSON, GNU tar layers), naming tag-only refs after the directory", async () => {
    const layout = join(tmp.dir, "myapp");
    mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
    const put = (data: Buffer | string) => {
      const hex = sha256Hex(data);
      writeFileSync(join(layout, "blobs", "sha256", hex), data);
      return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
    };
    const raw = gnuTarLayer({ etc: null, "etc/app.conf": "port=8080\n", "bin/run": "#!/bin/sh\necho run\n" });
    const layer = put(gzipSync(raw));
    const config = put(
      JSON.stringify({
        created: "2025-01-02T03:04:05Z",
        architecture: ARCH,
        os: "linux",
        config: { Entrypoint: ["/bin/run"], Env: ["PATH=/bin"], WorkingDir: "/srv", User: "1000" },
        rootfs: { type: "layers", diff_ids: [`sha256:${sha256Hex(raw)}`] },
      }),
    );
    const manifest = put(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    );
    writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(layout, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "1.0" } }] }),
    );
    const [rec] = await store.importLayout(layout);
    expect(rec).toEqual({ name: "myapp", tag: "1.0", digest: manifest.digest, size: manifest.size + config.size + layer.size, created: "2025-01-02T03:04:05Z", platform: `linux/${ARCH}` });
    expect(store.config("myapp:1.0")).toEqual({ entrypoint: ["/bin/run"], cmd: [], env: ["PATH=/bin"], workingDir: "/srv", user: "1000" });
    const root = await store.rootfs("myapp:1.0");
    expect(readFileSync(join(root, "etc", "app.conf"), "utf8")).toBe("port=8080\n");
    // --tag renames; the digest stays
    const [renamed] = await store.importLayout(layout, { tag: "registry.local:5000/edge/app:2" });
    expect(renamed).toMatchObject({ name: "registry.local:5000/edge/app", tag: "2", digest: manifest.digest });
    expect(store.resolve("registry.local:5000/edge/app:2").digest).toBe(manifest.digest);
  });

  it("picks this machine's platform from a multi-platform index, or the one asked for", async () => {
    const layout = join(tmp.dir, "multi");
    const amd = writeOciLayout(join(tmp.dir, "a"), [gnuTarLayer({ arch: "amd64" })], { architecture: "amd64" });
    const arm = writeOciLayout(join(tmp.dir, "b"), [gnuTarLayer({ arch: "arm64" })], { architecture: "arm64" });
    mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
    for (const d of ["a", "b"]) execFileSync("sh", ["-c", `cp ${join(tmp.dir, d, "blobs", "sha256")}/* ${join(layout, "blobs", "sha256")}/`]);
    const sizeOf = (d: string) => readFileSync(join(layout, "blobs", "sha256", d.slice(7))).length;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: amd.manifestDigest, size: sizeOf(amd.manifestDigest), platform: { os: "linux", architecture: "amd64" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: arm.manifestDigest, size: sizeOf(arm.manifestDigest), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: amd.configDigest, size: 1, platform: { os: "unknown", architecture: "unknown" } },
      ],
    });
    const indexHex = sha256Hex(index);
    writeFileSync(join(layout, "blobs", "sha256", indexHex), index);
    writeFileSync(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      join(layout, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: `sha256:${indexHex}`, size: index.length, annotations: { "io.containerd.image.name": "docker.io/library/multi:1" } }] }),
    );
    const [host] = await store.importLayout(layout);
    if (ARCH === "amd64") expect(host).toMatchObject({ name: "docker.io/library/multi", tag: "1", digest: amd.manifestDigest, platform: "linux/amd64" });
    const [other] = await store.importLayout(layout, { platform: "linux/arm64", tag: "multi:arm" });
    expect(other).toMatchObject({ digest: arm.manifestDigest, platform: "linux/arm64" });
    const e = await rejection(store.importLayout(layout, { platform: "linux/riscv64" }));
    expect(e.code).toBe("IMAGE_FORMAT");
    expect(e.message).toContain("has no image for linux/riscv64 (it has: linux/amd64, linux/arm64/v8)");
    expect(e.hint).toContain("--platform");
  });

  it("refuses a tampered source blob and leaves the store unchanged", async () => {
    const layout = join(tmp.dir, "tampered");
    const h = writeOciLayout(layout, [gnuTarLayer({ a: "1" })], { refName: "t:1" });
    const before = snapshot(store);
    const blob = join(layout, "blobs", "sha256", (h.layerDigests[0] as string).slice(7));
    const b = readFileSync(blob);
    b.writeUInt8(b.readUInt8(600) ^ 1, 600);
    writeFileSync(blob, b);
    const e = await rejection(store.importLayout(layout));
    expect(e.code).toBe("IMAGE_DIGEST");
    expect(e.message).toContain(`layer 1 ${h.layerDigests[0]}: content has digest sha256:`);
    expect(e.message).toContain(`in OCI layout ${layout}`);
    expect(snapshot(store)).toEqual(before);
  });

  it("explains what is wrong with a directory that is not a layout, and with unsupported content", async () => {
    const notLayout = join(tmp.dir, "plain");
    mkdirSync(notLayout);
    writeFileSync(join(notLayout, "manifest.json"), "[]");
    const e = await rejection(store.importLayout(notLayout));
    expect(e.code).toBe("IMAGE_FORMAT");
    expect(e.message).toContain("is not an OCI image layout");
    expect(e.hint).toContain("extracted `docker save`");
    const zstd = join(tmp.dir, "zstd");
    writeOciLayout(zstd, [gnuTarLayer({ a: "1" })], { refName: "z:1" });
    const idx = JSON.parse(readFileSync(join(zstd, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const mPath = join(zstd, "blobs", "sha256", (idx.manifests[0] as { digest: string }).digest.slice(7));
    const m = readFileSync(mPath, "utf8").replace("layer.v1.tar", "layer.v1.tar+zstd");
    const hex = sha256Hex(m);
    writeFileSync(join(zstd, "blobs", "sha256", hex), m);
    writeFileSync(join(zstd, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${hex}`, size: m.length }] }));
    expect((await rejection(store.importLayout(zstd))).message).toContain("zstd-compressed");
  });

  it("heals a corrupted blob in the store when the image is imported again", async () => {
    const layout = join(tmp.dir, "heal");
    const h = writeOciLayout(layout, [gnuTarLayer({ a: "1" })], { refName: "heal:1" });
    await store.importLayout(layout);
    const stored = join(store.dir, "blobs", "sha256", h.configDigest.slice(7));
    writeFileSync(stored, "garbage");
    expect(() => store.resolve("heal:1")).toThrow(/size is 7 bytes|content has digest/);
    await store.importLayout(layout);
    expect(store.resolve("heal:1").digest).toBe(h.manifestDigest);
  });
});

describe.skipIf(!haveBusybox())("importing docker save tarballs", () => {
  it("imports a legacy docker save tarball (manifest.json, <id>/layer.tar) and checks diff_ids", async () => {
    const layer = busyboxLayerTar();
    const file = legacyTarball([layer, gnuTarLayer({ "etc/motd": "hello\n" })], ["edge/busybox:1.36", "busybox:latest"]);
    const records = await store.importTarball(file);
    expect(records.map((r) => `${r.name}:${r.tag}`)).toEqual(["edge/busybox:1.36", "busybox:latest"]);
    expect(records[0]).toMatchObject({ created: "2024-05-06T07:08:09Z", platform: `linux/${ARCH}` });
    const details = store.inspect("busybox");
    expect(details.layers.map((l) => l.mediaType)).toEqual(["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar"]);
    expect(details.layers[0]?.digest).toBe(`sha256:${sha256Hex(layer)}`);
    expect(details.config.env).toEqual(["A=1"]);
    const root = await store.rootfs("busybox");
    expect(readFileSync(join(root, "etc", "motd"), "utf8")).toBe("hello\n");
    expect(execFileSync("chroot", [root, "/bin/sh", "-c", "cat /etc/motd"], { encoding: "utf8" })).toBe("hello\n");
    // importing again is idempotent: same manifest digest, nothing new
    const before = snapshot(store).blobs;
    expect((await store.importTarball(file)).map((r) => r.digest)).toEqual(records.map((r) => r.digest));
    expect(snapshot(store).blobs).toEqual(before);
    // gzipped tarballs work too
    const gz = legacyTarball([gnuTarLayer({ x: "1" })], ["gz:1"], { gzip: true });
    expect((await store.importTarball(gz))[0]).toMatchObject({ name: "gz", tag: "1" });
  });

  it("refuses a legacy tarball whose layer does not match the config's diff_id", async () => {
    const before = snapshot(store);
    const e = await rejection(store.importTarball(legacyTarball([gnuTarLayer({ a: "1" })], ["x:1"], { badDiffId: true })));
    expect(e.code).toBe("IMAGE_DIGEST");
    expect(e.message).toMatch(/layer ".*\/layer.tar" in tarball .*: content has digest sha256:[a-f0-9]{64}, but the config's diff_id is sha256:2222/);
    expect(snapshot(store)).toEqual(before);
  });

  it("imports an OCI-style docker save tarball (layout + manifest.json), keeping the manifest digest", async () => {
    const d = join(tmp.dir, "ocisave");
    const h = writeOciLayout(d, [gnuTarLayer({ "hello.txt": "hi\n" }, true)], {
      refName: "latest",
      extraAnnotations: { "io.containerd.image.name": "docker.io/library/hello:latest" },
    });
    writeFileSync(join(d, "manifest.json"), JSON.stringify([{ Config: `blobs/sha256/${h.configDigest.slice(7)}`, RepoTags: ["hello:latest"], Layers: h.layerDigests.map((l) => `blobs/sha256/${l.slice(7)}`) }]));
    const file = join(tmp.dir, "hello.tar");
    execFileSync("tar", ["-C", d, "-cf", file, "."]);
    const [rec] = await store.importTarball(file);
    expect(rec).toMatchObject({ name: "docker.io/library/hello", tag: "latest", digest: h.manifestDigest });
    expect(store.resolve("hello").digest).toBe(h.manifestDigest);
    expect(readFileSync(join(await store.rootfs("hello"), "hello.txt"), "utf8")).toBe("hi\n");
    // without names in index.json, the names come from manifest.json's RepoTags
    writeFileSync(join(d, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: h.manifestDigest, size: readFileSync(join(d, "blobs", "sha256", h.manifestDigest.slice(7))).length }] }));
    execFileSync("tar", ["-C", d, "-czf", `${file}.gz`, "."]);
    const [again] = await store.importTarball(`${file}.gz`, { tag: "hello:2" });
    expect(again).toMatchObject({ name: "hello", tag: "2", digest: h.manifestDigest });
    const [fromRepoTags] = await store.importTarball(`${file}.gz`);
    expect(fromRepoTags).toMatchObject({ name: "hello", tag: "latest" });
  });

  it("fails a truncated tarball with a precise IMAGE_FORMAT error and leaves the store byte-identical", async () => {
    await buildBusyboxImage(store, "existing:1");
    const full = readFileSync(legacyTarball([busyboxLayerTar()], ["bb:1"]));
    const before = snapshot(store);
    const cases: [string, Buffer, RegExp][] = [
      ["mid-member", full.subarray(0, Math.floor(full.length / 2) + 7), /is truncated: tar entry ".*" at byte \d+: needs \d+ more bytes but the input ended/],
      ["at a block boundary", full.subarray(0, Math.floor(full.length / 1024) * 512), /is truncated|needs \d+ more bytes/],
      ["without the end marker", full.subarray(0, lastMemberEnd(full)), /is truncated: the tar archive ends after member ".*" without the end-of-archive marker/],
      ["empty", Buffer.alloc(0), /is truncated: the tar archive ends after its start without the end-of-archive marker/],
      ["gzip cut short", gzipSync(full).subarray(0, 100_000), /is truncated or corrupt: its gzip stream fails \(unexpected end of file\)/],
      ["not a tarball", Buffer.from("hello, this is not a tar archive".repeat(40)), /is not a valid tar archive: not a tar archive \(bad header checksum at byte 0\)/],
    ];
    for (const [what, bytes, pattern] of cases) {
      const file = join(tmp.dir, `cut-${what.replace(/\W+/g, "-")}.tar`);
      writeFileSync(file, bytes);
      const e = await rejection(store.importTarball(file));
      expect(e.code, what).toBe("IMAGE_FORMAT");
      expect(e.message, what).toMatch(pattern);
      expect(e.hint, what).toContain("The image store was not changed");
      expect(snapshot(store), what).toEqual(before);
    }
    expect(store.list().map((r) => r.name)).toEqual(["existing"]);
  });

  it("refuses to name several images with one --tag", async () => {
    const d = join(tmp.dir, "two");
    const a = writeOciLayout(join(tmp.dir, "x1"), [gnuTarLayer({ a: "1" })]);
    const b = writeOciLayout(join(tmp.dir, "x2"), [gnuTarLayer({ b: "2" })]);
    mkdirSync(join(d, "blobs", "sha256"), { recursive: true });
    for (const x of ["x1", "x2"]) execFileSync("sh", ["-c", `cp ${join(tmp.dir, x, "blobs", "sha256")}/* ${join(d, "blobs", "sha256")}/`]);
    const desc = (m: string, ref: string) => ({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: m, size: readFileSync(join(d, "blobs", "sha256", m.slice(7))).length, annotations: { "org.opencontainers.image.ref.name": ref } });
    writeFileSync(join(d, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(d, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [desc(a.manifestDigest, "one:1"), desc(b.manifestDigest, "two:1")] }));
    const e = await rejection(store.importLayout(d, { tag: "both:1" }));
    expect(e.code).toBe("USAGE");
    expect(e.message).toContain("holds 2 images; --tag can name only one");
    expect((await store.importLayout(d)).map((r) => `${r.name}:${r.tag}`)).toEqual(["one:1", "two:1"]);
  });
});

/** Offset just after the last member's data (before the zero blocks), by walking the headers. */
function lastMemberEnd(tar: Buffer): number {
  let off = 0;
  let end = 0;
  while (off + 512 <= tar.length && !tar.subarray(off, off + 512).every((b) => b === 0)) {
    const size = parseInt(tar.toString("latin1", off + 124, off + 136).replace(/\0.*$/, "").trim() || "0", 8);
    off += 512 + Math.ceil(size / 512) * 512;
    end = off;
  }
  return end;
}
