/** Where Palisade keeps its state. One data directory; override with PALISADE_DATA_DIR. */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export function dataDir(): string {
  return resolve(process.env.PALISADE_DATA_DIR ?? "/var/lib/palisade");
}

/** The repository root (where package.json is), for locating built native binaries. */
export function repoRoot(): string {
  // src/core/ and dist/core/ are both two levels below the root.
  return resolve(fileURLToPath(new URL("../..", import.meta.url)));
}

export function nativeBuildDir(): string {
  return process.env.PALISADE_NATIVE_DIR ?? join(repoRoot(), "build", "native");
}
