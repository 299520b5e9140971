import { describe, expect, it } from "vitest";
import { combinePolicies } from "../../src/policy/index.js";
import { compileSeccomp, NOTABLE_BLOCKED, type SeccompSyscall } from "../../src/compiler/index.js";
import { parse } from "./helpers.js";

function seccomp(policies: string[] = [], opts: { arch?: string; raw?: boolean } = {}) {
  const { workload, policies: ps } = parse({ policies });
  return compileSeccomp({ arch: opts.arch ?? "x86_64", policy: combinePolicies(ps, workload.labels), rawSockets: opts.raw ?? false });
}

/** Every (action, args) under which `name` may be called. */
function entries(syscalls: readonly SeccompSyscall[], name: string): SeccompSyscall[] {
  return syscalls.filter((s) => s.names.includes(name));
}

function socketTuples(syscalls: readonly SeccompSyscall[], action = "SCMP_ACT_ALLOW"): string[] {
  return entries(syscalls, "socket")
    .filter((s) => s.action === action)
    .map((s) => (s.args ?? []).map((a) => (a.op === "SCMP_CMP_MASKED_EQ" ? `${a.index}&${a.value}=${a.valueTwo}` : `${a.index}=${a.value}`)).join(" "));
}

const AF_PACKET = "0=17";
const SOCK_RAW = "1&15=3";

describe("default seccomp profile", () => {
  it("is an allow-list: EPERM by default, native architecture only", () => {
    const { profile } = seccomp();
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(profile.defaultErrnoRet).toBe(1);
    expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64"]);
    expect(seccomp([], { arch: "aarch64" }).profile.architectures).toEqual(["SCMP_ARCH_AARCH64"]);
  });

  it("allows what the launcher needs (Landlock, prctl, execve, seccomp)", () => {
    const allowed = seccomp().profile.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names);
    for (const name of ["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "prctl", "execve", "seccomp", "openat", "read", "write", "exit_group"]) {
      expect(allowed).toContain(name);
    }
  });

  it("never allows the confinement-breaking syscalls", () => {
    const { profile, summary } = seccomp();
    const never = ["mount", "umount2", "pivot_root", "ptrace", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "unshare", "setns", "swapon", "swapoff", "reboot", "acct", "open_by_handle_at", "userfaultfd", "iopl", "ioperm", "io_uring_setup"];
    for (const name of never) {
      expect(entries(profile.syscalls, name).filter((s) => s.action !== "SCMP_ACT_ERRNO"), name).toEqual([]);
      expect(Object.keys(NOTABLE_BLOCKED)).toContain(name);
      expect(summary.blockedNotable).toContain(name);
    }
  });

  it("allows clone only without namespace flags, and answers clone3 with ENOSYS", () => {
    const { profile } = seccomp();
    expect(entries(profile.syscalls, "clone")).toEqual([expect.objectContaining({ action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] })]);
    expect(entries(profile.syscalls, "clone3")).toEqual([expect.objectContaining({ action: "SCMP_ACT_ERRNO", errnoRet: 38 })]);
  });

  it("refuses AF_PACKET and SOCK_RAW sockets unless raw sockets are granted", () => {
    const denied = socketTuples(seccomp().profile.syscalls);
    expect(denied.some((t) => t.includes(AF_PACKET) || t.includes(SOCK_RAW))).toBe(false);
    expect(denied).toContain("0=1"); // AF_UNIX
    expect(denied).toContain("0=2 1&15=1 2=6"); // AF_INET, SOCK_STREAM, IPPROTO_TCP
    const granted = socketTuples(seccomp([], { raw: true }).profile.syscalls);
    expect(granted).toContain(AF_PACKET);
    expect(granted).toContain(`0=2 ${SOCK_RAW}`);
  });
});

