/**
 * src/native/Makefile: builds both binaries from source into $(OUT),
 * statically linked (no loader: the launcher runs in any image), with
 * warnings as errors, incrementally; nothing prebuilt is in the tree.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, NATIVE_SRC, tempDir } from "./helpers.js";

const out = tempDir("build");
afterAll(() => cleanup(out));

function make(...args: string[]) {
  return spawnSync("make", ["-C", NATIVE_SRC, `OUT=${out}`, ...args], { encoding: "utf8" });
}

/** ELF64 program header types of a file (PT_INTERP = 3 means "needs a dynamic loader"). */
function programHeaderTypes(file: string): number[] {
  const b = readFileSync(file);
  expect(b.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  const phoff = Number(b.readBigUInt64LE(0x20));
  const size = b.readUInt16LE(0x36);
  const count = b.readUInt16LE(0x38);
  return Array.from({ length: count }, (_, i) => b.readUInt32LE(phoff + i * size));
}

describe("src/native/Makefile", () => {
  it("builds palisade-launch and palisade-probe into OUT, statically linked", () => {
    const r = make("-s");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const bin of ["palisade-launch", "palisade-probe"]) {
      const types = programHeaderTypes(join(out, bin));
      expect(types, `${bin} must not need a dynamic loader`).not.toContain(3);
    }
  }, 120_000);

  it("is incremental: up to date after a build, and a header change rebuilds only its users", () => {
    expect(make("-q").status).toBe(0);
    const dry = make("-n", "-W", "json.h").stdout;
    expect(dry).toContain("json.c");
    expect(dry).toContain("probe.c");
    expect(dry).not.toContain("launcher.c");
    expect(dry).not.toContain("launchconf.c");
  });

  it("compiles with -Wall -Wextra -Werror", () => {
    const dry = make("-n", "-B").stdout;
    const compiles = dry.split("\n").filter((l) => / -c /.test(l));
    // 5 objects of our own, plus the sensor's (built by a sub-make).
    expect(compiles.length).toBeGreaterThanOrEqual(5);
    for (const obj of ["launcher.o", "launchconf.o", "probe.o", "probe_bpf.o", "json.o"]) expect(dry).toContain(obj);
    for (const l of compiles) expect(l).toMatch(/-Wall -Wextra -Werror/);
  });

  it("keeps no prebuilt binaries in the source tree", () => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    for (const f of walk(NATIVE_SRC)) expect(readFileSync(f).subarray(0, 4).toString("latin1"), f).not.toBe("\x7fELF");
  });

  it("keeps each C file under 500 lines", () => {
    for (const f of readdirSync(NATIVE_SRC).filter((n) => /\.[ch]$/.test(n))) {
      expect(readFileSync(join(NATIVE_SRC, f), "utf8").split("\n").length, f).toBeLessThan(500);
    }
  });
});
