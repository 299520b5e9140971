import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { RuncDriver, runcMessage } from "../../src/runtime/runcDriver.js";
import { kernelIt, ROOT } from "../kernelTest.js";
import { makeBusyboxRootfs } from "../fixtures/images.js";
import { BUSYBOX, RUNC } from "./runtimeFixture.js";

const root = mkdtempSync(join(tmpdir(), "palisade-runc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("runc driver", () => {
  it("extracts runc's message from JSON log lines and from text logs", () => {
    expect(runcMessage('{"level":"error","msg":"container \\"x\\" does not exist","time":"2026-01-01T00:00:00Z"}\n')).toBe('container "x" does not exist');
    expect(runcMessage('time="2026-01-01T00:00:00Z" level=error msg="rootfs (\\"/x\\") does not exist"\n')).toBe('rootfs ("/x") does not exist');
    expect(runcMessage('{"level":"warning","msg":"ignored"}\nplain failure\n')).toBe("plain failure");
    expect(runcMessage("")).toBe("no message");
  });

  it("finds runc's errors in a spawnRun log file", () => {
    expect(RuncDriver.errorsIn('{"level":"info","msg":"ok"}\n{"level":"error","msg":"unable to start container process: exec: \\"/nope\\": no such file"}\n')).toBe(
      'unable to start container process: exec: "/nope": no such file',
    );
    expect(RuncDriver.errorsIn('{"level":"info","msg":"ok"}\n')).toBeUndefined();
  });

  it("turns a missing runc into a RUNTIME error with an install hint", async () => {
    const d = new RuncDriver({ root, binary: "/nonexistent/runc" });
    await expect(d.list()).rejects.toMatchObject({ code: "RUNTIME", message: "/nonexistent/runc is not installed", hint: expect.stringMatching(/apt-get install runc/) });
  });

  kernelIt("uses its own state root: list is empty, an unknown container has no state, delete of it is fine", [ROOT, RUNC], async () => {
    const d = new RuncDriver({ root });
    expect(await d.list()).toEqual([]);
    expect(await d.state("palisade-test-none")).toBeUndefined();
    await expect(d.delete("palisade-test-none", { force: true })).resolves.toBeUndefined();
  });

  kernelIt("knows a container while runc holds its state; `runc run` removes it on exit, and delete then spawns nothing", [ROOT, RUNC, BUSYBOX], async () => {
    const d = new RuncDriver({ root });
    const bundle = mkdtempSync(join(tmpdir(), "palisade-runc-bundle-"));
    try {
      makeBusyboxRootfs(join(bundle, "rootfs"));
      mkdirSync(join(bundle, "rootfs", "proc"), { recursive: true });
      const spec = {
        ociVersion: "1.0.2",
        process: { user: { uid: 0, gid: 0 }, args: ["/bin/sh", "-c", "sleep 60"], cwd: "/", env: ["PATH=/bin"] },
        root: { path: "rootfs", readonly: true },
        mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
        linux: { namespaces: [{ type: "pid" }, { type: "mount" }] },
      };
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      const id = "palisade-test-knows";
      expect(d.knows(id)).toBe(false);
      const child = d.spawnRun(id, bundle, { stdio: "pipe", pidFile: join(bundle, "pid"), logFile: join(bundle, "runc.log") });
      const closed = new Promise((r) => child.once("close", r));
      while ((await d.state(id))?.status !== "running") await new Promise((r) => setTimeout(r, 20));
      expect(d.knows(id)).toBe(true);
      await d.kill(id, "KILL", { all: true });
      await closed;
      expect(d.knows(id)).toBe(false);
      expect(await d.state(id)).toBeUndefined();
      // A driver whose binary does not exist shows that delete spawns nothing for an unknown container.
      await expect(new RuncDriver({ root, binary: "/nonexistent/runc" }).delete(id, { force: true })).resolves.toBeUndefined();
    } finally {
      await d.delete("palisade-test-knows", { force: true });
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  kernelIt("carries runc's own message in the error", [ROOT, RUNC], async () => {
    const d = new RuncDriver({ root });
    const err = await d.kill("palisade-test-none", "SIGTERM").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PalisadeError);
    expect((err as PalisadeError).message).toMatch(/^runc kill palisade-test-none failed: .*does not exist/);
  });
});