describe("policy rules in seccomp", () => {
  it("Block syscall → removed from the allow-list (EPERM); Audit → SCMP_ACT_LOG", () => {
    const r = seccomp([
      "  syscalls:\n    matchSyscalls:\n    - syscall: [unlink, chmod]\n  action: Block\n",
      "  syscalls:\n    matchSyscalls:\n    - syscall: [rmdir]\n  action: Audit\n",
    ]);
    const allowNames = r.profile.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names);
    expect(allowNames).not.toContain("unlink");
    expect(allowNames).not.toContain("chmod");
    expect(allowNames).not.toContain("rmdir");
    expect(entries(r.profile.syscalls, "rmdir")).toEqual([expect.objectContaining({ action: "SCMP_ACT_LOG" })]);
    expect(r.summary.blockedByPolicy).toEqual(["chmod", "unlink"]);
    expect(r.enforced).toHaveLength(1);
    expect(r.unsupported).toEqual([]);
  });

  it("Block on socket removes every socket entry", () => {
    const r = seccomp(["  syscalls:\n    matchSyscalls:\n    - syscall: [socket]\n  action: Block\n"]);
    expect(entries(r.profile.syscalls, "socket")).toEqual([]);
  });

  it("reports what seccomp cannot express: fromSource and matchPaths", () => {
    const r = seccomp([
      "  syscalls:\n    matchSyscalls:\n    - syscall: [unlink]\n      fromSource:\n      - path: /bin/rm\n  action: Block\n",
      "  syscalls:\n    matchPaths:\n    - path: /etc/passwd\n      syscall: [unlink]\n  action: Block\n",
    ]);
    expect(r.unsupported.map((u) => u.reason)).toEqual([expect.stringMatching(/which executable/), expect.stringMatching(/cannot read path arguments/)]);
    expect(r.profile.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names)).toContain("unlink");
  });

  it("fails a Block of a syscall the target architecture lacks", () => {
    const r = seccomp(["  syscalls:\n    matchSyscalls:\n    - syscall: [open]\n  action: Block\n"], { arch: "aarch64" });
    expect(r.unsupported[0]?.reason).toMatch(/open does not exist on aarch64/);
    expect(seccomp(["  syscalls:\n    matchSyscalls:\n    - syscall: [open]\n  action: Block\n"]).unsupported).toEqual([]);
  });

  it("Block tcp/udp/icmp removes exactly those socket tuples", () => {
    const r = seccomp(["  network:\n    matchProtocols:\n    - protocol: tcp\n    - protocol: icmp\n  action: Block\n"]);
    const tuples = socketTuples(r.profile.syscalls);
    for (const family of ["0=2", "0=10"]) {
      expect(tuples).not.toContain(`${family} 1&15=1 2=0`); // tcp, default protocol
      expect(tuples).not.toContain(`${family} 1&15=1 2=6`); // tcp, IPPROTO_TCP
      expect(tuples).toContain(`${family} 1&15=1 2=132`); // sctp is another protocol
    }
    expect(tuples).not.toContain("0=2 1&15=2 2=1"); // ICMP datagram (ping) socket
    expect(tuples).toContain("0=2 1&15=2 2=17"); // udp stays
    expect(r.summary.protocols).toMatchObject({ tcp: "block", icmp: "block", udp: "allow", raw: "block" });
    expect(r.enforced.map((e) => e.how)).toEqual(["socket() refused for tcp", "socket() refused for icmp"]);
  });

  it("Audit udp logs udp sockets; a network allow-list admits only what it lists", () => {
    const audit = seccomp(["  network:\n    matchProtocols:\n    - protocol: udp\n  action: Audit\n"]);
    expect(socketTuples(audit.profile.syscalls, "SCMP_ACT_LOG")).toContain("0=2 1&15=2 2=17");
    const list = seccomp(["  network:\n    matchProtocols:\n    - protocol: tcp\n  action: Allow\n"]);
    expect(list.summary.protocols).toMatchObject({ tcp: "allow", udp: "block", icmp: "block" });
  });

  it("network rules with fromSource are unsupported (unless audited)", () => {
    const r = seccomp(["  network:\n    matchProtocols:\n    - protocol: tcp\n      fromSource:\n      - path: /bin/nc\n  action: Block\n"]);
    expect(r.unsupported).toHaveLength(1);
    expect(r.unsupported[0]?.backend).toBe("seccomp");
    const a = seccomp(["  network:\n    matchProtocols:\n    - protocol: tcp\n      fromSource:\n      - path: /bin/nc\n  action: Audit\n"]);
    expect(a.unsupported).toEqual([]);
  });
});
