/**
 * Verified bundle bytes on the device, content-addressed:
 * `<agent dir>/bundles/<hex digest>.json`, mode 0600, written atomically.
 * The cache is what lets a device restart its workloads after a reboot
 * while the hub is unreachable. Every read re-hashes the file, so a
 * corrupted or swapped file is never used (it is deleted and fetched again).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DIGEST_RE } from "../core/signing/bundleFormat.js";
import { writeFileAtomic } from "../core/atomicFile.js";

export class BundleCache {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  #path(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new TypeError(`not a bundle digest: ${digest}`);
    return join(this.dir, `${digest.slice("sha256:".length)}.json`);
  }

  /** Stores bytes that hash to `digest` (anything else is a bug in the caller). */
  put(digest: string, bytes: Uint8Array): void {
    if (hashOf(bytes) !== digest) throw new TypeError(`bundle bytes do not hash to ${digest}`);
    writeFileAtomic(this.#path(digest), bytes, { mode: 0o600 });
  }

  /** The cached bytes of `digest`, or undefined (missing, or corrupt and now removed). */
  get(digest: string): Buffer | undefined {
    const path = this.#path(digest);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      return undefined;
    }
    if (hashOf(bytes) !== digest) {
      rmSync(path, { force: true });
      return undefined;
    }
    return bytes;
  }

  /** Deletes every cached bundle not in `keep`. */
  prune(keep: ReadonlySet<string>): number {
    let removed = 0;
    for (const f of readdirSync(this.dir)) {
      const m = /^([0-9a-f]{64})\.json$/.exec(f);
      if (m && !keep.has(`sha256:${m[1]}`)) {
        rmSync(join(this.dir, f), { force: true });
        removed += 1;
      } else if (!m && f.includes(".tmp-")) rmSync(join(this.dir, f), { force: true });
    }
    return removed;
  }
}

function hashOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
