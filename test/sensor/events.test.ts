import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventFieldsOk, eventFieldsProblem, isDenied, parseSensorLine, type SensorEventType } from "../../src/sensor/events.js";
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
      // Names on Object.prototype: looking them up in the table must not find (and iterate) a function.
      ['{"type":"constructor","source":"bpf","time":"t","pid":1,"count":1}', /unknown type/],
      ['{"type":"toString","source":"bpf","time":"t","pid":1,"count":1}', /unknown type/],
      ['{"type":"__proto__","source":"bpf","time":"t","pid":1,"count":1}', /unknown type/],
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

  it("the fast field checks agree with the tables on any object", () => {
    const FIELDS = ["time", "pid", "count", "filename", "argv", "result", "exitCode", "signal", "syscall", "nr", "path", "dirfd", "flags", "flagNames", "mode", "denied", "family", "protocol",
      "cap", "capName", "granted", "ownUserNs", "enforcer", "serial", "blockers", "records", "tid", "ppid", "nsPid", "nsPpid", "uid", "gid", "cgroupId", "comm", "repeat", "firstTime",
      "errno", "port", "addr", "fd", "ino", "exe", "pathTruncated", "argvTruncated", "sockType", "protocolName"];
    // Valid events of every type (the fixtures), with 0–4 fields removed or replaced by a value of some JSON type.
    const CAP = '{"type":"capability","source":"bpf","time":"2026-11-23T14:40:02.261223101Z","pid":19157,"tid":19157,"ppid":19153,"uid":0,"cgroupId":"9","comm":"app","count":1,"cap":13,"capName":"CAP_NET_RAW","granted":false,"result":-1,"errno":"EPERM","ownUserNs":true,"syscall":"socket","nr":41}';
    const valid = [...Object.values(L), CAP].map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => parseSensorLine(JSON.stringify(o)).kind === "event");
    expect(new Set(valid.map((o) => o.type)).size).toBe(8);
    const value = fc.oneof(fc.constant(undefined), fc.integer({ min: -2, max: 3 }), fc.constant(-Infinity), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 2 }), { maxLength: 2 }), fc.constant([1]));
    let ok = 0;
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(fc.tuple(fc.constantFrom(...FIELDS), value), { maxLength: 4 }), (base, changes) => {
        const o: Record<string, unknown> = { ...base };
        for (const [f, v] of changes) {
          if (v === undefined) delete o[f];
          else o[f] = v;
        }
        const type = base.type as SensorEventType;
        const fast = eventFieldsOk(type, o);
        expect(fast, JSON.stringify(changes)).toBe(eventFieldsProblem(type, o) === undefined);
        if (fast) ok++;
      }),
      { numRuns: 20_000 },
    );
    expect(ok).toBeGreaterThan(2000); // both outcomes were exercised
  });
});
