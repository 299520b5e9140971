/**
 * The sensor's event schema, one for every source: BPF tracepoints
 * (palisade-sensor, source "bpf") and kernel audit records (palisade-auditd,
 * source "audit"). The C encoders (src/native/sensor/emit.c, auditd.c) write
 * these JSON lines; this file types and validates them. docs/sensor.md is the
 * prose version. A line that does not validate is a counted parse error,
 * never an exception: the sensor must keep running whatever a line holds.
 */

export type EventSource = "bpf" | "audit";

/** Fields every event carries (some only from some sources, see docs/sensor.md). */
export interface EventBase {
  readonly source: EventSource;
  /** RFC 3339 UTC; for aggregated lines the last occurrence. */
  readonly time: string;
  /** Host pid (thread-group id). */
  readonly pid: number;
  readonly tid?: number;
  readonly ppid?: number;
  /** pid / parent pid inside the task's pid namespace (the container's view). */
  readonly nsPid?: number;
  readonly nsPpid?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** cgroup v2 id as a decimal string; audit events get it by enrichment. */
  readonly cgroupId?: string;
  readonly comm?: string;
  /** Occurrences this line stands for (in-kernel aggregation); >= 1. */
  readonly count: number;
  /** True on aggregated lines: `count` more occurrences of an event already reported. */
  readonly repeat?: boolean;
  readonly firstTime?: string;
  /**
   * Repeat lines: how many of `count` came from other processes of pid's
   * program instance (forked children that did not exec), not pid itself.
   */
  readonly otherPids?: number;
  /** Added by SensorProcess from its process table (exec events), when known. */
  readonly exe?: string;
  readonly parentExe?: string;
  /** Command line of the process (from its exec event), when known. */
  readonly cmdline?: string;
}

interface SyscallResult {
  readonly syscall: string;
  readonly nr: number;
  /** Syscall result: fd / 0 on success, -errno on failure. */
  readonly result: number;
  readonly errno?: string;
  /** result was -EPERM or -EACCES: some enforcement backend said no. */
  readonly denied: boolean;
}

export interface ExecEvent extends EventBase {
  readonly type: "exec";
  readonly filename: string;
  readonly argv: readonly string[];
  readonly argvTruncated?: boolean;
  /** 0 for a successful exec; < 0 for a failed execve (then syscall/errno/denied are set). */
  readonly result: number;
  readonly syscall?: string;
  readonly nr?: number;
  readonly errno?: string;
  readonly denied?: boolean;
}

export interface ForkEvent extends EventBase {
  readonly type: "fork";
}

export interface ExitEvent extends EventBase {
  readonly type: "exit";
  readonly exitCode: number;
  readonly signal: number;
}

export interface FileEvent extends EventBase, SyscallResult {
  readonly type: "file";
  /** As passed to the syscall: may be relative to dirfd (-100 = cwd). */
  readonly path: string;
  readonly pathTruncated: boolean;
  readonly dirfd: number;
  readonly flags: number;
  readonly flagNames: string;
  readonly mode: number;
}

export interface NetEvent extends EventBase, SyscallResult {
  readonly type: "net";
  readonly fd?: number;
  readonly family: string;
  readonly sockType?: string;
  readonly protocol: number;
  readonly protocolName?: string;
  /** IP address text, or an AF_UNIX path ("@name" when abstract). */
  readonly addr?: string;
  /** Remote port for connect/accept, local port for bind. */
  readonly port?: number;
}

export interface SyscallEvent extends EventBase, SyscallResult {
  readonly type: "syscall";
}

/**
 * A capability check of the task's own credentials (tp_btf/cap_capable,
 * Linux >= 6.14). `granted` says whether the task held the capability; a
 * failed check is not a refused syscall (the kernel probes capabilities it
 * can do without), so there is no `denied`: a refusal it causes arrives as
 * its own file/net/syscall event.
 */
export interface CapabilityEvent extends EventBase {
  readonly type: "capability";
  readonly cap: number;
  /** "CAP_NET_RAW"; "CAP_<n>" for a number this build does not know. */
  readonly capName: string;
  readonly granted: boolean;
  /** The check's result: 0, or -1 (-EPERM) with errno "EPERM". */
  readonly result: number;
  readonly errno?: string;
  /** Checked against the task's own user namespace (false: an ancestor's, e.g. the host's). */
  readonly ownUserNs: boolean;
  /** The syscall in progress, when there is one. */
  readonly syscall?: string;
  readonly nr?: number;
}

