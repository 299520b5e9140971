/**
 * The one image both the conformance suite and the benchmarks run: the
 * busybox test rootfs (test/fixtures/images.ts) plus the static helpers and
 * a little content. Confined and bare runs use the same image digest and the
 * same unpacked rootfs, so a difference in result or speed is the
 * confinement's, not the image's.
 *
 *   /usr/bin/attack          the conformance helper (attack.c)
 *   /usr/local/bin/victim    a copy of attack: its own inode, so a Block on it
 *                            (rootfs complement) does not also block attack
 *   /usr/bin/openbench, /usr/bin/stamp   benchmark helpers (bench/native)
 *   /srv/www/index.html      the file httpd serves and openbench opens
 *   /etc/app/config          a file an allow-list grants
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ImageStore } from "../../../src/runtime/imageStore.js";
import { makeBusyboxRootfs } from "../../fixtures/images.js";
import { buildAllHelpers } from "./native.js";

export const IMAGE_TAG = "palisade-conformance:test";
export const ATTACK = "/usr/bin/attack";
export const VICTIM = "/usr/local/bin/victim";
export const OPENBENCH = "/usr/bin/openbench";
export const STAMP = "/usr/bin/stamp";
export const WWW_FILE = "/srv/www/index.html";
/** About the size of a small status page. */
export const WWW_CONTENT = `<!doctype html><title>palisade</title><p>${"edge device status ok. ".repeat(24)}</p>\n`;

export interface ConformanceImage {
  /** name@digest, as a Workload's image field wants it. */
  readonly ref: string;
  readonly digest: string;
  /** The image store's unpacked, shared rootfs (never written). */
  readonly rootfs: string;
}

export async function buildConformanceImage(store: ImageStore): Promise<ConformanceImage> {
  const bins = buildAllHelpers();
  const dir = mkdtempSync(join(tmpdir(), "palisade-conf-rootfs-"));
  try {
    makeBusyboxRootfs(dir);
    const put = (src: string, dest: string, mode: number) => {
      mkdirSync(join(dir, dest, ".."), { recursive: true, mode: 0o755 });
      copyFileSync(src, join(dir, dest));
      chmodSync(join(dir, dest), mode);
    };
    put(bins.attack, ATTACK, 0o755);
    put(bins.attack, VICTIM, 0o755);
    put(bins.openbench, OPENBENCH, 0o755);
    put(bins.stamp, STAMP, 0o755);
    mkdirSync(join(dir, "srv", "www"), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, WWW_FILE), WWW_CONTENT, { mode: 0o644 });
    mkdirSync(join(dir, "etc", "app"), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, "etc", "app", "config"), "mode=edge\n", { mode: 0o644 });
    const rec = await store.build(dir, { tag: IMAGE_TAG, cmd: ["/bin/sh"] });
    const ref = `palisade-conformance@${rec.digest}`;
    return { ref, digest: rec.digest, rootfs: await store.rootfs(ref) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
