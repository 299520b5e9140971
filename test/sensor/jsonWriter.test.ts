/**
 * The sensor's JSON-lines writer (src/native/sensor/json.c), driven through
 * test/sensor/fixtures/jsonDriver.c: every line it writes is valid JSON, and
 * strings follow the documented rules exactly (json.h): valid UTF-8 copied,
 * `"` and `\` escaped, control characters and DEL as \u00xx, every byte of an
 * invalid sequence as U+FFFD. The model below is those rules written again.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../src/core/paths.js";

const DRIVER = join(repoRoot(), "build/test/json-driver");

beforeAll(() => {
  mkdirSync(join(repoRoot(), "build/test"), { recursive: true });
  execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", DRIVER, join(repoRoot(), "test/sensor/fixtures/jsonDriver.c"), join(repoRoot(), "src/native/sensor/json.c")]);
});

function run(commands: string[]): string[] {
  const r = spawnSync(DRIVER, { input: `${commands.join("\n")}\n`, maxBuffer: 1 << 28 });
  expect(r.status).toBe(0);
  return r.stdout.toString("latin1").split("\n").slice(0, -1);
}

function utf8Len(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let len: number;
  let cp: number;
  if ((c & 0xe0) === 0xc0) [len, cp] = [2, c & 0x1f];
  else if ((c & 0xf0) === 0xe0) [len, cp] = [3, c & 0x0f];
  else if ((c & 0xf8) === 0xf0) [len, cp] = [4, c & 0x07];
  else return 0;
  if (i + len > b.length) return 0;
  for (let k = 1; k < len; k++) {
    if ((b[i + k]! & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b[i + k]! & 0x3f);
  }
  if ((len === 2 && cp < 0x80) || (len === 3 && cp < 0x800) || (len === 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return len;
}

/** The documented escaping of `bytes` (no NUL: the writer stops at one), as the bytes of a JSON string literal. */
function model(bytes: Uint8Array): Buffer {
  const out: Buffer[] = [Buffer.from('"')];
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i]!;
    if (c === 0x22 || c === 0x5c) out.push(Buffer.from(`\\${String.fromCharCode(c)}`));
    else if (c < 0x20 || c === 0x7f) out.push(Buffer.from(`\\u00${c.toString(16).padStart(2, "0")}`));
    else {
      const l = utf8Len(bytes, i);
      if (l === 0) out.push(Buffer.from("\\ufffd"));
      else {
        out.push(Buffer.from(bytes.subarray(i, i + l)));
        i += l;
        continue;
      }
    }
    i++;
  }
  out.push(Buffer.from('"'));
  return Buffer.concat(out);
}

const noNul = fc.uint8Array({ maxLength: 80 }).map((a) => a.map((b) => (b === 0 ? 0x41 : b)));
const utf8 = fc.string({ unit: "binary", maxLength: 30 }).map((s) => new Uint8Array(Buffer.from(s.replaceAll("\0", "x"), "utf8")));

describe("the sensor's JSON writer", () => {
  it("escapes any bytes exactly as documented, and every line parses", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(noNul, utf8), { minLength: 1, maxLength: 50 }), (inputs) => {
        const lines = run(inputs.map((b) => `s ${Buffer.from(b).toString("hex")}`));
        inputs.forEach((b, i) => {
          const line = Buffer.from(lines[i]!, "latin1");
          expect(line.equals(Buffer.concat([Buffer.from('{"type":"t","v":'), model(b), Buffer.from("}")]))).toBe(true);
          expect(() => JSON.parse(line.toString("utf8"))).not.toThrow();
        });
      }),
      { numRuns: 200 },
    );
  });

  it("writes integers, u64 strings and RFC 3339 nanosecond times like the reference formatting", () => {
    const ints = ["0", "-1", "7", "-9223372036854775808", "9223372036854775807", "-1234567890123"];
    const uints = ["0", "18446744073709551615", "42"];
    const times = [0n, 1_795_428_890_351_376_170n, 4_102_444_799_999_999_999n, 1_000_000_001n];
    const lines = run([...ints.map((v) => `i ${v}`), ...uints.map((v) => `u ${v}`), ...uints.map((v) => `q ${v}`), ...times.map((t) => `t ${t}`)]);
    const want = [
      ...ints.map((v) => `{"type":"t","v":${v}}`),
      ...uints.map((v) => `{"type":"t","v":${v}}`),
      ...uints.map((v) => `{"type":"t","v":"${v}"}`),
      ...times.map((t) => `{"type":"t","v":"${new Date(Number(t / 1_000_000_000n) * 1000).toISOString().slice(0, 19)}.${(t % 1_000_000_000n).toString().padStart(9, "0")}Z"}`),
    ];
    expect(lines).toEqual(want);
  });
});
