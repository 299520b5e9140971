/**
 * palisade-launch, attacked on the real kernel: a confined process tries to
 * read, list, write, exec and connect where its config does not allow it,
 * and the kernel must refuse (EACCES) while the allowed operations work. No
 * container is needed: the launcher confines itself, then execs.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, chmodSync, chownSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { encodeLaunchConfig, type FsRight, type LaunchConfig } from "../../src/native/launchConfig.js";
import {
  attemptPath,
  cleanup,
  command,
  kernelAbi,
  landlockAbi,
  LAUNCHER,
  NOBODY,
  results,
  runAsync,
  runSync,
  tempDir,
  writeConfig,
} from "./helpers.js";

const LL1 = landlockAbi(1);
const LL4 = landlockAbi(4);
const BUSYBOX = command("busybox", "/bin/busybox");
const ALL_FS: FsRight[] = [
  "execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file", "make_char", "make_dir",
  "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer", "truncate", "ioctl_dev",
];
const READ_EXEC: FsRight[] = ["execute", "read_file", "read_dir"];

let work: string; // the one writable directory
let outside: string; // a directory the config does not mention
let config: LaunchConfig;
let confPath: string;
const servers: Server[] = [];

function listen(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer((sock) => sock.destroy()).listen(0, "127.0.0.1", () => {
      servers.push(s);
      resolve((s.address() as { port: number }).port);
    });
  });
}

/** A port nobody listens on and that is free to bind (probably: the kernel just handed it out). */
async function freePort(): Promise<number> {
  const port = await listen();
  await new Promise((r) => servers.pop()?.close(r));
  return port;
}

let connectOk = 0;
let connectDenied = 0;
let bindOk = 0;
let bindDenied = 0;

beforeAll(async () => {
  work = tempDir("work");
  outside = tempDir("outside");
  chmodSync(work, 0o777); // the unprivileged test writes here too
  [connectOk, connectDenied, bindOk, bindDenied] = [await listen(), await listen(), await freePort(), await freePort()];
  config = {
    minAbi: 4,
    handledFs: ALL_FS,
    handledNet: ["bind_tcp", "connect_tcp"],
    paths: [
      { rights: READ_EXEC, path: "/bin" },
      { rights: READ_EXEC, path: "/usr" },
      { rights: READ_EXEC, path: "/lib" },
      // A file rule (with read_dir, which the launcher narrows away on a non-directory).
      { rights: READ_EXEC, path: attemptPath() },
      { rights: ["read_file", "write_file", "read_dir", "make_reg", "make_dir", "remove_file", "truncate"], path: work },
    ],
    ports: [
      { right: "connect_tcp", port: connectOk },
      { right: "bind_tcp", port: bindOk },
    ],
    logNewExec: true,
  };
  confPath = writeConfig(work, encodeLaunchConfig(config));
  // A copy of busybox outside the allowed trees, to try to exec.
  mkdirSync(join(outside, "bin"));
  copyFileSync("/bin/busybox", join(outside, "bin", "busybox"));
  chmodSync(join(outside, "bin", "busybox"), 0o755);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  cleanup(work, outside);
});

const launch = (args: string[], opts: { uid?: number; gid?: number } = {}) => runAsync(LAUNCHER, [confPath, "--", ...args], opts);

