/**
 * Where the native binaries are: built from source by `make -C src/native`
 * (scripts/setup.sh) into nativeBuildDir(), which PALISADE_NATIVE_DIR overrides.
 */
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { nativeBuildDir } from "../core/paths.js";

export const LAUNCHER_NAME = "palisade-launch";
export const PROBE_NAME = "palisade-probe";

/** The static launcher, bind-mounted read-only into containers at /.palisade/launch. */
export function launcherPath(): string {
  return join(nativeBuildDir(), LAUNCHER_NAME);
}

/** The kernel probe (prints JSON; see docs/probe.md). */
export function probePath(): string {
  return join(nativeBuildDir(), PROBE_NAME);
}

/** Returns `path` if it is an executable file, else throws PalisadeError NATIVE saying how to build it. */
export function requireBinary(path: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch (cause) {
    throw new PalisadeError("NATIVE", `native binary ${path} is missing or not executable`, {
      hint: "run: bash scripts/setup.sh",
      cause,
    });
  }
}
