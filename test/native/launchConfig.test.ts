/**
 * encodeLaunchConfig(): its output is exactly what the C parser reads back
 * (round trip through `palisade-launch --check`, which prints the canonical
 * form), and it rejects what the launcher would refuse.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import {
  encodeLaunchConfig,
  FS_RIGHT_ABI,
  launcherArgs,
  NET_RIGHT_ABI,
  requiredAbi,
  SCOPE_ABI,
  type FsRight,
  type LaunchConfig,
  type NetRight,
  type Scope,
} from "../../src/native/launchConfig.js";
import { cleanup, LAUNCHER, runSync, tempDir, writeConfig } from "./helpers.js";

const dir = tempDir("encode");
afterAll(() => cleanup(dir));

const FS = Object.keys(FS_RIGHT_ABI) as FsRight[];
const NET = Object.keys(NET_RIGHT_ABI) as NetRight[];
const SCOPES = Object.keys(SCOPE_ABI) as Scope[];

const base: LaunchConfig = {
  minAbi: 4,
  handledFs: ["read_file", "execute", "read_dir", "write_file"],
  handledNet: ["connect_tcp", "bind_tcp"],
  paths: [
    { rights: ["read_dir", "read_file", "execute"], path: "/usr" },
    { rights: ["write_file", "read_file"], path: "/var/lib/my app" },
  ],
  ports: [{ right: "connect_tcp", port: 443 }],
  logNewExec: true,
};

function check(text: string): { code: number | null; stdout: string; stderr: string } {
  return runSync(LAUNCHER, ["--check", writeConfig(dir, text)]);
}

describe("encodeLaunchConfig", () => {
  it("writes the documented format, rights in canonical order", () => {
    expect(encodeLaunchConfig(base)).toBe(
      [
        "palisade-launch 1",
        "min-abi 4",
        "handle-fs execute,write_file,read_file,read_dir",
        "handle-net bind_tcp,connect_tcp",
        "path execute,read_file,read_dir /usr",
        "path write_file,read_file /var/lib/my app",
        "port connect_tcp 443",
        "log-new-exec",
        "",
      ].join("\n"),
    );
    expect(encodeLaunchConfig({ ...base, scopes: ["signal", "abstract_unix_socket"], logNewExec: false })).toContain("\nscope abstract_unix_socket,signal\n");
  });

  it("round-trips through the C parser (palisade-launch --check) for random configs", () => {
    const sub = <T>(all: T[]) => fc.subarray(all);
    const pathArb = fc.string({ minLength: 0, maxLength: 40, unit: "grapheme" }).filter((s) => !/[\n\0]/.test(s)).map((s) => `/${s}`);
    const cfgArb = fc
      .record({
        minAbi: fc.integer({ min: 1, max: 999 }),
        handledFs: sub(FS),
        handledNet: sub(NET),
        scopes: sub(SCOPES),
        logNewExec: fc.boolean(),
        pathSeeds: fc.array(fc.tuple(pathArb, fc.array(fc.nat(), { minLength: 1, maxLength: 5 })), { maxLength: 5 }),
        portSeeds: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 65535 })), { maxLength: 5 }),
      })
      .filter((c) => c.handledFs.length + c.handledNet.length + c.scopes.length > 0)
      .map((c): LaunchConfig => {
        const pick = <T>(from: T[], seeds: number[]) => [...new Set(seeds.map((s) => from[s % from.length] as T))];
        return {
          minAbi: c.minAbi,
          handledFs: c.handledFs,
          handledNet: c.handledNet,
          scopes: c.scopes,
          logNewExec: c.logNewExec,
          paths: c.handledFs.length ? c.pathSeeds.map(([path, seeds]) => ({ path, rights: pick(c.handledFs, seeds) })) : [],
          ports: c.handledNet.length ? c.portSeeds.map(([s, port]) => ({ right: c.handledNet[s % c.handledNet.length] as NetRight, port })) : [],
        };
      });
    fc.assert(
      fc.property(cfgArb, (cfg) => {
        const text = encodeLaunchConfig(cfg);
        const r = check(text);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(text);
      }),
      { numRuns: 150 },
    );
  });

  it("the C parser canonicalises comments, blank lines and right order to the encoder's form", () => {
    const text = "palisade-launch 1\n# a comment\n\nlog-new-exec\nport connect_tcp 443\nhandle-net connect_tcp\nmin-abi 4\nhandle-fs read_file,execute\npath read_file,execute /usr\n";
    const r = check(text);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      encodeLaunchConfig({ minAbi: 4, handledFs: ["execute", "read_file"], handledNet: ["connect_tcp"], paths: [{ rights: ["execute", "read_file"], path: "/usr" }], ports: [{ right: "connect_tcp", port: 443 }], logNewExec: true }),
    );
  });

  const bad: [string, LaunchConfig, string][] = [
    ["minAbi 0", { ...base, minAbi: 0 }, "minAbi must be an integer in 1-999, not 0"],
    ["a fractional minAbi", { ...base, minAbi: 4.5 }, "minAbi must be an integer in 1-999, not 4.5"],
    ["nothing handled", { ...base, handledFs: [], handledNet: [], paths: [], ports: [] }, "it handles no rights (handledFs, handledNet and scopes are all empty), so it would confine nothing"],
    ["an unknown right", { ...base, handledFs: ["read_file", "reed" as FsRight] }, 'handledFs: unknown right "reed"'],
    ["a repeated right", { ...base, handledNet: ["bind_tcp", "bind_tcp"] }, 'handledNet: duplicate right "bind_tcp"'],
    ["a relative path", { ...base, paths: [{ rights: ["read_file"], path: "usr" }] }, 'paths[0]: path must be absolute: "usr"'],
    ["a newline in a path", { ...base, paths: [{ rights: ["read_file"], path: "/a\nb" }] }, 'paths[0]: path contains a newline or NUL byte: "/a\\nb"'],
    ["a NUL in a path", { ...base, paths: [{ rights: ["read_file"], path: "/a\0" }] }, 'paths[0]: path contains a newline or NUL byte: "/a\\u0000"'],
    ["a path with no rights", { ...base, paths: [{ rights: [], path: "/usr" }] }, "paths[0]: no rights"],
    ["a path right not handled", { ...base, paths: [{ rights: ["make_dir"], path: "/usr" }] }, 'paths[0]: right "make_dir" is not in handledFs'],
    ["a port out of range", { ...base, ports: [{ right: "connect_tcp", port: 65536 }] }, "ports[0]: port must be an integer in 0-65535, not 65536"],
    ["a port right not handled", { ...base, handledNet: ["connect_tcp"], ports: [{ right: "bind_tcp", port: 80 }] }, 'ports[0]: right "bind_tcp" is not in handledNet'],
  ];
  for (const [what, cfg, message] of bad) {
    it(`rejects ${what} with PalisadeError NATIVE`, () => {
      let err: unknown;
      try {
        encodeLaunchConfig(cfg);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PalisadeError);
      expect(err).toMatchObject({ code: "NATIVE", message: `invalid launch config: ${message}` });
    });
  }

  it("requiredAbi() is the ABI that makes every right mandatory", () => {
    expect(requiredAbi({ ...base, handledNet: [], ports: [], logNewExec: false })).toBe(1);
    expect(requiredAbi({ ...base, handledFs: ["truncate"], paths: [], handledNet: [], ports: [], logNewExec: false })).toBe(3);
    expect(requiredAbi({ ...base, logNewExec: false })).toBe(4);
    expect(requiredAbi({ ...base, scopes: ["signal"], logNewExec: false })).toBe(6);
    expect(requiredAbi(base)).toBe(7);
  });

  it("launcherArgs() puts the launcher and its config before the workload's argv", () => {
    expect(launcherArgs(["/bin/sh", "-c", "x"])).toEqual(["/.palisade/launch", "/.palisade/launch.conf", "--", "/bin/sh", "-c", "x"]);
    expect(() => launcherArgs([])).toThrow(PalisadeError);
  });

  it("the TS rights tables match the C tables in landlock_abi.h, name, order and ABI", async () => {
    const { readFileSync } = await import("node:fs");
    const h = readFileSync(new URL("../../src/native/landlock_abi.h", import.meta.url), "utf8");
    const table = (name: string) =>
      [...(h.split(`${name}[] = {`)[1]?.split("};")[0] ?? "").matchAll(/\{"(\w+)", \w+, (\d)\}/g)].map((m) => [m[1], Number(m[2])]);
    expect(table("pl_fs_rights")).toEqual(Object.entries(FS_RIGHT_ABI));
    expect(table("pl_net_rights")).toEqual(Object.entries(NET_RIGHT_ABI));
    expect(table("pl_scopes")).toEqual(Object.entries(SCOPE_ABI));
  });
});
