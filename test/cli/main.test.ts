import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../runCli.js";

const run = runCli;

afterEach(() => {
  process.exitCode = undefined;
});

describe("palisade CLI", () => {
  it("prints its version, as text and JSON", async () => {
    const text = await run(["version"]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^palisade \d+\.\d+\.\d+ \(node 20\./);
    const json = await run(["version", "--json"]);
    expect(JSON.parse(json.out)).toMatchObject({ palisade: expect.any(String), platform: `${process.platform}/${process.arch}` });
  });

  it("rejects an unknown verb with usage exit code 2 and a suggestion", async () => {
    const r = await run(["verison"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command 'verison'");
    expect(r.err).toContain("version");
  });

  it("shows help for every verb without failing", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: palisade");
  });
});
