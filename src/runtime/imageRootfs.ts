/**
 * The unpacked-rootfs cache beside the store: `<rootfsRoot>/<manifest hex>/`
 * is an image's root filesystem, `<rootfsRoot>/<manifest hex>.json` its
 * marker. A rootfs is unpacked into a temp directory, flushed to disk, renamed
 * into place, and only then marked; a directory without a valid marker (a
 * crash mid-way) is discarded and unpacked again. The marker records the
 * manifest and layer digests and the directory's inode and birth time, so a replaced
 * directory or a changed image is never mistaken for the cached one.
 */
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { digestHex } from "./ociDigest.js";
import { fsyncDir, writeFileAtomic } from "../core/atomicFile.js";
import type { OciLayout } from "./ociLayout.js";
import { unpackLayers, type LayerToUnpack } from "./imageUnpack.js";

const markerSchema = z.object({
  version: z.literal(1),
  manifest: z.string(),
  layers: z.array(z.string()),
  dev: z.number(),
  ino: z.number(),
  /** Birth time (statx btime; 0 where the filesystem has none): inode numbers are reused. */
  birth: z.number(),
  unpackedAt: z.string(),
});

function paths(rootfsRoot: string, manifest: string): { dir: string; marker: string } {
  const hex = digestHex(manifest);
  return { dir: join(rootfsRoot, hex), marker: join(rootfsRoot, `${hex}.json`) };
}

/** The cached rootfs directory if its marker matches this manifest and its layers, else undefined. */
export function cachedRootfs(rootfsRoot: string, manifest: string, layers: readonly string[]): string | undefined {
  const { dir, marker } = paths(rootfsRoot, manifest);
  try {
    const m = markerSchema.parse(JSON.parse(readFileSync(marker, "utf8")));
    const st = lstatSync(dir);
    const same = m.manifest === manifest && m.layers.length === layers.length && m.layers.every((l, i) => l === layers[i]);
    if (same && st.isDirectory() && st.dev === m.dev && st.ino === m.ino && st.birthtimeMs === m.birth) return dir;
  } catch {
    // no marker, unreadable or stale: unpack again
  }
  return undefined;
}

/** Flushes the filesystem holding `dir` (syncfs via coreutils; falls back to a global sync). */
function flush(dir: string): void {
  const r = spawnSync("sync", ["-f", dir], { stdio: "ignore" });
  if (r.status !== 0) spawnSync("sync", [], { stdio: "ignore" });
}

/** Unpacks (once) and returns the rootfs directory of `manifest`. */
export async function ensureRootfs(
  layout: OciLayout,
  rootfsRoot: string,
  manifest: string,
  layers: readonly LayerToUnpack[],
  progress?: (msg: string) => void,
): Promise<string> {
  const digests = layers.map((l) => l.digest);
  const hit = cachedRootfs(rootfsRoot, manifest, digests);
  if (hit) return hit;
  mkdirSync(rootfsRoot, { recursive: true, mode: 0o755 });
  const { dir, marker } = paths(rootfsRoot, manifest);
  const tmp = await mkdtemp(join(rootfsRoot, `.tmp-${digestHex(manifest).slice(0, 12)}-`));
  try {
    await unpackLayers(layout, layers, tmp, progress);
    flush(tmp);
    const again = cachedRootfs(rootfsRoot, manifest, digests);
    if (again) {
      await rm(tmp, { recursive: true, force: true }); // another process finished first
      return again;
    }
    rmSync(marker, { force: true });
    await rm(dir, { recursive: true, force: true }); // an unmarked (interrupted) unpack
    await rename(tmp, dir);
    fsyncDir(rootfsRoot);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const st = lstatSync(dir);
  const m: z.infer<typeof markerSchema> = { version: 1, manifest, layers: digests, dev: st.dev, ino: st.ino, birth: st.birthtimeMs, unpackedAt: new Date().toISOString() };
  writeFileAtomic(marker, JSON.stringify(m, null, 2) + "\n", { mode: 0o644 });
  return dir;
}

/**
 * Manifest hexes whose rootfs under `rootfsRoot` appears in a mount (an
 * overlay lowerdir, a bind mount): never pruned. Matched by full path, since
 * other stores on the host unpack the same image under the same hex.
 */
function mountedRootfs(rootfsRoot: string): Set<string> {
  let text = "";
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return new Set();
  }
  // mountinfo escapes space, tab, newline and backslash as octal (\040...).
  const escaped = rootfsRoot.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  const prefix = escaped.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`${prefix}/([a-f0-9]{64})(?=[/,:\\s]|$)`, "gm");
  return new Set([...text.matchAll(re)].map((m) => m[1] as string));
}

/**
 * Removes unpacked rootfs directories (and markers) whose manifest is not in
 * `keep` and that no mount uses (running workloads), and temp files and directories older than `tmpAgeMs`. Returns how many were removed.
 */
export function pruneRootfs(rootfsRoot: string, keep: ReadonlySet<string>, tmpAgeMs: number): number {
  let names: string[];
  try {
    names = readdirSync(rootfsRoot);
  } catch {
    return 0;
  }
  let removed = 0;
  const now = Date.now();
  const mounted = mountedRootfs(rootfsRoot);
  for (const name of names) {
    const p = join(rootfsRoot, name);
    if (name.startsWith(".")) {
      // temp directories of interrupted unpacks, temp files of interrupted marker writes
      try {
        if (now - lstatSync(p).mtimeMs > tmpAgeMs) {
          rmSync(p, { recursive: true, force: true });
          removed++;
        }
      } catch {
        // raced
      }
      continue;
    }
    const m = /^([a-f0-9]{64})(\.json)?$/.exec(name);
    if (!m || keep.has(`sha256:${m[1]}`) || mounted.has(m[1] as string)) continue;
    rmSync(p, { recursive: true, force: true });
    if (!m[2]) removed++;
  }
  return removed;
}
