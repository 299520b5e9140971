import { afterAll, describe, expect, it } from "vitest";
import { compileWorkload, type CompileWorkloadOptions } from "../../src/compiler/index.js";
import { PalisadeError } from "../../src/core/errors.js";
import { compilePathsFor, features, IMAGE_TREE, parse, tempTree, type ManifestOptions } from "./helpers.js";

const tree = tempTree(IMAGE_TREE);
afterAll(() => tree.cleanup());

function compile(m: ManifestOptions = {}, opts: Partial<CompileWorkloadOptions> = {}, f = features()) {
  const { workload, policies } = parse(m);
  return compileWorkload(workload, policies, f, {
    id: "default.demo",
    image: { entrypoint: [], cmd: ["/bin/sh"], env: ["PATH=/bin", "LANG=C"], workingDir: "/", user: "" },
    paths: compilePathsFor(tree.root),
    idMap: { hostId: 1_000_000_000, size: 65536 },
    ...opts,
  });
}

describe("OCI spec", () => {
  it("gives every workload its own pid, ipc, uts, mount, cgroup, network and user namespaces", () => {
    const { spec, userns } = compile();
    expect(spec.linux.namespaces.map((n) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
    expect(spec.linux.namespaces.every((n) => n.path === undefined)).toBe(true);
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1_000_000_000, size: 65536 }]);
    expect(userns.enabled).toBe(true);
  });

  it("runs without a user namespace when the kernel has none or no id range was given, and says why", () => {
    const a = compile({}, { idMap: undefined as never });
    expect(a.spec.linux.namespaces.some((n) => n.type === "user")).toBe(false);
    expect(a.userns.reason).toMatch(/no host id range/);
    const b = compile({}, {}, features({ userns: false }));
    expect(b.userns).toMatchObject({ enabled: false, reason: expect.stringMatching(/cannot create user namespaces/) });
  });

  it("turns the user namespace off when network capabilities meet the host-made network namespace", () => {
    const caps = "    securityContext: {capabilities: {add: [NET_BIND_SERVICE]}}\n";
    const withNet = compile({ container: caps, spec: "  interfaces:\n  - network\n" }, { netnsPath: "/run/netns/palisade-net0" });
    expect(withNet.userns).toMatchObject({ enabled: false, reason: expect.stringMatching(/granted net_bind_service and joins the host-made network namespace/) });
    // Without the network interface runc makes the netns inside the user namespace, where the capability counts.
    expect(compile({ container: caps }).userns.enabled).toBe(true);
  });

  it("joins a prepared network namespace only when given one (never the host's)", () => {
    const { spec } = compile({ spec: "  interfaces:\n  - network\n" }, { netnsPath: "/run/netns/palisade-default.demo" });
    expect(spec.linux.namespaces.find((n) => n.type === "network")).toEqual({ type: "network", path: "/run/netns/palisade-default.demo" });
    expect(spec.mounts.some((m) => m.destination === "/etc/resolv.conf")).toBe(true);
    const plain = compile();
    expect(plain.spec.linux.namespaces.find((n) => n.type === "network")).toEqual({ type: "network" });
    expect(plain.spec.mounts.some((m) => m.destination === "/etc/resolv.conf")).toBe(false);
  });

  it("has a read-only root, no_new_privs, and every capability set empty by default", () => {
    const { spec, capabilities } = compile();
    expect(spec.root).toEqual({ path: "rootfs", readonly: true });
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(capabilities).toEqual([]);
    for (const set of ["bounding", "effective", "inheritable", "permitted", "ambient"] as const) expect(spec.process.capabilities[set]).toEqual([]);
  });

  it("grants capabilities.add in every set (ambient too, so a non-root user keeps them) unless a policy blocks them", () => {
    const container = "    securityContext:\n      capabilities:\n        add: [NET_BIND_SERVICE, NET_RAW]\n";
    const granted = compile({ container });
    expect(granted.spec.process.capabilities.ambient).toEqual(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
    expect(granted.spec.process.capabilities.bounding).toEqual(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
    const blocked = compile({ container, policies: ["  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n  action: Block\n"] });
    expect(blocked.spec.process.capabilities.effective).toEqual(["CAP_NET_BIND_SERVICE"]);
    expect(blocked.enforced.map((e) => e.how)).toContain("dropped from every set");
    const allowList = compile({ container, policies: ["  capabilities:\n    matchCapabilities:\n    - capability: net_bind_service\n  action: Allow\n"] });
    expect(allowList.capabilities).toEqual(["net_bind_service"]);
    expect(allowList.backends.capabilities.notes.join("\n")).toMatch(/net_raw: requested by the manifest, dropped: not in the capability allow-list/);
  });

  it("masks and write-protects the /proc and /sys paths container engines do", () => {
    const { spec } = compile();
    for (const p of ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", "/proc/acpi", "/proc/asound"]) {
      expect(spec.linux.maskedPaths).toContain(p);
    }
    expect(spec.linux.readonlyPaths).toEqual(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
  });

  it("mounts a minimal /dev, tmpfs /tmp, and hides sysfs unless an interface needs it", () => {
    const { spec } = compile();
    const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
    expect(byDest.get("/dev")).toMatchObject({ type: "tmpfs" });
    expect(byDest.get("/dev/pts")).toMatchObject({ type: "devpts" });
    expect(byDest.get("/dev/shm")).toMatchObject({ type: "tmpfs" });
    expect(byDest.get("/dev/mqueue")).toMatchObject({ type: "mqueue" });
    expect(byDest.get("/tmp")).toMatchObject({ type: "tmpfs", options: expect.arrayContaining(["nosuid", "nodev"]) });
    expect(byDest.get("/sys")).toMatchObject({ type: "tmpfs", options: expect.arrayContaining(["ro"]) });
    expect(spec.linux.devices).toEqual([]);
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: "rwm" }]);
    const observe = compile({ spec: "  interfaces:\n  - hardware-observe\n" });
    expect(observe.spec.mounts.find((m) => m.destination === "/sys")).toMatchObject({ type: "sysfs", options: expect.arrayContaining(["ro"]) });
  });

  it("turns resources into cgroup limits, with a default pids limit", () => {
    const a = compile({ container: "    resources:\n      limits:\n        cpu: 500m\n        memory: 64Mi\n        pids: 50\n" });
    expect(a.spec.linux.resources.cpu).toEqual({ quota: 50_000, period: 100_000 });
    expect(a.spec.linux.resources.memory).toEqual({ limit: 64 * 1024 * 1024, swap: 64 * 1024 * 1024 });
    expect(a.spec.linux.resources.pids).toEqual({ limit: 50 });
    expect(compile().spec.linux.resources.pids).toEqual({ limit: 1024 });
    expect(a.spec.linux.cgroupsPath).toBe("/palisade/default.demo");
  });

  it("starts the launcher with the workload's program after it, mounted read-only", () => {
    const { spec, launch, launchText } = compile();
    expect(spec.process.args).toEqual(["/.palisade/launch", "/.palisade/launch.conf", "--", "/bin/sh", "-c", "echo hi"]);
    expect(spec.mounts.find((m) => m.destination === "/.palisade/launch")).toMatchObject({ type: "bind", source: "/opt/palisade/palisade-launch", options: expect.arrayContaining(["ro", "nosuid"]) });
    expect(spec.mounts.find((m) => m.destination === "/.palisade/launch.conf")?.options).toEqual(expect.arrayContaining(["ro", "noexec"]));
    expect(launch).not.toBeNull();
    expect(launchText).toMatch(/^palisade-launch 1\n/);
  });

  it("runs the program directly when Landlock is unusable", () => {
    const { spec, launch } = compile({}, {}, features({ landlock: 0 }));
    expect(launch).toBeNull();
    expect(spec.process.args).toEqual(["/bin/sh", "-c", "echo hi"]);
    expect(spec.mounts.some((m) => m.destination.startsWith("/.palisade"))).toBe(false);
  });

  it("takes the user from runAsUser/runAsGroup, else the image (names looked up in its /etc/passwd)", () => {
    expect(compile({ container: "    securityContext:\n      runAsUser: 1000\n      runAsGroup: 2000\n" }).spec.process.user).toMatchObject({ uid: 1000, gid: 2000 });
    expect(compile({}, { image: { user: "app" } }).spec.process.user).toMatchObject({ uid: 1000, gid: 1000 });
    expect(compile({}, { image: { user: "7:8" } }).spec.process.user).toMatchObject({ uid: 7, gid: 8 });
    expect(() => compile({}, { image: { user: "nosuch" } })).toThrow(/not in its \/etc\/passwd/);
    expect(() => compile({ container: "    securityContext:\n      runAsNonRoot: true\n" })).toThrow(PalisadeError);
  });

  it("gives writable storage only through declared volumes", () => {
    const { spec } = compile({
      container: "    volumeMounts:\n    - {name: scratch, mountPath: /data}\n    - {name: cache, mountPath: /cache}\n    - {name: host, mountPath: /host, readOnly: true}\n",
      spec: "  volumes:\n  - name: scratch\n    emptyDir: {}\n  - name: cache\n    emptyDir: {medium: Memory, sizeLimit: 1Mi}\n  - name: host\n    hostPath: {path: /srv/data}\n",
    });
    const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
    expect(byDest.get("/data")).toMatchObject({ type: "bind", source: "/var/lib/palisade/volumes/default.demo/scratch", options: expect.arrayContaining(["rw", "nosuid", "nodev"]) });
    expect(byDest.get("/cache")).toMatchObject({ type: "tmpfs", options: expect.arrayContaining([`size=${1024 * 1024}`]) });
    expect(byDest.get("/host")).toMatchObject({ type: "bind", source: "/srv/data", options: expect.arrayContaining(["ro"]) });
  });

  it("merges the image's environment with the container's and follows Kubernetes' command/args rules", () => {
    const { spec } = compile({ container: "    env:\n    - {name: LANG, value: C.UTF-8}\n" });
    expect(spec.process.env).toEqual(["PATH=/bin", "LANG=C.UTF-8"]);
    const { workload, policies } = parse({ command: [] });
    const c = compileWorkload({ ...workload, containers: [{ ...workload.containers[0]!, command: [], args: ["-c", "true"] }] }, policies, features(), {
      id: "default.demo",
      image: { entrypoint: ["/bin/sh"], cmd: ["-l"] },
      paths: compilePathsFor(tree.root),
    });
    expect(c.spec.process.args.slice(3)).toEqual(["/bin/sh", "-c", "true"]);
  });

  it("sets hostname, oom score, rlimits and annotations", () => {
    const { spec } = compile();
    expect(spec.hostname).toBe("demo");
    expect(spec.process.oomScoreAdj).toBeGreaterThan(0);
    expect(spec.process.rlimits).toContainEqual({ type: "RLIMIT_CORE", soft: 0, hard: 0 });
    expect(spec.annotations["dev.palisade.workload"]).toBe("default/demo");
    expect(spec.linux.seccomp?.defaultAction).toBe("SCMP_ACT_ERRNO");
  });
});
