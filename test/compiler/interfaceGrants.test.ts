import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileWorkload, resolveInterfaceGrants, splitDev } from "../../src/compiler/index.js";
import { PalisadeError } from "../../src/core/errors.js";
import { kernelIt, ROOT } from "../kernelTest.js";
import { compilePathsFor, features, IMAGE_TREE, parse, tempTree } from "./helpers.js";

const tree = tempTree(IMAGE_TREE);
let devRoot = "";
let hostRoot = "";

/** A fake /dev with real device nodes (mknod needs root; tests that use it are gated). */
beforeAll(() => {
  devRoot = mkdtempSync(join(tmpdir(), "palisade-dev-"));
  hostRoot = mkdtempSync(join(tmpdir(), "palisade-host-"));
  mkdirSync(join(hostRoot, "media"));
  if (process.getuid?.() !== 0) return;
  const node = (name: string, major: number, minor: number, mode: string, gid: number) => {
    execFileSync("mknod", ["-m", mode, join(devRoot, name), "c", String(major), String(minor)]);
    chownSync(join(devRoot, name), 0, gid);
  };
  node("video0", 81, 0, "0660", 44);
  node("ttyUSB0", 188, 0, "0660", 20);
  node("ttyACM1", 166, 1, "0660", 20);
  node("gpiochip0", 254, 0, "0600", 0);
  node("i2c-1", 89, 1, "0660", 998);
  mkdirSync(join(devRoot, "serial", "by-id"), { recursive: true });
  symlinkSync("../../ttyUSB0", join(devRoot, "serial", "by-id", "usb-FTDI_1234-if00"));
});
afterAll(() => {
  tree.cleanup();
  rmSync(devRoot, { recursive: true, force: true });
  rmSync(hostRoot, { recursive: true, force: true });
});

function grants(interfaces: string, container = "") {
  const { workload } = parse({ spec: `  interfaces:\n${interfaces}`, container });
  return resolveInterfaceGrants(workload, workload.containers[0]!, { devRoot, hostRoot });
}

function compile(interfaces: string) {
  const { workload, policies } = parse({ spec: `  interfaces:\n${interfaces}` });
  return compileWorkload(workload, policies, features(), {
    id: "default.demo",
    image: {},
    paths: compilePathsFor(tree.root),
    idMap: { hostId: 1e9, size: 65536 },
    devRoot,
    hostRoot,
  });
}

describe("interface grants", () => {
  it("splits dev_t like glibc", () => {
    expect(splitDev(0n)).toEqual({ major: 0, minor: 0 });
    expect(splitDev((188n << 8n) | 3n)).toEqual({ major: 188, minor: 3 });
    // glibc's makedev: 12 low major bits at 8, 8 low minor bits at 0, the rest above 32 and 20.
    const makedev = (major: bigint, minor: bigint) => ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    expect(splitDev(makedev(254n, 0x45023n))).toEqual({ major: 254, minor: 0x45023 });
    expect(splitDev(makedev(0x1234n, 7n))).toEqual({ major: 0x1234, minor: 7 });
  });

  kernelIt("grants the named devices with the majors read from the host's nodes", [ROOT], () => {
    const g = grants("  - name: serial-port\n    devices: [/dev/ttyUSB0]\n  - name: i2c\n    devices: [/dev/i2c-1]\n");
    expect(g.devices.map((d) => [d.path, d.type, d.major, d.minor, d.gid])).toEqual([
      ["/dev/ttyUSB0", "c", 188, 0, 20],
      ["/dev/i2c-1", "c", 89, 1, 998],
    ]);
    expect(g.sysfs).toBe(true);
  });

  kernelIt("grants every node of the class when none is named, and resolves by-id symlinks", [ROOT], () => {
    expect(grants("  - serial-port\n").devices.map((d) => d.path)).toEqual(["/dev/ttyACM1", "/dev/ttyUSB0"]);
    expect(grants("  - camera\n").devices.map((d) => d.path)).toEqual(["/dev/video0"]);
    expect(grants("  - name: serial-port\n    devices: [/dev/serial/by-id/usb-FTDI_1234-if00]\n").devices.map((d) => d.path)).toEqual(["/dev/ttyUSB0"]);
  });

  it("refuses a device the host does not have, clearly", () => {
    let err: unknown;
    try {
      grants("  - name: camera\n    devices: [/dev/video7]\n");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PalisadeError);
    expect((err as PalisadeError).message).toBe("interface camera grants /dev/video7, but no such device node on this host");
    expect((err as PalisadeError).hint).toMatch(/ls -l \/dev\/video7/);
    expect((err as PalisadeError).where?.path).toBe("spec.interfaces[0]");
  });

  kernelIt("puts devices in the spec: device cgroup deny-all then allow, nodes, and the group through the user namespace", [ROOT], () => {
    const c = compile("  - name: serial-port\n    devices: [/dev/ttyUSB0]\n");
    expect(c.spec.linux.resources.devices).toEqual([
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 188, minor: 0, access: "rw" },
    ]);
    expect(c.spec.linux.devices).toEqual([{ path: "/dev/ttyUSB0", type: "c", major: 188, minor: 0, fileMode: 0o660, uid: 0, gid: 20 }]);
    expect(c.spec.linux.gidMappings).toContainEqual({ containerID: 65536, hostID: 20, size: 1 });
    expect(c.spec.process.user.additionalGids).toEqual([65536]);
    expect(c.userns.enabled).toBe(true);
  });

  kernelIt("turns the user namespace off for a device only host root may open, and says so", [ROOT], () => {
    const c = compile("  - name: gpio\n    devices: [/dev/gpiochip0]\n");
    expect(c.userns).toEqual({ enabled: false, reason: expect.stringMatching(/gpiochip0 is readable and writable only by host root/) });
    expect(c.spec.linux.namespaces.some((n) => n.type === "user")).toBe(false);
  });

  it("mounts removable media and home read-only unless writable", () => {
    const ro = grants("  - removable-media\n");
    expect(ro.mounts).toEqual([{ interface: "removable-media", source: join(hostRoot, "media"), destination: "/media", readOnly: true }]);
    expect(grants("  - name: removable-media\n    writable: true\n").mounts[0]?.readOnly).toBe(false);
    expect(() => grants("  - home\n")).toThrow(/the host has no \/home directory/);
  });

  it("network-bind defaults to the container's TCP ports; network is a flag for the runtime", () => {
    const g = grants("  - network\n  - network-bind\n", "    ports:\n    - containerPort: 8080\n    - containerPort: 5353\n      protocol: UDP\n");
    expect(g).toMatchObject({ network: true, bindPorts: [8080], sysfs: false });
    expect(grants("  - name: network-bind\n    ports: [80, 443]\n").bindPorts).toEqual([80, 443]);
  });
});
