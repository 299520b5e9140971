/**
 * The compiler grants Landlock's `truncate` right on rules whose whole tree
 * is read-only (src/compiler/landlockRules.ts, readOnlyTruncate) so that
 * each open's path walk stops early. These attacks check, with real
 * processes, that this grants nothing: a file allowed read-only can be read
 * but not truncated, whether it lies on the read-only root (EROFS) or on a
 * writable volume that the policy allows only for reading (Landlock
 * refuses, because no truncate is granted over a writable mount).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../src/core/paths.js";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { runWorkload } from "../../src/runtime/workloads.js";
import { makeBusyboxRootfs } from "../fixtures/images.js";
import { kernelIt, type Requirement } from "../kernelTest.js";
import { busyboxWorkload, CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "./runtimeFixture.js";

const GCC: Requirement = { feature: "gcc", check: () => { try { execFileSync("gcc", ["--version"], { stdio: "ignore" }); return null; } catch { return "gcc is not installed (scripts/setup.sh installs it)"; } } };
const NEEDS = [...CONTAINERS, GCC];

let fx: RuntimeFixture | undefined;
let image = "";
const previous = process.env.PALISADE_DATA_DIR;
beforeAll(async () => {
  if (!NEEDS.every((r) => r.check() === null)) return;
  fx = await setupRuntime();
  // busybox plus /usr/bin/truncate-path (truncate(2) without an open: the call Landlock's truncate right governs).
  const dir = mkdtempSync(join(tmpdir(), "palisade-trunc-rootfs-"));
  try {
    makeBusyboxRootfs(dir);
    mkdirSync(join(dir, "usr", "bin"), { recursive: true });
    execFileSync("gcc", ["-static", "-O2", "-Wall", "-Werror", "-o", join(dir, "usr", "bin", "truncate-path"), join(repoRoot(), "test", "runtime", "native", "truncatePath.c")]);
    const rec = await fx.store.build(dir, { tag: "busybox-trunc:test", cmd: ["/bin/sh"] });
    image = `busybox-trunc@${rec.digest}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
afterAll(() => teardownRuntime(fx, previous));

const VOLUME = "    volumeMounts:\n    - {name: data, mountPath: /data}\n";
const PERSISTENT = "  volumes:\n  - name: data\n    persistent: {}\n";
// The helper must be readable too: the kernel reads a program to execute it.
const READ_ONLY_ALLOW = "  file:\n    matchPaths:\n    - {path: /usr/bin/truncate-path, readOnly: true}\n    matchDirectories:\n    - {dir: /etc/, recursive: true, readOnly: true}\n    - {dir: /data/, recursive: true, readOnly: true}\n  action: Allow\n";

async function run(script: string, policies: string[]) {
  const f = fx!;
  return runWorkload({ ...busyboxWorkload(image, script, { name: "trunc", containerYaml: VOLUME, spec: PERSISTENT, policies }), features: f.features, store: f.store, stdio: "pipe", timeoutMs: 60_000 });
}

describe("truncate on read-only ground", () => {
  kernelIt(
    "a read-only allow-list lets the workload read but never truncate, on the root or on a writable volume",
    NEEDS,
    async () => {
      // First run (no policy): creates the persistent volume; the host then puts a file in it.
      const first = await run("true", []);
      expect(first.exitCode).toBe(0);
      const hostFile = join(fx!.dataDir, "persistent", "default", "trunc", "data", "f");
      writeFileSync(hostFile, "precious\n");
      // World-writable (the umask would narrow writeFileSync's mode): only the policy stands in the way.
      chmodSync(hostFile, 0o666);

      const r = await run(
        [
          "cat /data/f",
          "truncate-path /data/f",
          "truncate -s 0 /data/f && echo TRUNCATED-VOLUME",
          // In a subshell: a failed redirection on the special builtin ":" would end the whole script.
          "(: > /data/f) && echo EMPTIED-VOLUME",
          "truncate-path /etc/passwd",
          "head -c 4 /etc/passwd; echo",
          "echo done",
        ].join("; "),
        [READ_ONLY_ALLOW],
      );
      expect(r.stdout, r.stderr).toContain("precious");
      // The volume is writable, so only Landlock can refuse: no truncate is granted over a writable mount.
      expect(r.stdout).toContain("refused /data/f: Permission denied");
      // The root is read-only: truncate is granted there (shorter path walks) and the mount refuses.
      expect(r.stdout).toContain("refused /etc/passwd: Read-only file system");
      expect(r.stdout).toContain("root");
      expect(r.stdout).toContain("done");
      expect(r.stdout).not.toMatch(/TRUNCATED|EMPTIED|^truncated/m);
      expect(readFileSync(hostFile, "utf8")).toBe("precious\n");

      // Control: without the policy the same call truncates the file, so the refusal above is the policy's.
      const control = await run("truncate-path /data/f", []);
      expect(control.stdout, control.stderr).toContain("truncated /data/f");
      expect(readFileSync(hostFile, "utf8")).toBe("");
    },
    180_000,
  );
});
