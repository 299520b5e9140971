import { describe, expect, it } from "vitest";
import { asPalisadeError, PalisadeError, renderError } from "../../src/core/errors.js";
import { readFileSync } from "node:fs";
import { PALISADE_VERSION } from "../../src/core/version.js";

describe("PalisadeError", () => {
  it("renders file:line:column, code, field path and hint", () => {
    const e = new PalisadeError("POLICY_SCHEMA", 'unknown field "paht"', {
      hint: 'did you mean "path"?',
      where: { file: "p.yaml", line: 12, column: 7, path: "spec.file.matchPaths[0].paht" },
    });
    expect(renderError(e)).toBe(
      'p.yaml:12:7: error POLICY_SCHEMA at spec.file.matchPaths[0].paht: unknown field "paht"\n  hint: did you mean "path"?',
    );
  });

  it("turns a Node system error into an IO error with a hint, not a stack trace", () => {
    let caught: unknown;
    try {
      readFileSync("/nonexistent/palisade-test");
    } catch (err) {
      caught = err;
    }
    const e = asPalisadeError(caught);
    expect(e.code).toBe("IO");
    expect(e.message).toBe("open /nonexistent/palisade-test failed: ENOENT");
    expect(e.hint).toBe("check the path exists");
  });

  it("marks anything else as an internal bug", () => {
    const e = asPalisadeError(new TypeError("x is undefined"));
    expect(e.code).toBe("INTERNAL");
    expect(e.hint).toMatch(/bug in Palisade/);
  });

  it("fromJSON reads back what toJSON wrote (another process's error), and refuses what is not one", () => {
    const e = new PalisadeError("POLICY_SCHEMA", "bad", { hint: "fix it", where: { file: "p.yaml", line: 3, column: 5 }, details: { field: "spec" } });
    const back = PalisadeError.fromJSON(JSON.parse(JSON.stringify(e.toJSON())));
    expect(back).toBeInstanceOf(PalisadeError);
    expect(back!.toJSON()).toEqual(e.toJSON());
    expect(PalisadeError.fromJSON({ code: "NO_SUCH_CODE", message: "x" })).toBeUndefined();
    expect(PalisadeError.fromJSON({ code: "IO" })).toBeUndefined();
    expect(PalisadeError.fromJSON("IO")).toBeUndefined();
    expect(PalisadeError.fromJSON(null)).toBeUndefined();
  });

  it("keeps the version in step with package.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(PALISADE_VERSION).toBe(pkg.version);
  });
});
