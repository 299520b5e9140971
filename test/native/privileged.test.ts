/**
 * The closed list of privileged operations (src/native/PRIVILEGED.md), one
 * describe per id: as root each works, agrees with an independent tool and
 * leaves nothing behind; as uid 65534 each fails with EPERM and the feature
 * is reported absent (fail closed). Then two guards that the list is closed:
 * a source scan, and strace of a real probe run.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { buildHostFeatures, rawProbeSchema, readHostFacts, type RawProbe } from "../../src/native/probe.js";
import { cleanup, command, NATIVE_SRC, NOBODY, PROBE, runSync, tempDir } from "./helpers.js";
import { bpftoolFeatures, lsmListViaMount, loadedBpfNames, unshareWorks } from "./independent.js";

const BPFTOOL = command("bpftool", "/usr/sbin/bpftool");
const STRACE = command("strace");
const UTIL_LINUX = command("unshare");

function probeJson(args: { uid?: number } = {}): RawProbe {
  const r = runSync(PROBE, [], args.uid === undefined ? {} : { uid: args.uid, gid: args.uid });
  expect(r.code).toBe(0);
  return rawProbeSchema.parse(JSON.parse(r.stdout));
}

/** The probe run in a private mount namespace where securityfs is not mounted, optionally as nobody. */
function probeWithoutSecurityfs(asNobody: boolean): { raw: RawProbe; mountsAfter: string } {
  const run = asNobody ? `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups ${PROBE}` : PROBE;
  const script = `umount /sys/kernel/security 2>/dev/null; ${run}; echo "---"; grep -c ' /sys/kernel/security ' /proc/self/mounts || true`;
  const out = execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" });
  const [json, after] = out.split("---\n");
  return { raw: rawProbeSchema.parse(JSON.parse(json ?? "")), mountsAfter: (after ?? "").trim() };
}

const NS_FLAGS: Record<string, string> = { mnt: "--mount", pid: "--pid", net: "--net", ipc: "--ipc", uts: "--uts", cgroup: "--cgroup", time: "--time" };

describe("P1 unshare(CLONE_NEW*) in a throwaway child", () => {
  kernelIt("as root: creates each namespace util-linux unshare can create", [LINUX, ROOT, UTIL_LINUX], () => {
    const raw = probeJson();
    for (const [ns, flag] of Object.entries(NS_FLAGS)) expect(raw.namespaces[ns as keyof RawProbe["namespaces"]].ok, ns).toBe(unshareWorks(flag));
  });

  kernelIt("as uid 65534: direct creation fails with EPERM; the user-namespace route matches util-linux", [LINUX, ROOT, UTIL_LINUX], () => {
    const raw = probeJson({ uid: NOBODY });
    for (const [ns, flag] of Object.entries(NS_FLAGS)) {
      const r = raw.namespaces[ns as keyof RawProbe["namespaces"]];
      expect(r, ns).toMatchObject({ ok: false, errno: "EPERM" });
      const viaUserns = spawnSync("unshare", ["--user", flag, "true"], { uid: NOBODY, gid: NOBODY, stdio: "ignore" }).status === 0;
      expect(r.viaUserns === true, ns).toBe(viaUserns);
    }
  });
});

describe("P2 mount securityfs in a private mount namespace", () => {
  kernelIt("as root: reads the LSM list without securityfs mounted, and leaves no mount behind", [LINUX, ROOT, UTIL_LINUX], () => {
    const hostBefore = readFileSync("/proc/mounts", "utf8");
    const { raw, mountsAfter } = probeWithoutSecurityfs(false);
    expect(raw.lsm).toMatchObject({ ok: true, source: "securityfs mounted in a private mount namespace" });
    expect(raw.lsm.list?.split(",")).toEqual(lsmListViaMount());
    expect(mountsAfter).toBe("0"); // not even in the namespace the probe ran in
    expect(readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes("securityfs"))).toEqual(hostBefore.split("\n").filter((l) => l.includes("securityfs")));
  });

  kernelIt("as uid 65534: fails with EPERM and reports the LSM list unknown, bpf and AppArmor not active", [LINUX, ROOT, UTIL_LINUX], async () => {
    const { raw } = probeWithoutSecurityfs(true);
    expect(raw.lsm).toMatchObject({ ok: false, errno: "EPERM" });
    const h = buildHostFeatures(raw, { ...(await readHostFacts()), uid: NOBODY });
    expect(h.lsm).toMatchObject({ active: [], bpfListed: false, apparmor: false });
    expect(h.notes?.join("\n")).toContain("securityfs is not mounted at /sys/kernel/security and mounting it failed: EPERM");
  });
});

