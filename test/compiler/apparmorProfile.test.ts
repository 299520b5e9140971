/**
 * Generated AppArmor profiles are checked by the real parser
 * (`apparmor_parser -Q -K`: parse and compile, skip the kernel load and the
 * cache), so a profile that would fail to load on an AppArmor host fails here.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { apparmorCannotExpress, compileAppArmor } from "../../src/compiler/index.js";
import { combinePolicies } from "../../src/policy/index.js";
import { kernelIt, type Requirement } from "../kernelTest.js";
import { parse } from "./helpers.js";

const PARSER_PATH = "/usr/sbin:/sbin:/usr/bin:/bin";
const APPARMOR_PARSER: Requirement = {
  feature: "apparmor_parser",
  check: () => (spawnSync("apparmor_parser", ["--version"], { env: { PATH: PARSER_PATH } }).status === 0 ? null : "apparmor_parser is not installed (apt-get install apparmor)"),
};

const dir = mkdtempSync(join(tmpdir(), "palisade-aa-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function profile(policies: string[], capabilities: string[] = []): string {
  const { workload, policies: ps } = parse({ policies });
  return compileAppArmor({ id: "default.demo", policy: combinePolicies(ps, workload.labels), capabilities });
}

/** Runs apparmor_parser on the text; returns null when it accepts it, else its message. */
function check(text: string): string | null {
  const file = join(dir, `p${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  try {
    execFileSync("apparmor_parser", ["-Q", "-K", file], { env: { PATH: PARSER_PATH }, stdio: ["ignore", "pipe", "pipe"] });
    return null;
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e);
  }
}

const POLICIES: Record<string, string[]> = {
  "no policy": [],
  "file and process blocks, patterns, readOnly": [
    "  file:\n    matchPaths:\n    - path: /etc/shadow\n    - path: /etc/passwd\n      readOnly: true\n    matchDirectories:\n    - dir: /etc/ssl/private/\n      recursive: true\n    matchPatterns:\n    - pattern: /home/*/.ssh/**\n  action: Block\n",
    "  process:\n    matchPaths:\n    - path: /bin/sh\n    matchPatterns:\n    - pattern: /usr/bin/{curl,wget}\n  action: Block\n",
  ],
  "allow-lists with owner-only and audit": [
    "  file:\n    matchDirectories:\n    - dir: /var/lib/app/\n      recursive: true\n      ownerOnly: true\n    matchPaths:\n    - path: /etc/app.conf\n      readOnly: true\n  action: Allow\n",
    "  process:\n    matchPaths:\n    - path: /usr/bin/app\n  action: Allow\n",
    "  file:\n    matchPaths:\n    - path: /etc/hostname\n  action: Audit\n",
  ],
  "network and capabilities": [
    "  network:\n    matchProtocols:\n    - protocol: raw\n    - protocol: icmp\n  action: Block\n",
    "  network:\n    matchProtocols:\n    - protocol: udp\n  action: Audit\n",
    "  capabilities:\n    matchCapabilities:\n    - capability: sys_admin\n  action: Block\n",
  ],
  "network allow-list": ["  network:\n    matchProtocols:\n    - protocol: tcp\n    - protocol: icmpv6\n  action: Allow\n"],
};

describe("AppArmor profile", () => {
  for (const [name, policies] of Object.entries(POLICIES)) {
    kernelIt(`apparmor_parser accepts the profile: ${name}`, [APPARMOR_PARSER], () => {
      expect(check(profile(policies, ["net_bind_service"]))).toBeNull();
    });
  }

  kernelIt("apparmor_parser rejects a broken profile (the check can fail)", [APPARMOR_PARSER], () => {
    expect(check(profile([]).replace("deny mount,", "deny mount"))).toMatch(/error|unexpected/i);
  });

  it("expresses blocks, readOnly blocks, patterns and the container-engine base", () => {
    const text = profile(POLICIES["file and process blocks, patterns, readOnly"]!);
    expect(text).toMatch(/^profile palisade-default\.demo flags=\(attach_disconnected,mediate_deleted\) \{$/m);
    for (const line of ["deny /etc/shadow rwklx,", "deny /etc/passwd wl,", "deny /etc/ssl/private/** rwklx,", "deny /home/*/.ssh/** rwklx,", "deny /bin/sh x,", "deny /usr/bin/{curl,wget} x,", "deny mount,", "deny ptrace,", "file,", "network,"]) {
      expect(text).toContain(`  ${line}\n`);
    }
  });

  it("in allow-lists drops the generic grants, adds the runtime's needs, and never lets Audit grant", () => {
    const text = profile(POLICIES["allow-lists with owner-only and audit"]!);
    expect(text).not.toMatch(/^ {2}file,$/m);
    expect(text).toContain("  owner /var/lib/app/** rwlk,\n");
    expect(text).toContain("  /usr/bin/app rix,\n");
    expect(text).toContain("  /dev/{null,zero,full,random,urandom,tty} rw,\n");
    expect(text).not.toContain("/etc/hostname");
  });

  it("lists what it cannot express", () => {
    const { policies } = parse({ policies: ["  syscalls:\n    matchSyscalls:\n    - syscall: [unlink]\n  action: Block\n", "  file:\n    matchPaths:\n    - path: /x\n      fromSource:\n      - path: /bin/cat\n  action: Block\n"] });
    const rules = policies.flatMap((p) => p.rules);
    expect(rules.map(apparmorCannotExpress)).toEqual([expect.stringMatching(/does not mediate individual syscalls/), expect.stringMatching(/fromSource/)]);
  });
});
