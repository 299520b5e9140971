import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimSlot, parseSlotOwner, releaseSlots, slotOwner, slotOwnerKey } from "../../src/runtime/slots.js";
import { listStates, readState, updateState, writeState, type WorkloadState } from "../../src/runtime/workloadState.js";

const previous = process.env.PALISADE_DATA_DIR;
const previousSlots = process.env.PALISADE_SLOTS_DIR;
const dir = mkdtempSync(join(tmpdir(), "palisade-slots-"));
beforeAll(() => {
  process.env.PALISADE_DATA_DIR = dir;
  process.env.PALISADE_SLOTS_DIR = join(dir, "slots");
});
afterAll(() => {
  if (previous === undefined) delete process.env.PALISADE_DATA_DIR;
  else process.env.PALISADE_DATA_DIR = previous;
  if (previousSlots === undefined) delete process.env.PALISADE_SLOTS_DIR;
  else process.env.PALISADE_SLOTS_DIR = previousSlots;
  rmSync(dir, { recursive: true, force: true });
});

describe("slots", () => {
  it("hands out the lowest free slot, once, and frees them by owner", () => {
    const alive = () => false;
    expect(claimSlot("net", "a", 4, alive)).toBe(0);
    expect(claimSlot("net", "b", 4, alive)).toBe(1);
    expect(claimSlot("net", "a", 4, alive)).toBe(0);
    expect(slotOwner("net", 1)).toBe("b");
    releaseSlots("net", "a");
    expect(claimSlot("net", "c", 4, alive)).toBe(0);
    expect(() => {
      claimSlot("net", "d", 2, alive);
    }).toThrow(/all 2 net slots are in use/);
  });

  it("reclaims a slot whose owner is gone", () => {
    expect(claimSlot("idmap", "dead", 2, () => false)).toBe(0);
    expect(claimSlot("idmap", "live", 2, (o) => o === "dead")).toBe(0);
    expect(slotOwner("idmap", 0)).toBe("live");
  });

  it("keys owners by data directory too, since slots are host-wide", () => {
    const key = slotOwnerKey("default.web");
    expect(key).toBe(`${dir}#default.web`);
    expect(parseSlotOwner(key)).toEqual({ dataDir: dir, id: "default.web" });
    // The same workload id from another data directory is another owner.
    expect(claimSlot("net", key, 8, () => false)).not.toBe(claimSlot("net", "/other/data#default.web", 8, () => false));
  });
});

describe("workload state files", () => {
  const state = (id: string): WorkloadState =>
    ({
      version: 1,
      id,
      name: id,
      namespace: "default",
      container: "main",
      image: "x@sha256:00",
      status: "created",
      createdAt: "2026-01-01T00:00:00.000Z",
      bundle: join(dir, "workloads", id),
      confinement: {} as WorkloadState["confinement"],
    }) as WorkloadState;

  it("writes atomically, reads back, updates, and lists", () => {
    const root = join(dir, "states");
    for (const id of ["b", "a"]) {
      const p = join(root, id, "state.json");
      mkdirSync(join(root, id), { recursive: true });
      writeState(p, state(id));
    }
    const next = updateState(join(root, "a", "state.json"), { status: "exited", exitCode: 2 });
    expect(next).toMatchObject({ id: "a", status: "exited", exitCode: 2 });
    expect(JSON.parse(readFileSync(join(root, "a", "state.json"), "utf8"))).toMatchObject({ status: "exited" });
    expect(listStates(root).map((s) => s.id)).toEqual(["a", "b"]);
    expect(readState(join(root, "none", "state.json"))).toBeUndefined();
  });
});
