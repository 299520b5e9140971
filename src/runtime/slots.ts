/**
 * Small numbered resources shared by concurrently starting workloads: user
 * namespace id ranges and /30 subnets. A slot is claimed by creating its
 * directory (mkdir is atomic, so two `palisade run`s never get the same
 * one) and records its owner, so a slot left behind by a crashed run can be
 * reclaimed once its owner is known to be gone.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { dataDir, slotsRoot } from "../core/paths.js";

export type SlotKind = "idmap" | "net";

function slotDir(kind: SlotKind): string {
  return join(slotsRoot(), kind);
}

/**
 * A slot owner names its data directory as well as the workload id, because
 * slots are host-wide (see slotsRoot) and ids repeat across data directories.
 */
export function slotOwnerKey(id: string): string {
  return `${dataDir()}#${id}`;
}

export function parseSlotOwner(owner: string): { dataDir: string; id: string } {
  const i = owner.lastIndexOf("#");
  return { dataDir: owner.slice(0, i), id: owner.slice(i + 1) };
}

/**
 * Claims the lowest free slot below `max` for `owner`. A taken slot whose
 * owner `isGone` is reclaimed. Throws RUNTIME when all are taken.
 */
export function claimSlot(kind: SlotKind, owner: string, max: number, isGone: (owner: string) => boolean): number {
  const dir = slotDir(kind);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let n = 0; n < max; n++) {
    const p = join(dir, String(n));
    if (!tryMkdir(p)) {
      const current = slotOwner(kind, n);
      if (current === owner) return n;
      if (current === undefined || !isGone(current)) continue;
      // Reclaim: renaming the stale slot away is atomic, so only one claimant wins it.
      const tomb = `${p}.stale-${process.pid}-${Date.now()}`;
      try {
        renameSync(p, tomb);
      } catch {
        continue;
      }
      rmSync(tomb, { recursive: true, force: true });
      if (!tryMkdir(p)) continue;
    }
    writeFileSync(join(p, "owner"), owner);
    return n;
  }
  throw new PalisadeError("RUNTIME", `all ${max} ${kind} slots are in use`, { hint: "stop workloads you no longer need (palisade ps, palisade stop NAME)" });
}

function tryMkdir(p: string): boolean {
  try {
    mkdirSync(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return false;
  }
}

export function slotOwner(kind: SlotKind, n: number): string | undefined {
  try {
    return readFileSync(join(slotDir(kind), String(n), "owner"), "utf8");
  } catch {
    return undefined;
  }
}

/** Frees every slot of `kind` that `owner` holds. */
export function releaseSlots(kind: SlotKind, owner: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(slotDir(kind));
  } catch {
    return;
  }
  for (const n of names) if (slotOwner(kind, Number(n)) === owner) rmSync(join(slotDir(kind), n), { recursive: true, force: true });
}
