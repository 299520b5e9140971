/**
 * V8 settings for Palisade's long-lived, idle device processes: each
 * workload supervisor (`palisade agent exec`) — not the agent itself, see
 * applyLeanV8Flags. They spend
 * their life waiting on timers, sockets and child processes; none of their
 * JavaScript is hot enough to pay back an optimising compiler. Turning the
 * optimiser (TurboFan) and the baseline compiler (Sparkplug) off, and asking
 * V8 to favour size, keeps the compilers' code pages (in the node binary)
 * and their output out of resident memory: measured (docs/benchmarks.md,
 * "Agent footprint") 1.2–1.3 MiB less for the running agent and 3.5–5 MiB
 * for a supervisor, at the same idle CPU.
 *
 * Why at run time (v8.setFlagsFromString) and not on the node command line:
 * the agent is started by whatever the device uses (a unit file, bin/palisade,
 * a test), and these flags must not depend on it; NODE_OPTIONS cannot carry
 * --lite-mode, whose effect these three flags reproduce. V8 consults them
 * as it runs (whether to tier a function up, how far to grow the heap),
 * unlike heap sizes or --lite-mode itself, which are fixed at start-up. Call
 * this before the process has run much code: what was compiled earlier
 * keeps what it got.
 *
 * PALISADE_AGENT_V8_FLAGS replaces the list ("" = leave V8 as it is), for
 * measuring and for a device where CPU matters more than memory.
 */
import { setFlagsFromString } from "node:v8";

export const LEAN_V8_FLAGS: readonly string[] = ["--no-opt", "--no-sparkplug", "--optimize-for-size"];

/**
 * The agent's own default: all compilers on, but a young generation that
 * does not grow. V8 doubles the semi-spaces whenever many young objects
 * survive — module loading at start-up takes them from 1 to 4 MiB, a burst
 * of sensor events to 16 — and gives the pages back only when its memory
 * reducer runs, a minute or more later (the idle agent's RSS fell by
 * ≈ 1.5 MiB 40 s into the footprint window). A growth factor of 1 keeps
 * them at 1–2 MiB. The sensor pipeline did not get slower: the replay in
 * docs/benchmarks.md (*Sensor*) measured 27.1 / 31.5 µs of Node CPU per
 * event with it against 31.1 / 33.3 without (two runs each). Unlike
 * --max-semi-space-size, which V8 reads only at start-up, this flag is read
 * each time the young generation would grow, so setting it at run time works.
 *
 * --minor-gc-task-trigger=20: V8 schedules a young-generation collection as
 * a task once the young generation is 20 % full (default 80 %), so the idle
 * agent's young pages are collected and given back before most of the
 * semi-space is touched: the RSS sawtooth over the footprint window fell
 * from 56.05–57.00 to 56.40–56.77 MiB (max −0.2 MiB, 2026-11-23 18:47, same
 * run; docs/benchmarks.md, "Agent footprint"). Replay: 23.2 / 24.0 µs per
 * event with both flags, 23.4 / 25.7 without either.
 */
export const AGENT_V8_FLAGS: readonly string[] = ["--semi-space-growth-factor=1", "--minor-gc-task-trigger=20"];

/**
 * Applies the flags (`defaults` unless PALISADE_AGENT_V8_FLAGS says otherwise);
 * returns the ones applied (for the start-up log line). The supervisor takes
 * the lean defaults; the agent passes AGENT_V8_FLAGS, not these, because it runs the sensor
 * pipeline, which is hot whenever a workload is busy: without TurboFan it
 * cost 2.6× the CPU per event (107 vs 41 µs, docs/benchmarks.md, "Agent
 * footprint") for 1.2 MiB less memory.
 */
export function applyLeanV8Flags(env: NodeJS.ProcessEnv = process.env, defaults: readonly string[] = LEAN_V8_FLAGS): readonly string[] {
  const raw = env.PALISADE_AGENT_V8_FLAGS;
  const flags = raw === undefined ? defaults : raw.split(/\s+/).filter((f) => f !== "");
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
