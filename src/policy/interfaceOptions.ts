/**
 * Which options each snap-style interface declaration may carry, and which
 * device nodes a device-style interface may name. What an interface grants
 * is the compiler's business (docs/interfaces.md); this file only keeps a
 * declaration from asking for something outside its class, e.g. a
 * `serial-port` naming `/dev/sda`.
 */
import type { InterfaceName } from "./workload.js";

export type InterfaceOption = "devices" | "ports" | "writable";

export interface InterfaceSpec {
  readonly options: readonly InterfaceOption[];
  /** Device nodes the interface may narrow to (only for `devices`). */
  readonly devices?: readonly RegExp[];
  readonly deviceExample?: string;
}

export const INTERFACES: Readonly<Record<InterfaceName, InterfaceSpec>> = {
  network: { options: [] },
  "network-bind": { options: ["ports"] },
  camera: { options: ["devices"], devices: [/^\/dev\/video\d+$/, /^\/dev\/media\d+$/, /^\/dev\/v4l\/.+/], deviceExample: "/dev/video0" },
  "serial-port": {
    options: ["devices"],
    devices: [/^\/dev\/tty(S|USB|ACM|AMA|XRUSB|LP|mxc|O|SC|THS|MFD)\d+$/, /^\/dev\/serial\d+$/, /^\/dev\/serial\/.+/],
    deviceExample: "/dev/ttyUSB0",
  },
  gpio: { options: ["devices"], devices: [/^\/dev\/gpiochip\d+$/, /^\/dev\/gpiomem$/], deviceExample: "/dev/gpiochip0" },
  i2c: { options: ["devices"], devices: [/^\/dev\/i2c-\d+$/], deviceExample: "/dev/i2c-1" },
  "removable-media": { options: ["writable"] },
  home: { options: ["writable"] },
  "hardware-observe": { options: [] },
};

export const INTERFACE_NAMES = Object.keys(INTERFACES) as InterfaceName[];

export function isInterfaceName(name: string): name is InterfaceName {
  return Object.prototype.hasOwnProperty.call(INTERFACES, name);
}

/** Why `device` may not be named by interface `name`, or undefined when it may. */
export function deviceProblem(name: InterfaceName, device: string): { message: string; hint: string } | undefined {
  const spec = INTERFACES[name];
  if (!device.startsWith("/dev/") || device.split("/").some((seg) => seg === "." || seg === "..")) {
    return { message: `device ${JSON.stringify(device)} is not a node under /dev/`, hint: `name a device node, e.g. ${spec.deviceExample ?? "/dev/…"}` };
  }
  if (spec.devices && !spec.devices.some((re) => re.test(device))) {
    return { message: `device ${JSON.stringify(device)} is not a ${name} device`, hint: `${name} covers nodes like ${spec.deviceExample}; other devices need their own interface` };
  }
  return undefined;
}
