/**
 * Builds the static helpers the conformance suite and the benchmarks put
 * into their image: test/conformance/attack.c and bench/native/*.c, with
 * `gcc -static` into build/conformance/. Static, so they run in the busybox
 * rootfs without a loader and need no library rule in a Landlock allow-list.
 * Rebuilt when the source is newer; renamed into place so a concurrent
 * reader never sees half a binary.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../../src/core/paths.js";

export const CONFORMANCE_BUILD = join(repoRoot(), "build", "conformance");

export const HELPER_SOURCES = {
  attack: join(repoRoot(), "test", "conformance", "attack.c"),
  openbench: join(repoRoot(), "bench", "native", "openbench.c"),
  stamp: join(repoRoot(), "bench", "native", "stamp.c"),
} as const;
export type HelperName = keyof typeof HELPER_SOURCES;

/** Path of the built helper, compiling it first when needed. Throws with gcc's output on failure. */
export function buildHelper(name: HelperName): string {
  const src = HELPER_SOURCES[name];
  const out = join(CONFORMANCE_BUILD, name);
  mkdirSync(CONFORMANCE_BUILD, { recursive: true, mode: 0o755 });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const tmp = `${out}.${process.pid}`;
    try {
      execFileSync("gcc", ["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", tmp, src], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(`gcc -static ${src} failed (needs gcc and libc6-dev's static libc):\n${stderr}`);
    }
    renameSync(tmp, out);
  }
  return out;
}

export function buildAllHelpers(): Record<HelperName, string> {
  return { attack: buildHelper("attack"), openbench: buildHelper("openbench"), stamp: buildHelper("stamp") };
}
