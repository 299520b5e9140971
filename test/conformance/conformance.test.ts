/**
 * The attack conformance suite (docs/conformance.md). Cases are data
 * (cases/*.yaml); this file only decides, per backend, what to run:
 *
 * - every backend the probe offers (and the compiler uses) gets a describe
 *   block running the cases that name it as an enforcer: the attack in a real
 *   confined container, the backend's evidence in the compiled workload, and
 *   the case's controls (the same action works without the confinement);
 * - each case × backend listed under cannotExpress is checked: the compiler
 *   must report that rule unsupported by that backend;
 * - a failClosed case whose enforcers are all unavailable here must make
 *   runWorkload refuse to start (COMPILE_UNSUPPORTED);
 * - allowed counterparts (no enforcer) must succeed;
 * - backends not offered here are asserted unusable by the probe (bpf-lsm,
 *   apparmor) or unused by the compiler (fanotify, cgroup-bpf), with the
 *   cases they would take — nothing is dropped silently.
 *
 * A case claimed by several backends runs once; each backend checks its own
 * evidence on that run. Everything goes through kernelIt: skipped with a
 * reason locally, failed under CI=true.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostFeatures } from "../../src/native/hostFeatures.js";
import { probeHost, resetProbeCache } from "../../src/native/probe.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { isCI, kernelIt, unmet, type Requirement } from "../kernelTest.js";
import { CONTAINERS } from "../runtime/runtimeFixture.js";
import { BACKENDS, caseProblems, CONFORMANCE_DIR, loadBackends, loadCases, refused, type Backend, type BackendInfo, type Case } from "./cases.js";
import { buildConformanceImage } from "./harness/image.js";
import { matrixMarkdown } from "./matrix.js";
import { repoRoot } from "../../src/core/paths.js";
import { cleanupHost, compileOnly, evidenceProblems, expand, expectRefusedStart, mismatches, prepareHost, runConfined, runControl, type CaseRun, type HostPaths, type SuiteContext } from "./harness/runner.js";

const cases = loadCases();
const backends = loadBackends();
const info = (b: Backend): BackendInfo => backends.find((x) => x.name === b)!;

// Collected before the tests are defined: which backends get a block depends on the probe.
const features: HostFeatures | undefined = unmet(CONTAINERS) === null ? await probeHost() : undefined;
const probeSays = (b: Backend) => (b === "mounts" ? { usable: true, reason: "read-only root and mount table, applied by runc" } : features?.backends.find((x) => x.name === b));
/** Offered: the probe says usable and the compiler produces artifacts for it. */
const offered = (b: Backend): boolean => info(b).compiled && (probeSays(b)?.usable ?? false);
/** Without a probe (not root locally) the blocks follow the platform table, and kernelIt skips them with the reason. */
const hasBlock = (b: Backend): boolean => (features ? offered(b) : info(b).compiled && info(b).platform === "expected");

function requirements(c: Case): Requirement[] {
  const reqs: Requirement[] = [...CONTAINERS];
  for (const r of c.requires) {
    const abi = /^landlock-abi>=(\d+)$/.exec(r);
    if (abi) reqs.push({ feature: `Landlock ABI ≥ ${abi[1]}`, check: () => ((features?.landlock.abi ?? 0) >= Number(abi[1]) ? null : `the kernel reports ABI ${features?.landlock.abi ?? "?"}`) });
    if (r === "userns") reqs.push({ feature: "user namespaces", check: () => (features?.namespaces.user ? null : "the kernel cannot create user namespaces") });
  }
  return reqs;
}

const previousDataDir = process.env.PALISADE_DATA_DIR;
let ctx: SuiteContext | undefined;
beforeAll(async () => {
  if (!features) return;
  process.env.PALISADE_DATA_DIR = mkdtempSync(join(tmpdir(), "palisade-conformance-"));
  const store = ImageStore.open();
  resetProbeCache();
  ctx = { store, image: await buildConformanceImage(store), features: await probeHost() };
}, 180_000);
afterAll(() => {
  if (ctx) rmSync(process.env.PALISADE_DATA_DIR!, { recursive: true, force: true });
  if (previousDataDir === undefined) delete process.env.PALISADE_DATA_DIR;
  else process.env.PALISADE_DATA_DIR = previousDataDir;
});

/** One run (and one set of controls) per case, shared by every backend that claims it. */
const runs = new Map<string, Promise<CaseRun & { host: HostPaths }>>();
const controls = new Map<string, Promise<string[]>>();
const hostDirs: HostPaths[] = [];
afterAll(() => hostDirs.forEach(cleanupHost));

