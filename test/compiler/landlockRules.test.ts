import { afterAll, describe, expect, it } from "vitest";
import { compileLandlock, type InterfaceGrants, type LandlockInputs, type MountPoint } from "../../src/compiler/index.js";
import { encodeLaunchConfig, requiredAbi } from "../../src/native/launchConfig.js";
import { combinePolicies } from "../../src/policy/index.js";
import { IMAGE_TREE, parse, tempTree } from "./helpers.js";

const tree = tempTree(IMAGE_TREE);
afterAll(() => tree.cleanup());

const MOUNTS: MountPoint[] = [
  { destination: "/proc", writable: false, isDir: true },
  { destination: "/dev", writable: true, isDir: true },
  { destination: "/tmp", writable: true, isDir: true },
  { destination: "/data", writable: true, isDir: true },
  { destination: "/srv", writable: false, isDir: true },
  { destination: "/etc/hosts", writable: false, isDir: false },
];
const NO_GRANTS: InterfaceGrants = { network: false, bindPorts: [], devices: [], mounts: [], sysfs: false, summary: [] };

function landlock(policies: string[], over: Partial<LandlockInputs> = {}) {
  const { workload, policies: ps } = parse({ policies });
  return compileLandlock({
    policy: combinePolicies(ps, workload.labels),
    abi: 7,
    available: true,
    unavailableReason: "",
    view: { root: tree.root, mounts: MOUNTS },
    rootReadOnly: true,
    grants: NO_GRANTS,
    volumes: [{ destination: "/data", readOnly: false }],
    ...over,
  });
}

const fileBlock = (path: string, extra = "") => `  file:\n    matchPaths:\n    - path: ${path}\n${extra}  action: Block\n`;

