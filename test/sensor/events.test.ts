import { describe, expect, it } from "vitest";
import { isDenied, parseSensorLine } from "../../src/sensor/events.js";
import * as L from "./fixtures/lines.js";

describe("parseSensorLine", () => {
  it("accepts every event type the binaries print", () => {
    for (const [name, line] of Object.entries(L)) {
      const p = parseSensorLine(line);
      expect(p.kind, `${name}: ${p.kind === "invalid" ? p.reason : ""}`).not.toBe("invalid");
    }
    const file = parseSensorLine(L.FILE);
    expect(file).toMatchObject({ kind: "event", event: { type: "file", path: "/etc/hostname", flags: 524288, cgroupId: "82" } });
    expect(parseSensorLine(L.STATS)).toMatchObject({ kind: "control", line: { type: "stats", received: 34, dropped: 0 } });
    expect(parseSensorLine(L.READY)).toMatchObject({ kind: "control", line: { type: "ready", source: "bpf" } });
  });

  it("never throws on bad input; says why", () => {
    const bad: [string, RegExp][] = [
      ["", /not JSON/],
      ["{", /not JSON/],
      ["[1,2]", /not a JSON object/],
      ["null", /not a JSON object/],
      ['{"source":"bpf"}', /no type/],
      ['{"type":"file","source":"elsewhere"}', /unknown source/],
      ['{"type":"teleport","source":"bpf"}', /unknown type/],
      ['{"type":"exec","source":"bpf","time":"t","pid":1,"count":1}', /filename/],
      [L.FILE.replace('"count":1', '"count":0'), /count/],
      [L.FILE.replace('"path":"/etc/hostname"', '"path":42'), /path/],
      [L.CONNECT.replace('"port":9', '"port":"9"'), /port/],
      ['{"type":"ack","source":"bpf"}', /ack/],
      ['{"type":"stats","source":"bpf","received":"x"}', /stats/],
      ["\u0000\u0001garbage", /not JSON/],
    ];
    for (const [line, why] of bad) {
      const p = parseSensorLine(line);
      expect(p.kind, line).toBe("invalid");
      if (p.kind === "invalid") expect(p.reason).toMatch(why);
    }
  });

  it("isDenied is true only for refusals", () => {
    const ev = (l: string) => {
      const p = parseSensorLine(l);
      if (p.kind !== "event") throw new Error("not an event");
      return p.event;
    };
    expect(isDenied(ev(L.FILE_DENIED))).toBe(true);
    expect(isDenied(ev(L.DENIAL))).toBe(true);
    expect(isDenied(ev(L.SYSCALL))).toBe(true);
    expect(isDenied(ev(L.FILE))).toBe(false);
    expect(isDenied(ev(L.CONNECT))).toBe(false);
    expect(isDenied(ev(L.EXEC))).toBe(false);
  });
});
