/**
 * probeHost() on this machine, each measurement compared with an independent
 * one (bpftool + clang, util-linux, procfs), never with hard-coded values;
 * plus the pure parts (cgroup mode, backend reasoning) on recorded inputs,
 * the error paths, and `palisade probe`.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { PalisadeError } from "../../src/core/errors.js";
import { repoRoot } from "../../src/core/paths.js";
import { runCli } from "../runCli.js";
import type { HostFeatures } from "../../src/native/hostFeatures.js";
import { buildHostFeatures, cgroupMode, probeHost, resetProbeCache, runNativeProbe, type HostFacts, type RawProbe } from "../../src/native/probe.js";
import { cleanup, command, kernelAbi, NOBODY, PROBE, runSync, tempDir } from "./helpers.js";
import { bpftoolFeatures, bpftoolLoads, cgroupModeViaFindmnt, lsmListViaMount, seccompActionsAvail, unshareWorks } from "./independent.js";

const BPFTOOL = command("bpftool", "/usr/sbin/bpftool");
const CLANG = command("clang");
const RUNC = command("runc", "/usr/sbin/runc");
const BACKENDS = ["namespaces", "capabilities", "cgroups", "seccomp", "landlock", "bpf-lsm", "cgroup-bpf", "fanotify", "apparmor"];

describe("probeHost() on this machine", () => {
  let h: HostFeatures;
  beforeAll(async () => {
    if (process.platform === "linux" && process.getuid?.() === 0) h = await probeHost();
  });

  kernelIt("finds Landlock, at the ABI the launcher's own syscall reports", [LINUX, ROOT], () => {
    expect(h.landlock.abi).toBeGreaterThanOrEqual(1);
    expect(h.landlock.abi).toBe(kernelAbi());
    expect(h.backends.find((b) => b.name === "landlock")).toMatchObject({ usable: true, reason: expect.stringContaining(`ABI ${h.landlock.abi}`) });
  });

  kernelIt('reads the active LSM list ("bpf" among them) exactly as util-linux mount + cat does', [LINUX, ROOT], () => {
    expect(h.lsm.active).toEqual(lsmListViaMount());
    expect(h.lsm.active).toContain("bpf");
    expect(h.lsm.bpfListed).toBe(true);
  });

  kernelIt("reports bpf-lsm loadable exactly when bpftool can load a clang-built lsm/file_open object, with the same error", [LINUX, ROOT, BPFTOOL, CLANG], () => {
    const indep = bpftoolLoads("lsm/file_open");
    expect(h.lsm.bpfLoadable).toBe(indep.ok);
    const backend = h.backends.find((b) => b.name === "bpf-lsm");
    expect(backend?.usable).toBe(h.lsm.bpfListed && indep.ok);
    if (!indep.ok) {
      // Same errno as libbpf saw, by its text (libbpf prints strerror).
      const text = h.failures?.["lsm.bpfLoadable"] ?? "";
      expect(text).toMatch(/^E[A-Z0-9]+ \(.+\)/);
      expect(indep.stderr).toContain(/\((.+)\)/.exec(text)?.[1] as string);
      expect(backend?.reason).toBe(`listed in the active LSMs, but loading lsm/file_open failed: ${h.lsm.bpfLoadError} — BPF LSM programs cannot be used on this kernel`);
    }
  });

  kernelIt("reports tp_btf loadable exactly when bpftool can load a clang-built tp_btf/sched_process_exec object", [LINUX, ROOT, BPFTOOL, CLANG], () => {
    expect(h.bpf.tpBtf).toBe(bpftoolLoads("tp_btf/sched_process_exec").ok);
  });

  kernelIt("agrees with `bpftool feature probe` on cgroup/dev, cgroup/sock_addr programs and ring buffers", [LINUX, ROOT, BPFTOOL], () => {
    const f = bpftoolFeatures();
    expect(h.bpf.cgroupDevice).toBe(f.programs.has("cgroup_device"));
    expect(h.bpf.cgroupSockAddr).toBe(f.programs.has("cgroup_sock_addr"));
    expect(h.bpf.ringbuf).toBe(f.maps.has("ringbuf"));
    expect(h.backends.find((b) => b.name === "cgroup-bpf")?.usable).toBe(f.programs.has("cgroup_device") && f.programs.has("cgroup_sock_addr") && h.cgroup.v2Mount !== undefined);
  });

  kernelIt("finds BTF where the kernel exports it", [LINUX, ROOT], () => {
    expect(h.bpf.btf).toBe(existsSync("/sys/kernel/btf/vmlinux"));
    expect(h.bpf.btf).toBe(true);
  });

  kernelIt("finds runc at the version `runc --version` prints", [LINUX, ROOT, RUNC], () => {
    const out = spawnSync("runc", ["--version"], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).stdout;
    expect(h.runtimes.runc).toBeDefined();
    expect(out).toContain(`runc version ${h.runtimes.runc}\n`);
  });

  kernelIt("reads the cgroup mode as findmnt sees it", [LINUX, ROOT], () => {
    expect(h.cgroup).toEqual(cgroupModeViaFindmnt());
  });

  kernelIt("lists the seccomp actions /proc/sys/kernel/seccomp/actions_avail lists", [LINUX, ROOT], () => {
    expect(h.seccomp.filter).toBe(true);
    expect([...(h.seccomp.actions ?? [])].sort()).toEqual(seccompActionsAvail().sort());
    expect(h.seccomp.userNotification).toBe(seccompActionsAvail().includes("user_notif"));
  });

  kernelIt("creates the namespaces util-linux unshare can create", [LINUX, ROOT], () => {
    const flags: Record<string, string> = { mnt: "--mount", pid: "--pid", net: "--net", ipc: "--ipc", uts: "--uts", user: "--user", cgroup: "--cgroup", time: "--time" };
    for (const [ns, flag] of Object.entries(flags)) expect(h.namespaces[ns as keyof HostFeatures["namespaces"]], ns).toBe(unshareWorks(flag));
  });

  kernelIt("reports AppArmor active only when its module says enabled and it is an active LSM", [LINUX, ROOT], () => {
    const param = "/sys/module/apparmor/parameters/enabled";
    const enabled = existsSync(param) && readFileSync(param, "utf8").trim() === "Y";
    expect(h.lsm.apparmor).toBe(enabled && h.lsm.active.includes("apparmor"));
  });

  kernelIt("gives every backend once, each with a one-line reason", [LINUX, ROOT], () => {
    expect(h.backends.map((b) => b.name)).toEqual(BACKENDS);
    for (const b of h.backends) expect(b.reason).toMatch(/^[^\n]{10,}$/);
  });

  kernelIt("is cached per process", [LINUX, ROOT], async () => {
    expect(await probeHost()).toBe(h);
    resetProbeCache();
    const again = await probeHost();
    expect(again).not.toBe(h);
    expect(again).toEqual(h);
  });
});

describe("probe errors", () => {
  const saved = process.env.PALISADE_NATIVE_DIR;
  let dir: string;
  beforeAll(() => {
    dir = tempDir("nobin");
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PALISADE_NATIVE_DIR;
    else process.env.PALISADE_NATIVE_DIR = saved;
    resetProbeCache();
  });
  afterAll(() => cleanup(dir));

  it("throws PalisadeError NATIVE with the setup hint when the probe binary is missing", async () => {
    process.env.PALISADE_NATIVE_DIR = dir;
    resetProbeCache();
    const err = await probeHost().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PalisadeError);
    expect(err).toMatchObject({ code: "NATIVE", message: `native binary ${join(dir, "palisade-probe")} is missing or not executable`, hint: "run: bash scripts/setup.sh" });
  });

  it("throws PalisadeError PROBE when the probe prints something else than its JSON", async () => {
    const fake = join(dir, "fake-probe");
    const cases: [string, string][] = [
      ["echo not json", "printed something that is not JSON"],
      [`echo '{"version":1}'`, "printed unexpected JSON at uid"],
      ["echo boom >&2; exit 3", "failed (3): boom"],
    ];
    for (const [body, msg] of cases) {
      writeFileSync(fake, `#!/bin/sh\n${body}\n`);
      chmodSync(fake, 0o755);
      const err = await runNativeProbe(fake).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "PROBE", message: expect.stringContaining(msg) });
    }
  });
});

describe("cgroupMode()", () => {
  const v1 = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
  it.each([
    ["hybrid", `tmpfs /sys/fs/cgroup tmpfs rw 0 0\n${v1}cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n`, { mode: "hybrid", v2Mount: "/sys/fs/cgroup/unified" }],
    ["v2", "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n", { mode: "v2", v2Mount: "/sys/fs/cgroup" }],
    ["v1", v1, { mode: "v1" }],
    ["none", "proc /proc proc rw 0 0\n", { mode: "none" }],
  ])("reads %s from /proc/mounts", (_name, mounts, want) => {
    expect(cgroupMode(mounts)).toEqual(want);
  });
});

describe("buildHostFeatures() reasons, on recorded measurements", () => {
  const ok = { ok: true };
  const eperm = { ok: false, errno: "EPERM", error: "Operation not permitted" };
  const raw: RawProbe = {
    version: 1,
    uid: 0,
    euid: 0,
    landlock: { ok: true, abi: 7 },
    seccomp: { mode: 0, actions: { kill_process: true, log: true, user_notif: true }, filter: ok, notifSizes: ok, userNotification: ok },
    namespaces: { mnt: ok, pid: ok, net: ok, ipc: ok, uts: ok, user: ok, cgroup: ok, time: ok },
    fanotify: ok,
    lsm: { ok: true, source: "securityfs", list: "lockdown,capability,landlock,bpf" },
    bpf: { btf: ok, lsm: eperm, tpBtf: ok, cgroupDevice: ok, cgroupSockAddr: ok, ringbuf: ok },
  };
  const facts: HostFacts = {
    kernel: "6.18.0",
    arch: "x86_64",
    uid: 0,
    mounts: "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n",
    nsFiles: ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"],
    btfFile: true,
    apparmorEnabled: false,
    runc: "1.1.5",
    launcherBuilt: true,
  };
  const reason = (h: HostFeatures, name: string) => h.backends.find((b) => b.name === name);

  it("bpf listed but not loadable (this platform)", () => {
    const h = buildHostFeatures(raw, facts);
    expect(h.lsm).toMatchObject({ bpfListed: true, bpfLoadable: false, bpfLoadError: "EPERM" });
    expect(reason(h, "bpf-lsm")).toEqual({ name: "bpf-lsm", usable: false, reason: "listed in the active LSMs, but loading lsm/file_open failed: EPERM — BPF LSM programs cannot be used on this kernel" });
  });

  it("loadable but not listed, and both", () => {
    const notListed = buildHostFeatures({ ...raw, lsm: { ...raw.lsm, list: "capability,landlock" }, bpf: { ...raw.bpf, lsm: ok } }, facts);
    expect(reason(notListed, "bpf-lsm")).toMatchObject({ usable: false, reason: expect.stringContaining('"bpf" is not in the active LSMs (capability,landlock), so it would never run') });
    const both = buildHostFeatures({ ...raw, bpf: { ...raw.bpf, lsm: ok } }, facts);
    expect(reason(both, "bpf-lsm")).toEqual({ name: "bpf-lsm", usable: true, reason: "listed in the active LSMs, and a trivial lsm/file_open program loaded" });
  });

  it("no Landlock, or no launcher", () => {
    const none = buildHostFeatures({ ...raw, landlock: { ok: false, abi: 0, errno: "EOPNOTSUPP", error: "Operation not supported" } }, facts);
    expect(reason(none, "landlock")).toMatchObject({ usable: false, reason: expect.stringContaining("the kernel has no Landlock: EOPNOTSUPP") });
    const noLauncher = buildHostFeatures(raw, { ...facts, launcherBuilt: false });
    expect(reason(noLauncher, "landlock")).toMatchObject({ usable: false, reason: "kernel reports Landlock ABI 7, but palisade-launch is not built (run: bash scripts/setup.sh)" });
  });

  it("no runc: the runc-applied backends are unusable and say why", () => {
    const { runc: _drop, ...noRunc } = facts;
    const h = buildHostFeatures(raw, noRunc);
    for (const b of ["namespaces", "capabilities", "cgroups", "seccomp"]) expect(reason(h, b)).toMatchObject({ usable: false, reason: "runc is not installed (apt-get install runc)" });
  });

  it("not root: says what needs root, and counts namespaces created inside a user namespace", () => {
    const nsViaUser = { ...eperm, viaUserns: true };
    const h = buildHostFeatures(
      {
        ...raw,
        uid: 1000,
        euid: 1000,
        namespaces: { mnt: nsViaUser, pid: nsViaUser, net: nsViaUser, ipc: nsViaUser, uts: nsViaUser, user: ok, cgroup: nsViaUser, time: nsViaUser },
        fanotify: eperm,
        lsm: { ...eperm, source: "securityfs mounted in a private mount namespace" },
        bpf: { btf: ok, lsm: eperm, tpBtf: eperm, cgroupDevice: eperm, cgroupSockAddr: eperm, ringbuf: eperm },
      },
      { ...facts, uid: 1000 },
    );
    expect(h.root).toBe(false);
    expect(Object.values(h.namespaces).every(Boolean)).toBe(true);
    expect(h.lsm).toMatchObject({ active: [], bpfListed: false });
    expect(reason(h, "fanotify")?.reason).toBe("fanotify_init(FAN_CLASS_CONTENT) failed: EPERM (Operation not permitted) — needs root; run the probe as root");
    expect(reason(h, "landlock")?.usable).toBe(true);
    expect(h.notes?.join("\n")).toContain("not root (uid 1000)");
    expect(h.notes?.join("\n")).toContain("namespaces other than user could only be created inside a new user namespace");
    expect(h.failures).toMatchObject({ fanotify: "EPERM (Operation not permitted)", "bpf.tpBtf": "EPERM (Operation not permitted)" });
  });
});

describe("palisade probe", () => {
  const run = runCli;

  kernelIt("prints the features table and every backend with its reason", [LINUX, ROOT], async () => {
    const h = await probeHost();
    const r = await run(["probe"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Palisade probe: Linux \S+ \(\S+\), as root\n\nFEATURE +PRESENT +DETAIL\n/);
    for (const row of ["namespaces", "user namespace", "cgroups", "seccomp filter", "seccomp user notification", "Landlock", "BPF LSM listed", "BPF LSM loadable", "BTF", "AppArmor", "runc", "crun", "root"]) {
      expect(r.out).toMatch(new RegExp(`^${row} {2,}`, "m"));
    }
    expect(r.out).toMatch(new RegExp(`^Landlock +ABI ${h.landlock.abi} `, "m"));
    expect(r.out).toMatch(new RegExp(`^cgroups +${h.cgroup.mode} `, "m"));
    for (const b of h.backends) expect(r.out).toContain(`${b.name.padEnd(12)}  ${b.usable ? "yes" : "no "}     ${b.reason}\n`);
  });

  kernelIt("--json prints HostFeatures", [LINUX, ROOT], async () => {
    const r = await run(["probe", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(JSON.stringify(await probeHost())));
  });

  kernelIt("as a non-root user, still prints what it can measure and says what needs root", [LINUX, ROOT], () => {
    // From source: dist/ may be stale, and building it is not this test's job.
    const r = runSync(join(repoRoot(), "bin", "palisade"), ["probe"], { uid: NOBODY, gid: NOBODY, cwd: "/", env: { ...process.env, PALISADE_FROM_SOURCE: "1" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("), NOT as root\n");
    expect(r.stdout).toMatch(/^landlock +yes /m);
    expect(r.stdout).toMatch(/^fanotify +no +fanotify_init\(FAN_CLASS_CONTENT\) failed: EPERM .* needs root; run the probe as root$/m);
    expect(r.stdout).toContain("not root (uid 65534): loading BPF programs");
  }, 60_000);
});

// The probe binary itself runs as non-root without crashing (the CLI test above relies on it).
kernelIt("palisade-probe prints valid JSON as uid 65534", [LINUX, ROOT], () => {
  const r = runSync(PROBE, [], { uid: NOBODY, gid: NOBODY });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ uid: NOBODY, landlock: { ok: true } });
});
