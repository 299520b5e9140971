import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = join(import.meta.dirname, "../..");

/** Runs a hot function in a fresh node after applyLeanV8Flags; returns whether V8 optimised it (TurboFan). */
function optimisedAfterLeanFlags(env: Record<string, string | undefined>): boolean {
  const script = `
    import { applyLeanV8Flags } from ${JSON.stringify(join(REPO, "src/agent/leanV8.ts"))};
    applyLeanV8Flags();
    function hot(x) { return x * 2 + 1; }
    let s = 0;
    for (let i = 0; i < 3e7; i++) s += hot(i);
    // %GetOptimizationStatus bit 4 (16): the function runs optimised code.
    process.stdout.write(String((%GetOptimizationStatus(hot) & 16) !== 0) + " " + s);
  `;
  const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return r.stdout.startsWith("true");
}

describe("lean V8 flags for the agent and its supervisors", () => {
  it("keep a hot function out of the optimising compiler; PALISADE_AGENT_V8_FLAGS= restores V8's defaults", () => {
    expect(optimisedAfterLeanFlags({ PALISADE_AGENT_V8_FLAGS: undefined })).toBe(false);
    expect(optimisedAfterLeanFlags({ PALISADE_AGENT_V8_FLAGS: "" })).toBe(true);
  });
});
