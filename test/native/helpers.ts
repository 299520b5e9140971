/**
 * Shared by the native tests: builds src/native (incremental make) once per
 * test file, compiles the static `attempt` helper, and runs the launcher.
 * Building happens at import time because kernelIt() evaluates requirements
 * (e.g. the Landlock ABI, asked of the built launcher) while tests are collected.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Requirement } from "../kernelTest.js";
import { nativeBuildDir, repoRoot } from "../../src/core/paths.js";

export const NATIVE_SRC = join(repoRoot(), "src", "native");
export const BUILD = nativeBuildDir();
export const LAUNCHER = join(BUILD, "palisade-launch");
export const PROBE = join(BUILD, "palisade-probe");
export const NOBODY = 65534;

/** Runs make; a build failure fails the importing test file (the compiler output is in the error). */
export function buildNative(): void {
  execFileSync("make", ["-s", "-C", NATIVE_SRC, `OUT=${BUILD}`], { stdio: ["ignore", "pipe", "pipe"] });
}
buildNative();

/** A fresh temp dir, world-traversable so tests that run as nobody can reach into it. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `palisade-${prefix}-`));
  chmodSync(d, 0o755);
  return d;
}

let attemptBin: string | undefined;
/**
 * The static `attempt` helper (test/native/fixtures/attempt.c), compiled into
 * build/native/test-helpers when its source is newer. It lives outside every
 * path the launcher tests allow, so those tests grant it by a file rule.
 */
export function attemptPath(): string {
  if (attemptBin) return attemptBin;
  const src = fileURLToPath(new URL("./fixtures/attempt.c", import.meta.url));
  const dir = join(BUILD, "test-helpers");
  const out = join(dir, "attempt");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const tmp = `${out}.${process.pid}`;
    execFileSync("gcc", ["-static", "-O1", "-Wall", "-Wextra", "-Werror", "-o", tmp, src], { stdio: ["ignore", "pipe", "pipe"] });
    renameSync(tmp, out); // atomic: a concurrent test file never sees half a binary
  }
  attemptBin = out;
  return out;
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the launcher (or any command) to completion without blocking the event loop (tests serve TCP meanwhile). */
export function runAsync(cmd: string, args: readonly string[], opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export function runSync(cmd: string, args: readonly string[], opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes `text` as a config file in `dir` and returns its path. */
export function writeConfig(dir: string, text: string, name = "launch.conf"): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o644);
  return path;
}

/** The kernel's Landlock ABI, as the built launcher reports it. */
export function kernelAbi(): number {
  return Number(execFileSync(LAUNCHER, ["--abi"], { encoding: "utf8" }).trim());
}

export function landlockAbi(min: number): Requirement {
  return {
    feature: `Landlock ABI ≥ ${min}`,
    check: () => {
      const abi = kernelAbi();
      return abi >= min ? null : `kernel reports Landlock ABI ${abi}`;
    },
  };
}

export function command(name: string, ...candidates: string[]): Requirement {
  return {
    feature: `${name} installed`,
    check: () => {
      const found = [name, ...candidates].some((c) => (c.startsWith("/") ? existsSync(c) : spawnSync("sh", ["-c", `command -v ${c}`]).status === 0));
      return found ? null : `${name} not found (apt-get install ${name})`;
    },
  };
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** "op arg: RESULT" lines of the attempt helper → { "op arg": "RESULT" }. */
export function results(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trim().split("\n")) {
    const i = line.lastIndexOf(": ");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
  }
  return out;
}