export interface DenialEvent extends EventBase {
  readonly type: "denial";
  /** Which kernel mechanism refused: "Landlock", "Seccomp". */
  readonly enforcer: string;
  readonly serial: number;
  readonly syscall?: string;
  readonly nr?: number;
  readonly result?: number;
  readonly errno?: string;
  readonly denied: boolean;
  readonly exe?: string;
  /** Landlock: the access rights that were missing, e.g. ["fs.read_file"]. */
  readonly blockers: readonly string[];
  readonly path?: string;
  readonly dev?: string;
  readonly ino?: number;
  readonly addr?: string;
  readonly port?: number;
  readonly domain?: string;
  readonly domainInfo?: { readonly mode?: string; readonly pid?: number; readonly uid?: number; readonly exe?: string; readonly comm?: string };
  readonly seccompAction?: string;
  /** The raw audit records of the event ("TYPE body"), for forensics. */
  readonly records: readonly string[];
}

export type SensorEvent = ExecEvent | ForkEvent | ExitEvent | FileEvent | NetEvent | SyscallEvent | CapabilityEvent | DenialEvent;
export type SensorEventType = SensorEvent["type"];

/** Counters printed by the binaries (stats lines). */
export interface SourceStats {
  readonly source: EventSource;
  readonly time: string;
  /** Ring-buffer records (bpf) or audit records (audit) read. */
  readonly received: number;
  /** Occurrences lost before reaching user space (bpf: ring buffer full, counted in the kernel; audit: socket overruns). */
  readonly dropped: number;
  /** Occurrences represented by the lines printed (bpf: records + aggregated repeats; audit: denials). */
  readonly events: number;
  readonly repeats?: number;
  readonly droppedByKind?: Readonly<Record<string, number>>;
  readonly eventsByKind?: Readonly<Record<string, number>>;
  readonly folded?: number;
  /** bpf: the part of `folded` counted by the per-CPU fast path (as of the last flush). */
  readonly fastHits?: number;
  readonly aggFull?: number;
  /** bpf: processes that exited with no record of their own (fork and exit not reported). */
  readonly quietProcesses?: number;
  readonly watched?: number;
  /** audit: growth of the kernel's audit "lost" counter (an upper bound, see docs). */
  readonly kernelLost?: number;
}

export type ControlLine =
  | { readonly type: "ready"; readonly source: EventSource; readonly [k: string]: unknown }
  | { readonly type: "ack"; readonly source: EventSource; readonly cmd: string; readonly arg: string; readonly ok: boolean; readonly error?: string; readonly cgroupId?: string }
  | ({ readonly type: "stats" } & SourceStats)
  | { readonly type: "error"; readonly source: EventSource; readonly message: string; readonly fatal: boolean }
  | { readonly type: "record"; readonly source: EventSource; readonly [k: string]: unknown };

export type ParsedLine =
  | { readonly kind: "event"; readonly event: SensorEvent }
  | { readonly kind: "control"; readonly line: ControlLine }
  | { readonly kind: "invalid"; readonly reason: string };

type Obj = Record<string, unknown>;
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

/** Required fields per type: [name, check]. Optional fields are type-checked when present. */
const REQUIRED: Record<SensorEventType, ReadonlyArray<readonly [string, (v: unknown) => boolean]>> = {
  exec: [["filename", isStr], ["argv", isStrArr], ["result", isNum]],
  fork: [],
  exit: [["exitCode", isNum], ["signal", isNum]],
  file: [["syscall", isStr], ["nr", isNum], ["path", isStr], ["dirfd", isNum], ["flags", isNum], ["flagNames", isStr], ["mode", isNum], ["result", isNum], ["denied", isBool]],
  net: [["syscall", isStr], ["nr", isNum], ["family", isStr], ["protocol", isNum], ["result", isNum], ["denied", isBool]],
  syscall: [["syscall", isStr], ["nr", isNum], ["result", isNum], ["denied", isBool]],
  capability: [["cap", isNum], ["capName", isStr], ["granted", isBool], ["result", isNum], ["ownUserNs", isBool]],
  denial: [["enforcer", isStr], ["serial", isNum], ["denied", isBool], ["blockers", isStrArr], ["records", isStrArr]],
};

const OPTIONAL: Readonly<Record<string, (v: unknown) => boolean>> = {
  tid: isNum, ppid: isNum, nsPid: isNum, nsPpid: isNum, uid: isNum, gid: isNum, cgroupId: isStr, comm: isStr,
  repeat: isBool, firstTime: isStr, otherPids: isNum, errno: isStr, port: isNum, addr: isStr, fd: isNum, ino: isNum, exe: isStr,
  pathTruncated: isBool, argvTruncated: isBool, sockType: isStr, protocolName: isStr,
};

/** Computed once: Object.entries per line was a measurable share of parsing. */
const OPTIONAL_ENTRIES = Object.entries(OPTIONAL);

/**
 * REQUIRED and OPTIONAL spelled out with static property reads, for every
 * event line: the tables' keyed reads cost ≈ 1 µs a line, a third of the
 * parse (docs/benchmarks.md, "Sensor"). The tables stay the specification
 * and name the wrong field when these say no; test/sensor/events.test.ts
 * checks that both agree on random objects.
 */
