/**
 * `build(dir)`: a minimal single-layer image from a directory, reproducibly.
 * Entries are written in byte order of their names, with uid/gid 0, empty
 * owner names, mtime 0 and the permission bits found on disk; the config has
 * no creation time. The same directory therefore always gives the same layer,
 * config and manifest digests (gzip output is stable for a given zlib; use
 * `compression: "none"` for digests that are stable across Node versions).
 */
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { createGzip } from "node:zlib";
import { PalisadeError } from "../core/errors.js";
import { HashTap, sha256, throughTransform } from "./ociDigest.js";
import { stageStream, type StagedFile } from "./ociFiles.js";
import { tarEnd, tarHeader, tarPadding } from "./ociTarWriter.js";
import { hostPlatform, MEDIA } from "./ociTypes.js";
import { stageBytes } from "./imageImport.js";
import { formatBytes } from "./imageUnpack.js";

export interface BuildOptions {
  /** name[:tag] (default tag "latest"). */
  readonly tag: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** KEY=value entries; PATH defaults to the usual Linux search path when not given. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  /** Layer compression (default gzip). */
  readonly compression?: "gzip" | "none";
  readonly progress?: (msg: string) => void;
}

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A file's content, checked against the size its header announced. */
async function* fileContent(abs: string, size: number): AsyncGenerator<Buffer> {
  let n = 0;
  if (size <= 1 << 20) {
    const data = readFileSync(abs);
    n = data.length;
    if (n === size) yield data;
  } else {
    for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > size) break;
      yield chunk;
    }
  }
  if (n !== size) {
    throw new PalisadeError("IO", `${abs} changed size while the image was being built (${size} → ${n} bytes)`, { hint: "build from a directory nothing else is writing to" });
  }
}

/**
 * The directory as one deterministic tar stream. Metadata calls are
 * synchronous (much faster than the promise API for many small files).
 */
async function* tarOfDir(root: string, counts: { files: number; bytes: number }): AsyncGenerator<Buffer> {
  const firstPath = new Map<string, string>(); // dev:ino → path, for hardlinks
  async function* visit(rel: string): AsyncGenerator<Buffer> {
    const names = readdirSync(join(root, rel)).sort(byBytes);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const st = lstatSync(abs);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        yield tarHeader({ path, type: "dir", mode });
        yield* visit(path);
      } else if (st.isSymbolicLink()) {
        yield tarHeader({ path, type: "symlink", mode: 0o777, linkpath: readlinkSync(abs) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? firstPath.get(key) : undefined;
        if (first !== undefined) {
          yield tarHeader({ path, type: "hardlink", mode, linkpath: first });
          continue;
        }
        if (st.nlink > 1) firstPath.set(key, path);
        yield tarHeader({ path, type: "file", mode, size: st.size });
        yield* fileContent(abs, st.size);
        yield tarPadding(st.size);
        counts.files++;
        counts.bytes += st.size;
      } else {
        const kind = st.isCharacterDevice() || st.isBlockDevice() ? "a device node" : st.isFIFO() ? "a FIFO" : "a socket";
        throw new PalisadeError("IMAGE_FORMAT", `${abs} is ${kind}; images cannot contain it`, {
          hint: "remove it from the build directory (the runtime provides /dev inside the container)",
        });
      }
    }
  }
  yield* visit("");
  yield tarEnd();
}

export interface BuiltImage {
  readonly staged: readonly { file: StagedFile; digest: string }[];
  readonly manifestDigest: string;
  readonly manifestSize: number;
  readonly totalSize: number;
  readonly platform: { os: string; architecture: string; variant?: string };
}

/** Stages the layer, config and manifest of an image built from `dir` (nothing committed). */
export async function buildImage(dir: string, tmpDir: string, opts: BuildOptions): Promise<BuiltImage> {
  const st = await lstat(dir).catch((err: unknown) => {
    throw new PalisadeError("IO", `cannot build from ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`, { hint: "pass an existing directory", cause: err });
  });
  if (!st.isDirectory()) throw new PalisadeError("USAGE", `cannot build from ${dir}: it is not a directory`);
  const staged: { file: StagedFile; digest: string }[] = [];
  try {
    opts.progress?.(`packing ${dir}`);
    const counts = { files: 0, bytes: 0 };
    const diff = new HashTap();
    const tar = diff.tap(tarOfDir(dir, counts));
    const gzip = (opts.compression ?? "gzip") === "gzip";
    const layerFile = await stageStream(tmpDir, gzip ? throughTransform(tar, createGzip({ level: 6 })) : tar);
    staged.push({ file: layerFile, digest: layerFile.digest });
    opts.progress?.(`layer ${layerFile.digest.slice(7, 19)}: ${counts.files} files, ${formatBytes(counts.bytes)} → ${formatBytes(layerFile.size)}`);

    const platform = hostPlatform();
    const env = [...(opts.env ?? [])];
    if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH);
    const imageConfig: Record<string, unknown> = { Env: env };
    if (opts.entrypoint?.length) imageConfig.Entrypoint = [...opts.entrypoint];
    if (opts.cmd?.length) imageConfig.Cmd = [...opts.cmd];
    if (opts.workingDir) imageConfig.WorkingDir = opts.workingDir;
    if (opts.user) imageConfig.User = opts.user;
    const config = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: imageConfig,
      rootfs: { type: "layers", diff_ids: [diff.digest()] },
      history: [{ created_by: "palisade image build", comment: "single layer from a directory" }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configFile = await stageBytes(tmpDir, configBytes);
    staged.push({ file: configFile, digest: configFile.digest });

    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: configFile.digest, size: configBytes.length },
      layers: [{ mediaType: gzip ? MEDIA.layerGzip : MEDIA.layerTar, digest: layerFile.digest, size: layerFile.size }],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestFile = await stageBytes(tmpDir, manifestBytes);
    staged.push({ file: manifestFile, digest: manifestFile.digest });
    return {
      staged,
      manifestDigest: sha256(manifestBytes),
      manifestSize: manifestBytes.length,
      totalSize: manifestBytes.length + configBytes.length + layerFile.size,
      platform,
    };
  } catch (err) {
    for (const s of staged) rmSync(s.file.path, { force: true });
    throw err;
  }
}
