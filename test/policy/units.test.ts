/** Small building blocks: quantities, path syntax, globs, suggestions, spellings. */
import { describe, expect, it } from "vitest";
import { formatCpu, formatMemory, normalizeAction, normalizeCapability, normalizeProtocol, parseCpu, parseMemory, patternToRegExp, SYSCALLS, CAPABILITIES } from "../../src/policy/index.js";
import { checkDirectory, checkFilePath, checkPattern } from "../../src/policy/pathSyntax.js";
import { closest, editDistance } from "../../src/policy/suggest.js";

describe("quantities", () => {
  it("parses CPU in cores and millicores", () => {
    expect(parseCpu("500m")).toEqual({ ok: true, value: 500 });
    expect(parseCpu("2")).toEqual({ ok: true, value: 2000 });
    expect(parseCpu(0.5)).toEqual({ ok: true, value: 500 });
    expect(parseCpu("1.5")).toEqual({ ok: true, value: 1500 });
    expect(parseCpu("0.0001").ok).toBe(false);
    expect(parseCpu("2 cores").ok).toBe(false);
    expect(parseCpu("0").ok).toBe(false);
  });

  it("parses memory with decimal, binary and exponent forms", () => {
    expect(parseMemory("64Mi")).toEqual({ ok: true, value: 64 * 2 ** 20 });
    expect(parseMemory("1G")).toEqual({ ok: true, value: 1e9 });
    expect(parseMemory("1.5Gi")).toEqual({ ok: true, value: 1.5 * 2 ** 30 });
    expect(parseMemory("129e6")).toEqual({ ok: true, value: 129e6 });
    expect(parseMemory(4096)).toEqual({ ok: true, value: 4096 });
    expect(parseMemory("1k")).toEqual({ ok: true, value: 1000 });
    const milli = parseMemory("64m");
    expect(milli.ok === false && milli.hint).toMatch(/did you mean "Mi" or "M"/);
    expect(parseMemory("1.5").ok).toBe(false);
    expect(parseMemory("10Ei").ok).toBe(false);
  });

  it("formats canonically and round-trips", () => {
    expect([formatCpu(500), formatCpu(2000), formatCpu(1500)]).toEqual(["500m", "2", "1500m"]);
    expect([formatMemory(64 * 2 ** 20), formatMemory(1e9), formatMemory(1500), formatMemory(1536)]).toEqual(["64Mi", "1G", "1500", "1536"]);
    for (const b of [1, 1000, 1024, 1536 * 1024, 129e6, 3 * 2 ** 40]) {
      const r = parseMemory(formatMemory(b));
      expect(r.ok && r.value).toBe(b);
    }
  });
});

describe("path syntax", () => {
  it("accepts absolute canonical files and directories", () => {
    expect(checkFilePath("/etc/shadow")).toBeUndefined();
    expect(checkDirectory("/")).toBeUndefined();
    expect(checkDirectory("/var/log/")).toBeUndefined();
  });
  it("rejects relative, trailing-slash, non-canonical and control characters", () => {
    expect(checkFilePath("etc/shadow")?.hint).toBe('write "/etc/shadow"');
    expect(checkFilePath("/etc/")?.message).toMatch(/names a directory/);
    expect(checkFilePath("/a/./b")?.hint).toMatch(/write "\/a\/b"/);
    expect(checkDirectory("/a//b/")?.hint).toMatch(/write "\/a\/b\/"/);
    expect(checkDirectory("/etc")?.hint).toBe('write "/etc/"');
    expect(checkFilePath("/etc/\u0000x")?.message).toMatch(/control character/);
  });
  it("checks glob syntax", () => {
    for (const ok of ["/etc/*.conf", "/**/pip{,3}", "/a/[!a-z]?", "/x/\\[y\\]", "/home/*/.*_history", "/{a,{b,c}}/d"]) expect(checkPattern(ok), ok).toBeUndefined();
    expect(checkPattern("/a/[b")?.message).toMatch(/unclosed "\["/);
    expect(checkPattern("/a/b]")?.message).toMatch(/unmatched "\]"/);
    expect(checkPattern("/a/{b,c")?.message).toMatch(/unclosed "\{"/);
    expect(checkPattern("/a/b}")?.message).toMatch(/unmatched "\}"/);
    expect(checkPattern("/a\\")?.message).toMatch(/unfinished escape/);
  });
  it("converts globs to equivalent regular expressions", () => {
    const re = (p: string) => patternToRegExp(p);
    expect(re("/etc/*.conf").test("/etc/app.conf")).toBe(true);
    expect(re("/etc/*.conf").test("/etc/sub/app.conf")).toBe(false);
    expect(re("/etc/**.conf").test("/etc/sub/app.conf")).toBe(true);
    expect(re("/usr/bin/pip{,3}").test("/usr/bin/pip3")).toBe(true);
    expect(re("/usr/bin/pip{,3}").test("/usr/bin/pip")).toBe(true);
    expect(re("/usr/bin/python3.[0-9]").test("/usr/bin/python3.9")).toBe(true);
    expect(re("/usr/bin/python3.[0-9]").test("/usr/bin/python3x9")).toBe(false);
    expect(re("/tmp/?").test("/tmp//")).toBe(false);
    expect(re("/a/[^b]").test("/a//")).toBe(false);
  });
});

describe("suggestions", () => {
  it("counts transpositions as one edit", () => {
    expect(editDistance("paht", "path")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });
  it("suggests only plausible names", () => {
    expect(closest("matchpaths", ["matchPaths", "matchDirectories"])).toBe("matchPaths");
    expect(closest("fromsource", ["fromSource", "ownerOnly"])).toBe("fromSource");
    expect(closest("xyz", ["path", "dir"])).toBeUndefined();
  });
});

describe("spellings", () => {
  it("normalises actions, capabilities and protocols", () => {
    expect(["allow", "AUDIT", "Block", " block "].map(normalizeAction)).toEqual(["Allow", "Audit", "Block", "Block"]);
    expect(normalizeAction("deny")).toBeUndefined();
    expect(["CAP_NET_RAW", "net_raw", "NET_RAW", "cap_sys_admin"].map(normalizeCapability)).toEqual(["net_raw", "net_raw", "net_raw", "sys_admin"]);
    expect(normalizeCapability("net_rae")).toBeUndefined();
    expect(["TCP", "udp", "ICMPv6", "all"].map(normalizeProtocol)).toEqual(["tcp", "udp", "icmpv6", "all"]);
    expect(normalizeProtocol("http")).toBeUndefined();
  });
  it("knows every Linux capability and the syscall tables", () => {
    expect(CAPABILITIES).toHaveLength(41);
    for (const s of ["read", "openat", "clone3", "io_uring_setup", "landlock_create_ruleset", "init_module", "rseq"]) expect(SYSCALLS.has(s), s).toBe(true);
    expect(SYSCALLS.has("unlnk")).toBe(false);
  });
});