const REQUIRED_OK: Record<SensorEventType, (o: Obj) => boolean> = {
  exec: (o) => isStr(o.filename) && isStrArr(o.argv) && isNum(o.result),
  fork: () => true,
  exit: (o) => isNum(o.exitCode) && isNum(o.signal),
  file: (o) => isStr(o.syscall) && isNum(o.nr) && isStr(o.path) && isNum(o.dirfd) && isNum(o.flags) && isStr(o.flagNames) && isNum(o.mode) && isNum(o.result) && isBool(o.denied),
  net: (o) => isStr(o.syscall) && isNum(o.nr) && isStr(o.family) && isNum(o.protocol) && isNum(o.result) && isBool(o.denied),
  syscall: (o) => isStr(o.syscall) && isNum(o.nr) && isNum(o.result) && isBool(o.denied),
  capability: (o) => isNum(o.cap) && isStr(o.capName) && isBool(o.granted) && isNum(o.result) && isBool(o.ownUserNs),
  denial: (o) => isStr(o.enforcer) && isNum(o.serial) && isBool(o.denied) && isStrArr(o.blockers) && isStrArr(o.records),
};

const optNum = (v: unknown) => v === undefined || isNum(v);
const optStr = (v: unknown) => v === undefined || isStr(v);
const optBool = (v: unknown) => v === undefined || isBool(v);

function optionalOk(o: Obj): boolean {
  return (
    optNum(o.tid) && optNum(o.ppid) && optNum(o.nsPid) && optNum(o.nsPpid) && optNum(o.uid) && optNum(o.gid) && optStr(o.cgroupId) && optStr(o.comm) &&
    optBool(o.repeat) && optStr(o.firstTime) && optNum(o.otherPids) && optStr(o.errno) && optNum(o.port) && optStr(o.addr) && optNum(o.fd) && optNum(o.ino) && optStr(o.exe) &&
    optBool(o.pathTruncated) && optBool(o.argvTruncated) && optStr(o.sockType) && optStr(o.protocolName)
  );
}

/** What is wrong with an event object of a known type, by the tables (undefined: nothing). */
export function eventFieldsProblem(type: SensorEventType, o: Readonly<Obj>): string | undefined {
  if (!isStr(o.time) || !isNum(o.pid) || !isNum(o.count) || o.count < 1) return `${type}: time/pid/count missing or wrong`;
  for (const [name, check] of REQUIRED[type]) {
    if (!check(o[name])) return `${type}: field ${name} missing or wrong`;
  }
  for (const [name, check] of OPTIONAL_ENTRIES) {
    const v = o[name];
    if (v !== undefined && !check(v)) return `${type}: field ${name} has the wrong type`;
  }
  return undefined;
}

/** eventFieldsProblem(…) === undefined, quickly (the tables' checks spelled out). */
export function eventFieldsOk(type: SensorEventType, o: Readonly<Obj>): boolean {
  return isStr(o.time) && isNum(o.pid) && isNum(o.count) && o.count >= 1 && REQUIRED_OK[type](o) && optionalOk(o);
}

const CONTROL_TYPES = new Set(["ready", "ack", "stats", "error", "record"]);

/** Parses one output line of palisade-sensor or palisade-auditd. Never throws. */
export function parseSensorLine(line: string): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { kind: "invalid", reason: "not JSON" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { kind: "invalid", reason: "not a JSON object" };
  const o = v as Obj;
  if (!isStr(o.type)) return { kind: "invalid", reason: "no type" };
  if (o.source !== "bpf" && o.source !== "audit") return { kind: "invalid", reason: `unknown source ${String(o.source)}` };
  if (CONTROL_TYPES.has(o.type)) return parseControl(o);
  const type = o.type as SensorEventType;
  if (!Object.hasOwn(REQUIRED, type)) return { kind: "invalid", reason: `unknown type ${o.type}` };
  if (eventFieldsOk(type, o)) return { kind: "event", event: o as unknown as SensorEvent };
  return { kind: "invalid", reason: eventFieldsProblem(type, o) ?? `${type}: invalid` };
}

function parseControl(o: Obj): ParsedLine {
  switch (o.type) {
    case "ack":
      if (!isStr(o.cmd) || !isBool(o.ok)) return { kind: "invalid", reason: "ack: cmd/ok missing" };
      if (!isStr(o.arg)) o.arg = "";
      break;
    case "stats":
      if (!isNum(o.received) || !isNum(o.dropped)) return { kind: "invalid", reason: "stats: received/dropped missing" };
      if (!isNum(o.events)) o.events = o.received;
      break;
    case "error":
      if (!isStr(o.message)) return { kind: "invalid", reason: "error: message missing" };
      if (!isBool(o.fatal)) o.fatal = false;
      break;
  }
  return { kind: "control", line: o as unknown as ControlLine };
}

/** True when the event reports something the kernel refused. */
export function isDenied(ev: SensorEvent): boolean {
  return "denied" in ev && ev.denied === true;
}