describe("P3 bpf(BPF_PROG_LOAD) of never-attached two-instruction programs", () => {
  kernelIt("as root: no pal_probe_* program is left loaded afterwards", [LINUX, ROOT, BPFTOOL], () => {
    probeJson();
    expect(loadedBpfNames().filter((n) => n.startsWith("pal_probe"))).toEqual([]);
  });

  kernelIt("as uid 65534: every load fails with EPERM and is reported absent", [LINUX, ROOT], async () => {
    const raw = probeJson({ uid: NOBODY });
    for (const k of ["lsm", "tpBtf", "cgroupDevice", "cgroupSockAddr"] as const) expect(raw.bpf[k], k).toMatchObject({ ok: false, errno: "EPERM" });
    const h = buildHostFeatures(raw, { ...(await readHostFacts()), uid: NOBODY });
    expect(h.bpf).toMatchObject({ tpBtf: false, cgroupDevice: false, cgroupSockAddr: false });
    expect(h.lsm.bpfLoadable).toBe(false);
    expect(h.backends.find((b) => b.name === "cgroup-bpf")?.usable).toBe(false);
  });
});

describe("P4 bpf(BPF_MAP_CREATE) of a one-page ring buffer", () => {
  kernelIt("as root: agrees with bpftool, and no pal_probe_rb map is left", [LINUX, ROOT, BPFTOOL], () => {
    expect(probeJson().bpf.ringbuf.ok).toBe(bpftoolFeatures().maps.has("ringbuf"));
    expect(loadedBpfNames()).not.toContain("pal_probe_rb");
  });

  kernelIt("as uid 65534: fails with EPERM", [LINUX, ROOT], () => {
    expect(probeJson({ uid: NOBODY }).bpf.ringbuf).toMatchObject({ ok: false, errno: "EPERM" });
  });
});

describe("P5 fanotify_init(FAN_CLASS_CONTENT) without marks", () => {
  const dir = tempDir("fan");
  afterAll(() => cleanup(dir));
  /** The same call compiled separately: exit 0 when it works. */
  function independentFanotify(): boolean {
    const bin = join(dir, "fan");
    execFileSync("gcc", ["-x", "c", "-o", bin, "-"], {
      input: "#include <sys/fanotify.h>\n#include <fcntl.h>\nint main(void){return fanotify_init(FAN_CLASS_CONTENT, O_RDONLY) < 0;}\n",
    });
    return spawnSync(bin).status === 0;
  }

  kernelIt("as root: agrees with a separately compiled fanotify_init", [LINUX, ROOT], () => {
    expect(probeJson().fanotify.ok).toBe(independentFanotify());
  });

  kernelIt("as uid 65534: fails with EPERM and fanotify is reported unusable", [LINUX, ROOT], async () => {
    const raw = probeJson({ uid: NOBODY });
    expect(raw.fanotify).toMatchObject({ ok: false, errno: "EPERM" });
    const h = buildHostFeatures(raw, { ...(await readHostFacts()), uid: NOBODY });
    expect(h.backends.find((b) => b.name === "fanotify")?.usable).toBe(false);
  });
});

