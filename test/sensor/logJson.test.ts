import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSensorLine, type SensorEvent } from "../../src/sensor/events.js";
import { timeMs, updatedTime } from "../../src/sensor/eventTime.js";
import { toKubeArmor, type KubeArmorMapOptions, type WorkloadInfo } from "../../src/sensor/kubearmor.js";
import { logJson } from "../../src/sensor/logJson.js";
import * as L from "./fixtures/lines.js";

const WORKLOADS: Record<string, WorkloadInfo> = {
  "82": { containerId: "abc123", containerName: "web", namespace: "shop", podName: "web-0", labels: { tier: "front", app: "web" }, image: "registry.local/web:1@sha256:00" },
  "83": { containerId: "q\"uote", containerName: "naïve\\name", namespace: "default", labels: {}, image: "img\u0001ctl" },
};
const OPTS: KubeArmorMapOptions[] = [
  { clusterName: "edge", hostName: "gw-1", lookup: (id) => WORKLOADS[id] },
  { hostName: "h\"2", lookup: (id) => WORKLOADS[id] },
];

function ev(line: string): SensorEvent {
  const p = parseSensorLine(line);
  if (p.kind !== "event") throw new Error(`not an event: ${line}`);
  return p.event;
}

/** What the pipeline stored before logJson existed: the object path, serialised. */
function objectPath(e: SensorEvent, opts: KubeArmorMapOptions): string | null {
  const r = toKubeArmor(e, opts);
  return r === null || "Enforcer" in r ? null : JSON.stringify(r);
}

const text = fc.string({ unit: "binary", maxLength: 40 });
const time = fc
  .tuple(fc.integer({ min: 0, max: 4_000_000_000 }), fc.constantFrom("", ".1", ".123", ".123456", ".123456789", ".000000001"))
  .map(([s, frac]) => `${new Date(s * 1000).toISOString().slice(0, 19)}${frac}Z`);
const base = {
  source: fc.constant("bpf" as const),
  time,
  pid: fc.integer({ min: 1, max: 4_000_000 }),
  count: fc.integer({ min: 1, max: 5 }),
  otherPids: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  cgroupId: fc.option(fc.constantFrom("82", "83", "99"), { nil: undefined }),
  ppid: fc.option(fc.integer({ min: 0, max: 4_000_000 }), { nil: undefined }),
  nsPid: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
  nsPpid: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
  uid: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  comm: fc.option(text, { nil: undefined }),
  exe: fc.option(text, { nil: undefined }),
  parentExe: fc.option(text, { nil: undefined }),
  cmdline: fc.option(text, { nil: undefined }),
};
const result = fc.oneof(fc.constant({ result: 3, denied: false }), fc.constant({ result: -2, errno: "ENOENT", denied: false }), fc.constant({ result: -13, errno: "EACCES", denied: true }));
const event: fc.Arbitrary<SensorEvent> = fc.oneof(
  fc.record({ ...base, type: fc.constant("file" as const), syscall: fc.constantFrom("openat", "open"), nr: fc.constant(257), path: text, pathTruncated: fc.boolean(), dirfd: fc.constantFrom(-100, 3), flags: fc.constant(0), flagNames: fc.constantFrom("O_RDONLY", "O_WRONLY|O_CREAT"), mode: fc.constant(0), r: result }).map(({ r, ...e }) => ({ ...e, ...r }) as SensorEvent),
  fc.record({ ...base, type: fc.constant("net" as const), syscall: fc.constantFrom("socket", "connect", "bind"), nr: fc.constant(42), family: fc.constantFrom("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"), protocol: fc.constant(6), addr: fc.option(text, { nil: undefined }), port: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }), fd: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), r: result }).map(({ r, ...e }) => ({ ...e, ...r }) as SensorEvent),
  fc.record({ ...base, type: fc.constant("exec" as const), filename: text, argv: fc.array(text, { maxLength: 4 }), result: fc.constantFrom(0, -2) }).map((e) => e as SensorEvent),
  fc.record({ ...base, type: fc.constant("syscall" as const), syscall: fc.constantFrom("mount", "ptrace"), nr: fc.constant(165), r: result }).map(({ r, ...e }) => ({ ...e, ...r }) as SensorEvent),
);

describe("logJson", () => {
  it("is exactly the serialised KubeArmor log for every event toKubeArmor maps to a log", () => {
    fc.assert(
      fc.property(event, fc.constantFrom(...OPTS), (e, opts) => {
        expect(logJson(e, opts)).toBe(objectPath(e, opts));
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees on the recorded sensor lines and leaves refusals and denials to the alert path", () => {
    for (const line of [L.EXEC, L.EXEC_SELF, L.FILE, L.FILE_REPEAT, L.SOCKET, L.CONNECT, L.SYSCALL, L.FILE_DENIED, L.DENIAL, L.FORK, L.EXIT]) {
      const e = ev(line);
      expect(logJson(e, OPTS[0]!), line.slice(0, 40)).toBe(objectPath(e, OPTS[0]!));
    }
    expect(logJson(ev(L.FILE_DENIED), OPTS[0]!)).toBeNull();
    expect(logJson(ev(L.DENIAL), OPTS[0]!)).toBeNull();
  });
});

describe("eventTime", () => {
  it("timeMs is Date.parse and updatedTime keeps six fraction digits, for any time and any text", () => {
    fc.assert(
      fc.property(fc.oneof(time, fc.string({ maxLength: 32 })), (t) => {
        expect(Object.is(timeMs(t), Date.parse(t))).toBe(true);
        const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(t);
        expect(updatedTime(t)).toBe(m ? `${m[1]}.${(m[2] ?? "").padEnd(6, "0").slice(0, 6)}Z` : t);
      }),
      { numRuns: 3000 },
    );
  });
});
