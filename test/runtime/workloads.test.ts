/**
 * Real containers: busybox workloads run by runc under the compiled
 * confinement (namespaces, user namespace, read-only root, no capabilities,
 * seccomp, Landlock through the launcher). Every assertion looks at what the
 * workload itself observes.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { isMountPoint } from "../../src/runtime/bundle.js";
import { inspectWorkload, listWorkloads, removeWorkload, runWorkload, stopWorkload, type RunOptions } from "../../src/runtime/workloads.js";
import { renderInspect } from "../../src/cli/inspectCommand.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { busyboxWorkload, CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "./runtimeFixture.js";

const previous = process.env.PALISADE_DATA_DIR;
let f: RuntimeFixture | undefined;
beforeAll(async () => {
  if (unmet(CONTAINERS) === null) f = await setupRuntime();
}, 120_000);
afterAll(() => teardownRuntime(f, previous));

function run(script: string, o: Parameters<typeof busyboxWorkload>[2] & Omit<Partial<RunOptions>, "policies" | "name"> = {}) {
  const { workload, policies } = busyboxWorkload(f!.image, script, o);
  const { name: _n, containerYaml: _c, spec: _s, policies: _p, ...rest } = o;
  return runWorkload({ workload, policies, features: f!.features, store: f!.store, stdio: "pipe", timeoutMs: 30_000, ...rest });
}

const status = (r: { stdout: string }, field: string) => new RegExp(`^${field}:\\s*(\\S+)`, "m").exec(r.stdout)?.[1];

describe("runWorkload (runc + busybox)", () => {
  kernelIt("starts, prints, and exits with the workload's status", CONTAINERS, async () => {
    const r = await run("echo hello; echo oops >&2; exit 3");
    expect(r).toMatchObject({ exitCode: 3, stdout: "hello\n", stderr: "oops\n", timedOut: false });
  });

  kernelIt("keeps the root read-only; /tmp and declared volumes are writable", CONTAINERS, async () => {
    const r = await run("touch /x; touch /etc/x; touch /tmp/t && echo tmp-ok; touch /data/d && echo data-ok; touch /ro/r", {
      containerYaml: "    volumeMounts:\n    - {name: data, mountPath: /data}\n    - {name: ro, mountPath: /ro, readOnly: true}\n",
      spec: "  volumes:\n  - name: data\n    emptyDir: {}\n  - name: ro\n    emptyDir: {medium: Memory}\n",
    });
    expect(r.stderr).toContain("touch: /x: Read-only file system");
    expect(r.stderr).toContain("touch: /etc/x: Read-only file system");
    expect(r.stderr).toContain("touch: /ro/r: Read-only file system");
    expect(r.stdout).toBe("tmp-ok\ndata-ok\n");
  });

  kernelIt("drops every capability, sets no_new_privs, applies seccomp, maps root to an unprivileged host user", CONTAINERS, async () => {
    const r = await run("cat /proc/self/status; cat /proc/self/uid_map; id -u");
    for (const cap of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect(status(r, cap), cap).toBe("0000000000000000");
    expect(status(r, "NoNewPrivs")).toBe("1");
    expect(status(r, "Seccomp")).toBe("2");
    expect(r.stdout).toMatch(/^\s+0\s+1000\d{6}\s+65536$/m);
    expect(r.confinement.userNamespace.enabled).toBe(true);
  });

  kernelIt("refuses namespace and mount syscalls, and a policy's blocked syscall", CONTAINERS, async () => {
    const r = await run("unshare -r true; echo unshare=$?; mount -t tmpfs none /tmp; echo mount=$?; touch /tmp/f; chmod 600 /tmp/f; echo chmod=$?", {
      policies: ["  syscalls:\n    matchSyscalls:\n    - syscall: [chmod, fchmodat]\n  action: Block\n"],
    });
    expect(r.stdout).toMatch(/unshare=1\nmount=(1|255)\nchmod=1/);
    expect(r.stderr).toMatch(/unshare.*Operation not permitted/);
    expect(r.stderr).toMatch(/chmod.*Operation not permitted/);
  });

  kernelIt("refuses the socket() of a blocked protocol, and raw sockets by default", CONTAINERS, async () => {
    // Without the network interface a TCP socket can be made, but Landlock refuses every connect.
    const open = await run("nc 127.0.0.1 1 </dev/null");
    expect(open.stderr).toMatch(/can't connect to remote host \(127\.0\.0\.1\): Permission denied/);
    const blocked = await run("nc 127.0.0.1 1 </dev/null; ping -c 1 -W 1 127.0.0.1", { policies: ["  network:\n    matchProtocols:\n    - protocol: tcp\n  action: Block\n"] });
    expect(blocked.stderr).toMatch(/nc: socket: Operation not permitted/);
    expect(blocked.stderr).toMatch(/ping: .*(Operation not permitted|permission denied)/i);
    expect(blocked.confinement.seccomp.protocols).toMatchObject({ tcp: "block", udp: "allow", raw: "block" });
  });

  kernelIt("enforces a file Block with the Landlock complement: the file is unreadable, its neighbours are not", CONTAINERS, async () => {
    const r = await run("cat /etc/passwd; echo passwd=$?; cat /etc/group >/dev/null; echo group=$?; ls /etc >/dev/null; echo ls=$?", {
      policies: ["  file:\n    matchPaths:\n    - path: /etc/passwd\n  action: Block\n"],
    });
    expect(r.stdout).toBe("passwd=1\ngroup=0\nls=0\n");
    expect(r.stderr).toContain("cat: can't open '/etc/passwd': Permission denied");
    expect(r.confinement.enforced).toEqual([expect.objectContaining({ backend: "landlock", rule: "Block file /etc/passwd" })]);
  });

  kernelIt("audit mode lets the same rule through and says so", CONTAINERS, async () => {
    const r = await run("cat /etc/passwd >/dev/null; echo passwd=$?", { auditOnly: true, policies: ["  file:\n    matchPaths:\n    - path: /etc/passwd\n  action: Block\n"] });
    expect(r.stdout).toBe("passwd=0\n");
    expect(r.confinement.audited).toEqual([expect.objectContaining({ rule: "Audit file /etc/passwd" })]);
  });

  kernelIt("fails closed before anything is created", CONTAINERS, async () => {
    let err: unknown;
    try {
      await run("true", { name: "unenforceable", policies: ["  file:\n    matchPatterns:\n    - pattern: /etc/*\n  action: Block\n"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PalisadeError);
    expect((err as PalisadeError).code).toBe("COMPILE_UNSUPPORTED");
    const dir = join(f!.dataDir, "workloads", "default.unenforceable");
    expect(existsSync(join(dir, "rootfs")) && isMountPoint(join(dir, "rootfs"))).toBe(false);
    expect(existsSync(join(dir, "config.json"))).toBe(false);
  });

  kernelIt("hides sysfs without an interface; hardware-observe mounts it read-only", CONTAINERS, async () => {
    const none = await run("ls /sys | wc -l");
    expect(none.stdout.trim()).toBe("0");
    const observe = await run("ls /sys/class >/dev/null && echo class-ok; touch /sys/x", { spec: "  interfaces:\n  - hardware-observe\n" });
    expect(observe.stdout).toBe("class-ok\n");
    expect(observe.stderr).toMatch(/Read-only file system/);
  });

  kernelIt("network: a private namespace with a veth, an address and a default route; TCP bind only on granted ports", CONTAINERS, async () => {
    const r = await run("ip -4 addr show eth0; ip route; nc -l -p 9090 -w 1; echo bind9090=$?", {
      name: "net",
      spec: "  interfaces:\n  - network\n  - name: network-bind\n    ports: [8080]\n",
    });
    expect(r.stdout).toMatch(/inet 10\.89\.\d+\.\d+\/30/);
    expect(r.stdout).toMatch(/^default via 10\.89\.\d+\.\d+ dev eth0/m);
    expect(r.stdout).toContain("bind9090=1");
    expect(r.stderr).toMatch(/bind: Permission denied/);
    // The namespace and slot are gone after the run.
    expect(readdirSync("/run/netns").filter((n) => n.startsWith("palisade-net"))).toEqual([]);
  });

  kernelIt("without the network interface there is only loopback", CONTAINERS, async () => {
    const r = await run("ip -o link | cut -d: -f2");
    expect(r.stdout.trim().split("\n").map((s) => s.trim())).toEqual(["lo"]);
  });

  kernelIt("ps and inspect show an exited workload and its confinement; remove forgets it", CONTAINERS, async () => {
    await run("exit 4", { name: "shown", policies: ["  file:\n    matchPaths:\n    - path: /etc/group\n  action: Block\n"] });
    const all = await listWorkloads();
    expect(all.find((v) => v.state.name === "shown")).toMatchObject({ status: "exited", state: { exitCode: 4 } });
    const v = await inspectWorkload("shown");
    const text = renderInspect(v);
    expect(text).toMatch(/^Status: +exited, exit 4$/m);
    expect(text).toMatch(/^Namespaces: +pid, ipc, uts, mount, cgroup, network, user$/m);
    expect(text).toMatch(/^Capabilities: none/m);
    expect(text).toMatch(/^Seccomp: +default SCMP_ACT_ERRNO\(EPERM\)/m);
    expect(text).toMatch(/^ {2}landlock +Block file \/etc\/group +shown\.yaml:\d+:\d+ +complement/m);
    expect(text).toMatch(/^ {2}\/\.palisade\/launch +bind/m);
    await removeWorkload("shown");
    expect((await listWorkloads()).some((x) => x.state.name === "shown")).toBe(false);
  });

  kernelIt("stop ends a running workload (SIGTERM first) and the supervisor records its status", CONTAINERS, async () => {
    const running = run('trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done', { name: "looper" });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const v = await listWorkloads();
      if (v.find((x) => x.state.name === "looper")?.state.status === "running") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopWorkload("looper", { graceMs: 5_000 });
    const r = await running;
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe("ready\ngot-term\n");
    const state = JSON.parse(readFileSync(join(f!.dataDir, "workloads", "default.looper", "state.json"), "utf8")) as { status: string; exitCode: number };
    expect(state).toMatchObject({ status: "exited", exitCode: 7 });
  });

  kernelIt("a timeout kills the workload", CONTAINERS, async () => {
    const r = await run("sleep 30", { name: "slow", timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
  });
});