describe("the list is closed", () => {
  const PRIVILEGED_CALL =
    /\b(mount|umount2?|unshare|setns|fanotify_init|fanotify_mark|pivot_root|chroot|init_module|finit_module|delete_module|ptrace|setuid|setgid|setresuid|setresgid|setgroups|capset|reboot|kexec_load|iopl|ioperm|mknod|mknodat|setrlimit|prlimit|sethostname|setdomainname|settimeofday|clock_settime|swapon|acct|quotactl|perf_event_open|open_by_handle_at|keyctl)\s*\(|\bBPF_(PROG_LOAD|MAP_CREATE|LINK_CREATE|PROG_ATTACH|RAW_TRACEPOINT_OPEN|OBJ_PIN|BTF_LOAD|MAP_UPDATE_ELEM|PROG_RUN|PROG_TEST_RUN)\b/g;
  /** Privileged calls in a C file, with comments and string literals removed. */
  function privilegedCalls(file: string): string[] {
    const code = readFileSync(join(NATIVE_SRC, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "")
      .replace(/"(?:[^"\\\n]|\\.)*"/g, '""');
    return [...code.matchAll(PRIVILEGED_CALL)].map((m) => (m[1] ?? `BPF_${m[2]}`).trim());
  }
  const sources = readdirSync(NATIVE_SRC).filter((f) => /\.[ch]$/.test(f));

  it("the launcher's sources make no privileged call", () => {
    for (const f of ["launcher.c", "launchconf.c", "launchconf.h", "landlock_abi.h"]) expect(privilegedCalls(f), f).toEqual([]);
  });

  it("the probe's sources make only the listed ones (P1 unshare, P2 mount, P3 BPF_PROG_LOAD, P4 BPF_MAP_CREATE, P5 fanotify_init)", () => {
    const found = new Set(sources.filter((f) => !f.startsWith("launch") && f !== "landlock_abi.h").flatMap(privilegedCalls));
    expect([...found].sort()).toEqual(["BPF_MAP_CREATE", "BPF_PROG_LOAD", "fanotify_init", "mount", "unshare"]);
  });

  it("PRIVILEGED.md and this file cover the same ids", () => {
    const doc = readFileSync(join(NATIVE_SRC, "PRIVILEGED.md"), "utf8");
    const ids = [...doc.matchAll(/^\| (P\d+) \|/gm)].map((m) => m[1]);
    const tested = [...readFileSync(new URL(import.meta.url), "utf8").matchAll(/^describe\("(P\d+) /gm)].map((m) => m[1]);
    expect(ids).toEqual(["P1", "P2", "P3", "P4", "P5"]);
    expect(tested).toEqual(ids);
  });

  kernelIt("strace of a real run: only the listed privileged syscalls, unshare and mount only in children", [LINUX, ROOT, STRACE], () => {
    const dir = tempDir("strace");
    try {
      const watched = "execve,mount,umount2,unshare,setns,bpf,fanotify_init,fanotify_mark,pivot_root,chroot,setuid,setgid,setresuid,setresgid,capset,setrlimit,prlimit64,init_module,finit_module,ptrace,perf_event_open";
      execFileSync("strace", ["-qq", "-ff", "-o", join(dir, "t"), "-e", `trace=${watched}`, PROBE], { stdio: ["ignore", "ignore", "pipe"] });
      const traces = readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8"));
      const main = traces.find((t) => t.includes("execve("));
      const children = traces.filter((t) => t !== main);
      const calls = (t: string) => [...t.matchAll(/^(\w+)\((\w*)/gm)].map((m) => (m[1] === "bpf" ? `bpf ${m[2]}` : (m[1] as string)));
      expect(new Set(calls(main ?? "")), "main process").toEqual(new Set(["execve", "prlimit64", "fanotify_init", "bpf BPF_PROG_LOAD", "bpf BPF_MAP_CREATE"]));
      // prlimit64 is glibc's start-up query of RLIMIT_STACK (no new limit): check it only reads.
      expect(main).toMatch(/^prlimit64\(0, RLIMIT_STACK, NULL, /m);
      const childCalls = new Set(children.flatMap(calls));
      for (const c of childCalls) expect(["unshare", "mount"]).toContain(c);
      expect(childCalls.has("unshare")).toBe(true);
    } finally {
      cleanup(dir);
    }
  });
});
