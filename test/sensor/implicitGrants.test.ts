import { describe, expect, it } from "vitest";
import { implicitGrantsOf } from "../../src/runtime/workloads.js";
import { ImplicitGrants } from "../../src/sensor/implicitGrants.js";

describe("ImplicitGrants (what the runtime grants whatever the policy says)", () => {
  const g = new ImplicitGrants(implicitGrantsOf({ devices: [], mounts: [], sysfs: false }, [{ mountPath: "/data", readOnly: false }, { mountPath: "/conf/", readOnly: true }]));

  it("covers the compiler's baseline devices, /tmp, /proc and volumes", () => {
    expect(g.grants("/dev/null", true)).toBe(true);
    expect(g.grants("/dev/urandom", false)).toBe(true);
    expect(g.grants("/tmp/a/b", true)).toBe(true);
    expect(g.grants("/proc/self/stat", false)).toBe(true);
    expect(g.grants("/data/x", true)).toBe(true);
    expect(g.grants("/conf/app.yaml", false)).toBe(true);
  });

  it("does not excuse writes to read-only grants, lookalike prefixes, '..' escapes or relative paths", () => {
    expect(g.grants("/proc/sys/kernel/x", true)).toBe(false);
    expect(g.grants("/conf/app.yaml", true)).toBe(false);
    expect(g.grants("/etc/hosts", true)).toBe(false);
    expect(g.grants("/tmpfoo", false)).toBe(false);
    expect(g.grants("/dev/nullx", false)).toBe(false);
    expect(g.grants("/tmp/../etc/shadow", false)).toBe(false);
    expect(g.grants("tmp/x", false)).toBe(false);
    expect(g.grants("/etc/passwd", false)).toBe(false);
  });
});
