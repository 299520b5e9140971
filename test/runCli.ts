/**
 * Runs the `palisade` CLI in-process (its real `main`, the one place errors
 * are rendered) and captures what it writes, for tests of the verbs.
 * `captureOutput` is the capture alone, for tests that drive a bare
 * commander program and want the thrown error itself.
 */
import { vi } from "vitest";
import { main } from "../src/cli/main.js";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export interface Captured {
  readonly out: string;
  readonly err: string;
  readonly error?: unknown;
}

export async function captureOutput(fn: () => Promise<unknown>): Promise<Captured> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  try {
    await fn();
    return { out, err };
  } catch (error) {
    return { out, err, error };
  } finally {
    o.mockRestore();
    e.mockRestore();
    // A verb may set process.exitCode; it must not leak into the next test (or vitest's own exit).
    process.exitCode = undefined;
  }
}

export async function runCli(args: readonly string[]): Promise<CliResult> {
  let code = 0;
  const r = await captureOutput(async () => {
    code = await main([...args]);
  });
  if (r.error !== undefined) throw r.error;
  return { code, out: r.out, err: r.err };
}