describe("palisade-launch confines a real process (Landlock)", () => {
  const fsAttack = () => [
    "read", "/etc/hostname",
    "list", "/etc",
    "write", join(outside, "escaped"),
    "mkdir", join(outside, "dir"),
    "exec", join(outside, "bin", "busybox"),
    "read", "/bin/busybox",
    "list", "/usr",
    "write", join(work, "allowed"),
    "exec", "/bin/busybox",
  ];

  kernelIt("control: without the launcher every attempted operation succeeds", [LINUX, ROOT, BUSYBOX], async () => {
    const r = await runAsync(attemptPath(), [...fsAttack(), "connect", String(connectDenied), "bind", String(bindDenied)]);
    expect(Object.values(results(r.stdout))).toEqual(Array(11).fill("OK"));
    cleanup(join(outside, "escaped"), join(outside, "dir"), join(work, "allowed"));
  });

  kernelIt("refuses reads, listings, writes and exec outside the allowed paths with EACCES; allowed ones work", [LINUX, LL1, BUSYBOX], async () => {
    const r = await launch([attemptPath(), ...fsAttack()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(results(r.stdout)).toEqual({
      "read /etc/hostname": "EACCES",
      "list /etc": "EACCES",
      [`write ${join(outside, "escaped")}`]: "EACCES",
      [`mkdir ${join(outside, "dir")}`]: "EACCES",
      [`exec ${join(outside, "bin", "busybox")}`]: "EACCES",
      "read /bin/busybox": "OK",
      "list /usr": "OK",
      [`write ${join(work, "allowed")}`]: "OK",
      "exec /bin/busybox": "OK",
    });
    expect(existsSync(join(outside, "escaped"))).toBe(false);
    expect(readFileSync(join(work, "allowed"), "utf8")).toBe("x");
  });

  kernelIt("refuses TCP connect and bind to ports the config does not allow (EACCES); allowed ports work", [LINUX, LL4], async () => {
    const r = await launch([attemptPath(), "connect", String(connectOk), "connect", String(connectDenied), "bind", String(bindOk), "bind", String(bindDenied)]);
    expect(r.stderr).toBe("");
    expect(results(r.stdout)).toEqual({
      [`connect ${connectOk}`]: "OK",
      [`connect ${connectDenied}`]: "EACCES",
      [`bind ${bindOk}`]: "OK",
      [`bind ${bindDenied}`]: "EACCES",
    });
  });

  kernelIt("confines busybox too: cat /etc/hostname is denied, writing the allowed dir works", [LINUX, LL1, BUSYBOX], async () => {
    const denied = await launch(["/bin/busybox", "cat", "/etc/hostname"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("can't open '/etc/hostname': Permission denied");
    const ok = await launch(["/bin/busybox", "sh", "-c", `echo "$0 $1" > ${join(work, "bb")}`, "arg0", "arg1"]);
    expect(ok.code).toBe(0);
    expect(readFileSync(join(work, "bb"), "utf8")).toBe("arg0 arg1\n");
  });

  kernelIt("needs no privilege: as uid 65534 it confines the same way", [LINUX, ROOT, LL1], async () => {
    const r = await launch([attemptPath(), "read", "/etc/hostname", "read", "/bin/busybox", "write", join(work, "nobody")], { uid: NOBODY, gid: NOBODY });
    expect(r.stderr).toBe("");
    expect(results(r.stdout)).toEqual({ "read /etc/hostname": "EACCES", "read /bin/busybox": "OK", [`write ${join(work, "nobody")}`]: "OK" });
  });

  kernelIt("searches PATH for a bare program name and passes the environment on", [LINUX, LL1, BUSYBOX], async () => {
    const r = await runAsync("/usr/bin/env", ["PATH=/bin", "PALISADE_T=kept", LAUNCHER, confPath, "--", "busybox", "sh", "-c", "echo $PALISADE_T"]);
    expect(r).toMatchObject({ code: 0, stdout: "kept\n", stderr: "" });
  });

  kernelIt("reports a program it cannot exec: 127 when missing, 126 when Landlock denies it", [LINUX, LL1], async () => {
    const missing = await launch([join(work, "no-such-program")]);
    expect(missing).toMatchObject({ code: 127, stderr: `palisade-launch: cannot execute ${join(work, "no-such-program")}: No such file or directory\n` });
    const denied = await launch([join(outside, "bin", "busybox"), "true"]);
    expect(denied).toMatchObject({ code: 126, stderr: `palisade-launch: cannot execute ${join(outside, "bin", "busybox")}: Permission denied\n` });
  });

  kernelIt("prints the kernel's Landlock ABI with --abi", [LINUX, LL1], () => {
    const r = runSync(LAUNCHER, ["--abi"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[1-9]\d*\n$/);
  });

  kernelIt("audits after exec only where the kernel can (log-new-exec needs ABI 7)", [LINUX, LL4], async () => {
    const r = await launch(["/bin/busybox", "true"]);
    const abi = kernelAbi();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      abi >= 7 ? "" : `palisade-launch: warning: kernel Landlock ABI ${abi} cannot audit denials after exec (needs ABI 7); min-abi 4 allows running without it\n`,
    );
  });
});

describe("palisade-launch fails closed", () => {
  let dir: string;
  let marker: string;
  beforeAll(() => {
    dir = tempDir("bad");
    marker = join(dir, "marker");
  });
  afterAll(() => cleanup(dir));

  /** Runs the launcher on `text` with a program that would create `marker`; returns the result. */
  async function refused(text: string, name = "c.conf") {
    const file = writeConfig(dir, text, name);
    const r = await runAsync(LAUNCHER, [file, "--", attemptPath(), "write", marker]);
    expect(existsSync(marker), "the program must not have run").toBe(false);
    return { ...r, file };
  }

  kernelIt("refuses when the kernel's ABI is below min-abi, and runs nothing", [LINUX, LL1], async () => {
    const abi = kernelAbi();
    const { code, stderr } = await refused(`palisade-launch 1\nmin-abi ${abi + 1}\nhandle-fs read_file\n`);
    expect(code).toBe(126);
    expect(stderr).toBe(`palisade-launch: kernel Landlock ABI is ${abi}, below the config's min-abi ${abi + 1}; refusing to run ${attemptPath()}\n`);
  });

  const H = "palisade-launch 1\nmin-abi 1\n";
  const cases: [string, string, string][] = [
    ["an empty file", "", ':1: expected header "palisade-launch 1"'],
    ["another format version", "palisade-launch 2\nmin-abi 1\n", ':1: expected header "palisade-launch 1"'],
    ["an unknown directive", `${H}handle-fs read_file\nfrobnicate 1\n`, ':4: unknown directive "frobnicate"'],
    ["a repeated min-abi", `${H}min-abi 2\nhandle-fs read_file\n`, ':3: duplicate "min-abi"'],
    ["a repeated handle-fs", `${H}handle-fs read_file\nhandle-fs execute\n`, ':4: duplicate "handle-fs"'],
    ["a repeated handle-net", `${H}handle-net bind_tcp\nhandle-net bind_tcp\n`, ':4: duplicate "handle-net"'],
    ["a repeated log-new-exec", `${H}handle-fs read_file\nlog-new-exec\nlog-new-exec\n`, ':5: duplicate "log-new-exec"'],
    ["a non-numeric min-abi", "palisade-launch 1\nmin-abi four\nhandle-fs read_file\n", ':2: bad min-abi "four" (expected 1-999)'],
    ["min-abi 0", "palisade-launch 1\nmin-abi 0\nhandle-fs read_file\n", ':2: bad min-abi "0" (expected 1-999)'],
    ["a signed min-abi", "palisade-launch 1\nmin-abi +1\nhandle-fs read_file\n", ':2: bad min-abi "+1" (expected 1-999)'],
    ["a port above 65535", `${H}handle-net connect_tcp\nport connect_tcp 65536\n`, ':4: bad port "65536" (expected 0-65535)'],
    ["a port with junk", `${H}handle-net connect_tcp\nport connect_tcp 80x\n`, ':4: bad port "80x" (expected 0-65535)'],
    ["a port line with two ports", `${H}handle-net connect_tcp\nport connect_tcp 80 81\n`, ':4: expected "port RIGHT PORT"'],
    ["an unknown fs right", `${H}handle-fs read_file,reed_file\n`, ':3: unknown fs right "reed_file"'],
    ["an unknown net right", `${H}handle-net connect_udp\n`, ':3: unknown net right "connect_udp"'],
    ["an unknown scope", `${H}scope ptrace\n`, ':3: unknown scope "ptrace"'],
    ["a repeated right", `${H}handle-fs read_file,execute,read_file\n`, ':3: duplicate fs right "read_file"'],
    ["an empty name in a list", `${H}handle-fs read_file,,execute\n`, ":3: empty name in fs right list"],
    ["a directive without its argument", `${H}handle-fs\n`, ':3: expected "handle-fs RIGHT[,RIGHT...]"'],
    ["a trailing space", "palisade-launch 1\nmin-abi 1 \nhandle-fs read_file\n", ':2: expected "min-abi N"'],
    ["a CRLF line ending", "palisade-launch 1\nmin-abi 1\r\nhandle-fs read_file\n", ':2: bad min-abi "1\r" (expected 1-999)'],
    ["a relative path", `${H}handle-fs read_file\npath read_file usr/lib\n`, ':4: path must be absolute: "usr/lib"'],
    ["a path line without a path", `${H}handle-fs read_file\npath read_file\n`, ':4: expected "path RIGHT[,RIGHT...] /ABSOLUTE/PATH"'],
    ["a path right that is not handled", `${H}handle-fs read_file\npath read_file,write_file /tmp\n`, ':4: right "write_file" is not in handle-fs'],
    ["a port right that is not handled", `${H}handle-net connect_tcp\nport bind_tcp 80\n`, ':4: right "bind_tcp" is not in handle-net'],
    ["log-new-exec with an argument", `${H}handle-fs read_file\nlog-new-exec yes\n`, ':4: expected "log-new-exec"'],
    ["a NUL byte", `${H}handle-fs read_file\npath read_file /tmp\0/x\n`, ":4: NUL byte in line"],
    ["no min-abi", "palisade-launch 1\nhandle-fs read_file\n", ': missing "min-abi"'],
    ["no handled rights", `${H}# nothing\n\nlog-new-exec\n`, ": handles no rights (no handle-fs, handle-net or scope): refusing to run unconfined"],
  ];
  for (const [what, text, message] of cases) {
    kernelIt(`refuses ${what} with exit 126 and an exact message`, [LINUX], async () => {
      const r = await refused(text);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`palisade-launch: ${r.file}${message}\n`);
      expect(r.code).toBe(126);
    });
  }

  kernelIt("refuses an unreadable, oversized or non-file config", [LINUX], async () => {
    const missing = join(dir, "absent.conf");
    const r1 = await runAsync(LAUNCHER, [missing, "--", attemptPath(), "write", marker]);
    expect(r1).toMatchObject({ code: 126, stderr: `palisade-launch: ${missing}: cannot read: No such file or directory\n` });
    const r2 = await runAsync(LAUNCHER, [dir, "--", attemptPath(), "write", marker]);
    expect(r2).toMatchObject({ code: 126, stderr: `palisade-launch: ${dir}: cannot read: not a regular file\n` });
    const big = await refused(`${H}handle-fs read_file\n${"# padding\n".repeat(110_000)}`, "big.conf");
    expect(big).toMatchObject({ code: 126, stderr: `palisade-launch: ${big.file}: larger than 1048576 bytes\n` });
  });

  kernelIt("refuses bad usage", [LINUX], async () => {
    const usage = "palisade-launch: usage: palisade-launch CONFIG -- PROGRAM [ARGS...] | --abi | --check CONFIG\n";
    for (const args of [[], ["c.conf"], ["c.conf", "--"], ["c.conf", "/bin/true", "x"]]) {
      expect(await runAsync(LAUNCHER, args)).toMatchObject({ code: 126, stdout: "", stderr: usage });
    }
  });

  kernelIt("skips a path that does not exist, with a warning, and grants nothing for it", [LINUX, LL1], async () => {
    const gone = join(dir, "not-yet", "created later");
    const notDir = "/etc/hostname/child";
    const text = encodeLaunchConfig({
      minAbi: 1,
      handledFs: ["execute", "read_file", "read_dir", "write_file", "make_dir", "make_reg"],
      handledNet: [],
      paths: [
        { rights: ["execute", "read_file"], path: attemptPath() },
        { rights: ["read_file", "write_file", "make_dir", "make_reg"], path: gone },
        { rights: ["read_file"], path: notDir },
      ],
      ports: [],
      logNewExec: false,
    });
    const file = writeConfig(dir, text, "missing.conf");
    const r = await runAsync(LAUNCHER, [file, "--", attemptPath(), "mkdir", join(dir, "not-yet"), "write", join(dir, "x"), "read", "/etc/hostname"]);
    expect(r.stderr).toBe(
      `palisade-launch: warning: ${file}:5: skipping ${gone}: No such file or directory (no access granted)\n` +
        `palisade-launch: warning: ${file}:6: skipping ${notDir}: Not a directory (no access granted)\n`,
    );
    expect(results(r.stdout)).toEqual({ [`mkdir ${join(dir, "not-yet")}`]: "EACCES", [`write ${join(dir, "x")}`]: "EACCES", "read /etc/hostname": "EACCES" });
    expect(existsSync(join(dir, "not-yet"))).toBe(false);
  });

  kernelIt("refuses a path it cannot open for another reason (EACCES as uid 65534)", [LINUX, ROOT, LL1], async () => {
    const locked = tempDir("locked");
    chmodSync(locked, 0o700);
    chownSync(locked, 0, 0);
    mkdirSync(join(locked, "inside"));
    const file = writeConfig(dir, `${H}handle-fs read_file,execute\npath read_file ${join(locked, "inside")}\n`, "locked.conf");
    chmodSync(dir, 0o777);
    const r = await runAsync(LAUNCHER, [file, "--", attemptPath(), "write", marker], { uid: NOBODY, gid: NOBODY });
    cleanup(locked);
    expect(r).toMatchObject({ code: 126, stderr: `palisade-launch: ${file}:4: cannot open ${join(locked, "inside")}: Permission denied\n` });
    expect(existsSync(marker)).toBe(false);
  });
});
