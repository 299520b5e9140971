/** Where Palisade keeps its state. One data directory; override with PALISADE_DATA_DIR. */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Host-wide resources (cgroups, network namespaces, veth names, subnets,
 * user-namespace id ranges) are shared by every Palisade data directory on
 * the machine: two agents, or a test and the demo, must never collide.
 * Slots for them live here, outside any data directory (tmpfs: they name
 * kernel objects that a reboot removes anyway).
 */
export function slotsRoot(): string {
  return resolve(process.env.PALISADE_SLOTS_DIR ?? "/run/palisade/slots");
}

/** A short, stable tag for this data directory, used in host-wide names such as cgroup paths. */
export function dataDirScope(): string {
  return createHash("sha256").update(dataDir()).digest("hex").slice(0, 8);
}

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
