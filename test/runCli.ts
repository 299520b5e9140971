/**
 * Runs the `palisade` CLI in-process (its real `main`, the one place errors
 * are rendered) and captures what it writes, for tests of the verbs.
 */
import { vi } from "vitest";
import { main } from "../src/cli/main.js";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(args: readonly string[]): Promise<CliResult> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await main([...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    // A verb may set process.exitCode; it must not leak into the next test (or vitest's own exit).
    process.exitCode = undefined;
  }
}