function runCase(c: Case): Promise<CaseRun & { host: HostPaths }> {
  let p = runs.get(c.name);
  if (!p) {
    const host = prepareHost(c);
    hostDirs.push(host);
    p = runConfined(ctx!, c, c.name, expand(c.attack, host), expand(c.workload, host), expand(c.policies, host)).then((r) => ({ ...r, host }));
    runs.set(c.name, p);
  }
  return p;
}

function checkControls(c: Case): Promise<string[]> {
  let p = controls.get(c.name);
  if (!p) {
    p = (async () => {
      const problems: string[] = [];
      for (const ctl of c.control) {
        const host = prepareHost(c);
        try {
          const r = await runControl(ctx!, c, ctl, host);
          problems.push(...r.problems.map((x) => `control ${ctl.mode} (${ctl.why}): ${x}\n${r.output}`));
        } finally {
          cleanupHost(host);
        }
      }
      return problems;
    })();
    controls.set(c.name, p);
  }
  return p;
}

async function attackAsExpected(c: Case): Promise<CaseRun> {
  const run = await runCase(c);
  const problems = mismatches(expand(c.attack, run.host), run.outcomes);
  expect(problems, `${c.file}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toEqual([]);
  return run;
}

describe("conformance data", () => {
  it("every case loads and keeps the suite's rules (enforcer + control for each refusal)", () => {
    expect(cases.length).toBeGreaterThan(20);
    const claimed = new Set(cases.flatMap((c) => Object.keys(c.enforcers)));
    for (const b of ["mounts", "namespaces", "capabilities", "cgroups", "seccomp", "landlock"] as const) expect(claimed, `no case claims ${b}`).toContain(b);
  });

  it("backends.yaml describes every backend once", () => {
    expect(backends.map((b) => b.name).sort()).toEqual([...BACKENDS].sort());
  });

  it("every case runs somewhere: in a backend block, as a fail-closed check, or as an allowed counterpart", () => {
    const nowhere = cases.filter((c) => {
      const names = Object.keys(c.enforcers) as Backend[];
      return names.length > 0 && !c.failClosed && !names.some((b) => info(b).compiled);
    });
    expect(nowhere.map((c) => c.name)).toEqual([]);
  });

  it("the loader's rules catch a refusal without a control and an uncovered refusal", () => {
    const base = cases.find((c) => c.name === "file-block")!;
    expect(caseProblems({ ...base, control: [] })).toContain("refuses something but has no control run proving the action works without the confinement");
    const narrow = { ...base, control: [{ mode: "no-policy" as const, why: "x", attack: [{ op: "read" as const, arg: "/etc/group", expect: "OK" }] }] };
    expect(caseProblems(narrow)).toContain('no control tries "read /etc/passwd" without the confinement');
    expect(caseProblems({ ...base, enforcers: {} })).toContain("refuses something but names no enforcer");
  });

  it("docs/conformance.md carries the current matrix (regenerate: npx tsx test/conformance/matrix.ts)", () => {
    const doc = readFileSync(join(repoRoot(), "docs", "conformance.md"), "utf8");
    expect(doc.includes(matrixMarkdown(cases, backends)), "the matrix in docs/conformance.md is stale").toBe(true);
  });

  it("known failures (left out of the run, see known-failures/README.md) still parse", () => {
    // None today: network-bind-service moved to cases/ once the user-namespace bug was fixed.
    expect(loadCases(join(CONFORMANCE_DIR, "known-failures")).map((c) => c.name)).toEqual([]);
  });
});

for (const b of BACKENDS) {
  if (!hasBlock(b)) continue;
  const claimed = cases.filter((c) => b in c.enforcers);
  const cannot = cases.filter((c) => b in c.cannotExpress);
  describe(`backend ${b}`, () => {
    for (const c of claimed) {
      kernelIt(`${c.name}: ${c.title}`, requirements(c), async () => {
        const run = await attackAsExpected(c);
        expect(evidenceProblems(b, c.enforcers[b]!, run.compiled), `${b} evidence for ${c.file}`).toEqual([]);
        if (c.attack.some(refused)) expect(await checkControls(c)).toEqual([]);
      });
    }
    for (const c of cannot) {
      kernelIt(`${c.name}: cannot express — ${c.cannotExpress[b]}`, CONTAINERS, () => {
        const host = prepareHost(c);
        try {
          const compiled = compileOnly(ctx!, c, host);
          const mine = compiled.unsupported.filter((u) => u.backend.split(/,\s*/).includes(b));
          expect(mine.map((u) => u.ref.text), `the compiler should report the rule of ${c.file} unsupported by ${b}`).not.toEqual([]);
        } finally {
          cleanupHost(host);
        }
      });
    }
  });
}

describe("fail closed: a policy no offered backend can enforce stops the workload", () => {
  for (const c of cases.filter((x) => x.failClosed)) {
    const enforcers = Object.keys(c.enforcers) as Backend[];
    kernelIt(`${c.name}: ${c.title}`, requirements(c), async () => {
      if (enforcers.some(offered)) {
        // A backend that can enforce it is offered here: the case ran in that backend's block instead.
        expect(enforcers.filter(offered).every(hasBlock)).toBe(true);
        return;
      }
      const host = prepareHost(c);
      try {
        const err = await expectRefusedStart(ctx!, c, host);
        expect(err.code).toBe("COMPILE_UNSUPPORTED");
        const listed = (err.details?.unsupported ?? []) as { rule: string }[];
        for (const e of enforcers) if (c.enforcers[e]?.enforces) expect(listed.map((u) => u.rule)).toContain(c.enforcers[e]!.enforces);
      } finally {
        cleanupHost(host);
      }
      expect(await checkControls(c)).toEqual([]);
    });
  }
});

describe("allowed counterparts: nothing refuses these", () => {
  for (const c of cases.filter((x) => Object.keys(x.enforcers).length === 0)) {
    kernelIt(`${c.name}: ${c.title}`, requirements(c), async () => {
      const run = await attackAsExpected(c);
      const audited = run.compiled.audited.map((r) => r.text);
      for (const a of c.audited) expect(audited, "reported audited").toContain(a);
      for (const a of c.audited) expect(run.compiled.enforced.map((e) => e.ref.text)).not.toContain(a);
    });
  }
});

describe("backends not offered here are reported, not dropped", () => {
  const absent = BACKENDS.filter((b) => !hasBlock(b));
  const casesOf = (b: Backend) => cases.filter((c) => b in c.enforcers).map((c) => c.name);
  for (const b of absent) {
    const i = info(b);
    const label = `${b}: ${i.platform === "absent" ? "the probe says it is unusable here" : i.compiled ? "the probe says it is unusable" : "offered by the kernel, not used by the compiler"}; cases it would take: ${casesOf(b).join(", ") || "none"}`;
    if (i.platform === "absent") {
      kernelIt(label, CONTAINERS, () => {
        const s = probeSays(b);
        expect(s, `the probe does not report ${b}`).toBeDefined();
        // If this fails the host now offers the backend: update backends.yaml so its cases run.
        expect(s!.usable, `${b} is usable here: set platform: expected in backends.yaml`).toBe(false);
        expect(s!.reason.length).toBeGreaterThan(10);
        console.info(`conformance: ${b} not offered (${s!.reason}); not run here: ${casesOf(b).join(", ") || "no cases"}`);
      });
    } else if (!i.compiled) {
      kernelIt(label, CONTAINERS, () => {
        const host = prepareHost(cases[0]!);
        let used: boolean;
        try {
          used = compileOnly(ctx!, cases[0]!, host).backends[b].used;
        } finally {
          cleanupHost(host);
        }
        expect(used, `the compiler now uses ${b}: set compiled: true in backends.yaml`).toBe(false);
        console.info(`conformance: ${b} ${probeSays(b)?.usable ? "usable" : "unusable"} per probe, unused by the compiler; not run: ${casesOf(b).join(", ") || "no cases"}`);
      });
    } else {
      // An expected, compiled backend the probe refuses: its cases cannot run, which CI must not accept.
      for (const name of casesOf(b)) {
        kernelIt(`${b}: ${name}`, [...CONTAINERS, { feature: `backend ${b}`, check: () => probeSays(b)?.reason ?? "not reported by the probe" }], () => undefined);
      }
    }
  }
  it("summary", () => {
    const status = (b: Backend) => (hasBlock(b) ? "runs its cases" : !info(b).compiled ? "compiler does not use it" : "not offered");
    const lines = BACKENDS.map((b) => `${b.padEnd(13)} ${status(b)}; probe: ${probeSays(b)?.reason ?? "no probe (not root?)"}`);
    console.info(`conformance backends (CI=${isCI}):\n  ${lines.join("\n  ")}`);
    expect(lines).toHaveLength(BACKENDS.length);
  });
});
