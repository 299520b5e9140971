/**
 * Node's own cost per sensor event, without the kernel: N recorded-style
 * file-open lines replayed through the real EventPipeline (SensorProcess →
 * logJson → StoreWriter → events.db) from a fake palisade-sensor that
 * prints them as fast as the pipe takes them (docs/benchmarks.md, "Sensor").
 * Reports the rate and the CPU per event of each Node thread that used a
 * noticeable share (pipeline thread, store worker, V8's GC helpers).
 *
 *   npx tsx bench/sensorReplay.ts [--events 100000] [--batch 2000]
 *
 * Run it with node flags to compare V8 settings, e.g.
 *   node --no-opt --no-sparkplug --import tsx bench/sensorReplay.ts
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { combinePolicies } from "../src/policy/index.js";
import { EventPipeline } from "../src/sensor/eventPipeline.js";
import { EventStore } from "../src/sensor/eventStore.js";
import { threadCpuSeconds } from "./lib/procStats.js";

const { values: opt } = parseArgs({ options: { events: { type: "string", default: "100000" }, batch: { type: "string", default: "2000" } } });
const N = Number(opt.events);
const dir = mkdtempSync(join(tmpdir(), "palisade-replay-"));

const base = { source: "bpf", pid: 2, tid: 2, ppid: 1, nsPid: 1, nsPpid: 0, uid: 0, gid: 0, cgroupId: "9", comm: "app", count: 1 };
const lines = [JSON.stringify({ type: "exec", ...base, time: "2026-01-01T00:00:00.000000001Z", filename: "/usr/bin/app", argv: ["app", "--serve"], result: 0 })];
for (let i = 0; i < N; i++) {
  const time = `2026-01-01T00:00:${String(Math.floor(i / 20_000)).padStart(2, "0")}.${String((i % 20_000) * 50_000).padStart(9, "0")}Z`;
  lines.push(JSON.stringify({ type: "file", ...base, time, syscall: "openat", nr: 257, path: `/data/r0/c${Math.floor(i / 1000)}_${i % 1000}`, pathTruncated: false, dirfd: -100, flags: 0, flagNames: "O_RDONLY", mode: 0, result: -2, errno: "ENOENT", denied: false }));
}
writeFileSync(join(dir, "lines"), `${lines.join("\n")}\n`);
const q = (o: object) => `'${JSON.stringify(o)}'`;
// The fake sensor: ready, then on "watch" an ack and (once the pipeline has taken the ack and attributes
// the cgroup: 0.3 s) every line; flush/stats answered like the real one.
writeFileSync(
  join(dir, "palisade-sensor"),
  `#!/bin/sh
echo ${q({ type: "ready", source: "bpf", schema: 1, pid: 1, arch: "x86_64", ringbufBytes: 1, aggregation: true, aggEntries: 1, flushMs: 1000, statsMs: 1000, watched: 0 })}
while read cmd arg; do
  case "$cmd" in
    watch) echo ${q({ type: "ack", source: "bpf", cmd: "watch", arg: "x", ok: true, cgroupId: "9" })}; sleep 0.3; cat ${join(dir, "lines")} ;;
    quit) exit 0 ;;
    *) echo '{"type":"stats","source":"bpf","time":"2026-01-01T00:00:00Z","received":0,"dropped":0,"events":0}'; echo '{"type":"ack","source":"bpf","cmd":"'$cmd'","arg":"","ok":true}' ;;
  esac
done
`,
);
chmodSync(join(dir, "palisade-sensor"), 0o755);

const store = EventStore.open(join(dir, "events.db"), { maxRecords: 10 * N });
let stored = 0;
let first = 0;
let firstRows = 0;
let last = 0;
const pipeline = await EventPipeline.start({
  store,
  batchMax: Number(opt.batch),
  log: (m) => console.error(m),
  sensor: { binDir: dir, audit: false },
  onStored: (b) => {
    // The rate counts from the first batch committed, without that batch's records.
    if (stored === 0) [first, firstRows] = [performance.now(), b.last - b.first + 1];
    stored += b.last - b.first + 1;
    last = performance.now();
  },
});
const threads0 = threadCpuSeconds(process.pid);
const cpu0 = process.cpuUsage();
await pipeline.watch({ name: "replay", cgroupPath: "/sys/fs/cgroup", containerId: "replay", containerName: "replay", namespace: "default", labels: { app: "replay" }, image: "app", effective: combinePolicies([], { app: "replay" }, { namespace: "default" }), auditOnly: false });
let seen = 0;
let since = performance.now();
while (stored < N + 1) {
  await new Promise((r) => setTimeout(r, 5));
  if (stored !== seen) [seen, since] = [stored, performance.now()];
  else if (performance.now() - since > 15_000) {
    console.error(`no progress for 15 s: ${stored} of ${N + 1} stored; pipeline ${JSON.stringify(pipeline.stats())}`);
    process.exit(1);
  }
}
const cpu = process.cpuUsage(cpu0);
for (const [k, v] of threadCpuSeconds(process.pid)) {
  const used = v - (threads0.get(k) ?? 0);
  if (used * 1e6 >= 0.02 * (cpu.user + cpu.system)) console.log(`thread ${k}: ${((used * 1e6) / N).toFixed(1)} µs/event`);
}
console.log(`replayed ${N.toLocaleString("en")} events: ${Math.round((N + 1 - firstRows) / ((last - first) / 1000)).toLocaleString("en")} /s (first to last batch stored), Node CPU ${((cpu.user + cpu.system) / N).toFixed(1)} µs/event (all threads)`);
await pipeline.close();
store.close();
rmSync(dir, { recursive: true, force: true });