describe("Landlock rules from policy", () => {
  it("compiles a Block on a rootfs file as the complement, with a valid launcher config", () => {
    const r = landlock([fileBlock("/etc/shadow")]);
    expect(r.unsupported).toEqual([]);
    expect(r.enforced).toEqual([expect.objectContaining({ backend: "landlock", how: expect.stringMatching(/complement/) })]);
    const cfg = r.config!;
    expect(cfg.handledFs.length).toBe(16);
    expect(cfg.paths.find((p) => p.path === "/etc/shadow")).toBeUndefined();
    expect(cfg.paths.find((p) => p.path === "/etc/passwd")?.rights).toContain("read_file");
    expect(cfg.minAbi).toBe(requiredAbi(cfg));
    expect(() => encodeLaunchConfig(cfg)).not.toThrow();
  });

  it("needs no Landlock file rules for what the read-only root already enforces", () => {
    const r = landlock([fileBlock("/etc/passwd", "      readOnly: true\n"), fileBlock("/usr/bin/curl"), fileBlock("/srv/x", "      readOnly: true\n")]);
    expect(r.enforced.map((e) => [e.backend, e.how])).toEqual([
      ["mounts", "the root filesystem is read-only"],
      ["mounts", "/usr/bin/curl is not in the image and the read-only root cannot create it"],
      ["mounts", "/srv is mounted read-only"],
    ]);
    expect(r.config?.handledFs).toEqual([]);
  });

  it("reports what Landlock cannot express, with the reason", () => {
    const r = landlock([
      "  file:\n    matchPatterns:\n    - pattern: /etc/*.conf\n  action: Block\n",
      fileBlock("/etc/shadow", "      ownerOnly: true\n"),
      fileBlock("/etc/group", "      fromSource:\n      - path: /bin/cat\n"),
      fileBlock("/data/secret"),
      fileBlock("/tmp/x"),
    ]);
    expect(r.unsupported.map((u) => u.reason)).toEqual([
      expect.stringMatching(/^matchPatterns: .*BPF-LSM/),
      expect.stringMatching(/^ownerOnly: /),
      expect.stringMatching(/^fromSource: /),
      expect.stringMatching(/inside the writable mount \/data/),
      expect.stringMatching(/inside the writable mount \/tmp/),
    ]);
  });

  it("refuses to enumerate a writable root, and needs the backend", () => {
    expect(landlock([fileBlock("/etc/shadow")], { rootReadOnly: false }).unsupported[0]?.reason).toMatch(/root filesystem is writable/);
    const off = landlock([fileBlock("/etc/shadow")], { available: false, unavailableReason: "kernel has no Landlock" });
    expect(off.unsupported[0]?.reason).toMatch(/needs Landlock: kernel has no Landlock/);
    expect(off.config).toBeNull();
  });

  it("maps a file allow-list directly and adds the runtime's own needs, interfaces and volumes", () => {
    const r = landlock(["  file:\n    matchDirectories:\n    - dir: /etc/ssl/\n      recursive: true\n      readOnly: true\n    matchPaths:\n    - path: /var/log/app.log\n  action: Allow\n"]);
    const paths = new Map(r.config!.paths.map((p) => [p.path, p.rights]));
    expect([...(paths.get("/etc/ssl") ?? [])].sort()).toEqual(["read_dir", "read_file"]);
    expect(paths.get("/var/log/app.log")).toEqual(expect.arrayContaining(["read_file", "write_file", "truncate"]));
    for (const need of ["/dev/null", "/dev/urandom", "/dev/tty", "/tmp", "/proc", "/etc/hosts", "/data"]) expect(paths.has(need), need).toBe(true);
    expect(paths.has("/etc/shadow")).toBe(false);
    // Execution is not an allow-list here: "/" keeps execute, and only execute.
    expect(paths.get("/")).toEqual(["execute"]);
  });

  it("a process allow-list grants execute (+read) on the programs and the dynamic loader only", () => {
    const r = landlock(["  process:\n    matchPaths:\n    - path: /usr/bin/tool\n  action: Allow\n"]);
    const exec = r.config!.paths.filter((p) => p.rights.includes("execute")).map((p) => p.path);
    expect(exec.sort()).toEqual(["/lib/ld-linux-x86-64.so.2", "/usr/bin/tool"]);
    expect(r.config!.paths.find((p) => p.path === "/")?.rights).not.toContain("execute");
  });

  it("a non-recursive allowed directory becomes its direct files", () => {
    const r = landlock(["  file:\n    matchDirectories:\n    - dir: /etc/\n  action: Allow\n"]);
    const paths = new Map(r.config!.paths.map((p) => [p.path, p.rights]));
    expect(paths.has("/etc/passwd")).toBe(true);
    expect(paths.has("/etc/ssl/certs/ca.pem")).toBe(false);
    expect(paths.get("/etc")).toEqual(["read_dir"]);
  });

  it("a Block inside an allowed tree is carved out of it", () => {
    const r = landlock(["  file:\n    matchDirectories:\n    - dir: /etc/\n      recursive: true\n  action: Allow\n", fileBlock("/etc/shadow")]);
    const paths = new Map(r.config!.paths.map((p) => [p.path, p.rights]));
    expect(paths.has("/etc/shadow")).toBe(false);
    expect(paths.get("/etc")).not.toContain("read_file");
    expect(paths.get("/etc/passwd")).toContain("read_file");
  });

  it("restricts TCP: bind only on network-bind ports, connect only with the network interface", () => {
    const isolated = landlock([], { grants: { ...NO_GRANTS, bindPorts: [8080] } });
    expect(isolated.config).toMatchObject({ handledNet: ["bind_tcp", "connect_tcp"], ports: [{ right: "bind_tcp", port: 8080 }], handledFs: [] });
    const networked = landlock([], { grants: { ...NO_GRANTS, network: true } });
    expect(networked.config).toMatchObject({ handledNet: ["bind_tcp"], ports: [] });
    expect(networked.config?.scopes).toEqual(["abstract_unix_socket", "signal"]);
    expect(networked.config?.logNewExec).toBe(true);
  });

  it("on an old kernel handles only the rights it knows and drops the launcher when nothing is left", () => {
    const r = landlock([fileBlock("/etc/shadow")], { abi: 1 });
    expect(r.config?.handledFs).not.toContain("truncate");
    expect(r.config?.minAbi).toBe(1);
    expect(landlock([], { abi: 3 }).config).toBeNull();
  });

  it("ignores Audit rules (recorded elsewhere) and Allow rules of an audit-posture category", () => {
    const r = landlock(["  file:\n    matchPatterns:\n    - pattern: /etc/**\n  action: Audit\n"]);
    expect(r.unsupported).toEqual([]);
    expect(r.enforced).toEqual([]);
  });

  describe("truncate on read-only ground (shorter path walks per open)", () => {
    const allow = "  file:\n    matchDirectories:\n    - dir: /etc/\n      recursive: true\n      readOnly: true\n    - dir: /usr/\n      recursive: true\n      readOnly: true\n    - dir: /data/\n      recursive: true\n      readOnly: true\n  action: Allow\n";
    const rights = (r: ReturnType<typeof landlock>) => new Map(r.config!.paths.map((p) => [p.path, [...p.rights].sort()]));
    const WRITABLE = ["/dev", "/dev/shm", "/tmp", "/data", "/proc"];

    it("grants truncate on rules whose whole tree is on the read-only root, never on or above a writable mount", () => {
      const p = rights(landlock([allow], { writableMounts: WRITABLE }));
      expect(p.get("/etc")).toEqual(["read_dir", "read_file", "truncate"]);
      expect(p.get("/usr")).toEqual(["read_dir", "read_file", "truncate"]);
      // /data is a writable volume granted read-only: truncate there would let the workload destroy data.
      expect(p.get("/data")).toEqual(["read_dir", "read_file"]);
      expect(p.get("/proc")).toEqual(["read_dir", "read_file"]);
      expect(p.get("/dev/null")).toEqual(["read_file", "write_file"]);
    });

    it("grants no truncate on a directory that has a writable mount beneath it", () => {
      const p = rights(landlock([allow], { writableMounts: [...WRITABLE, "/etc/app/state"] }));
      expect(p.get("/etc")).toEqual(["read_dir", "read_file"]);
      expect(p.get("/usr")).toEqual(["read_dir", "read_file", "truncate"]);
    });

    it("adds nothing when the root is writable, the mounts are unknown, or the kernel has no truncate right", () => {
      for (const over of [{ writableMounts: WRITABLE, rootReadOnly: false }, {}, { writableMounts: WRITABLE, abi: 2 }] as Partial<LandlockInputs>[]) {
        const r = landlock([allow], over);
        expect(r.config!.paths.filter((x) => !x.rights.includes("write_file")).some((x) => x.rights.includes("truncate")), JSON.stringify(over)).toBe(false);
      }
    });
  });
});
