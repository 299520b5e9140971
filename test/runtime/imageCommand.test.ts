import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { parseCommandList, registerImageCommand } from "../../src/cli/imageCommand.js";
import { haveBusybox, makeBusyboxRootfs, tempDir, writeOciLayout, gnuTarLayer } from "../fixtures/images.js";
import { captureOutput } from "../runCli.js";

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  tmp.cleanup();
  delete process.env.PALISADE_DATA_DIR;
});

/** Runs `palisade image …` in-process on a fresh commander program, capturing output. */
async function image(...args: string[]): Promise<{ out: string; err: string; error?: PalisadeError }> {
  const program = new Command("palisade").exitOverride();
  registerImageCommand(program);
  const r = await captureOutput(() => program.parseAsync(["image", ...args], { from: "user" }));
  if (r.error !== undefined && !(r.error instanceof PalisadeError)) throw r.error;
  return { out: r.out, err: r.err, ...(r.error instanceof PalisadeError ? { error: r.error } : {}) };
}

describe("palisade image CLI", () => {
  it("parses --entrypoint / --cmd as a JSON array or words", () => {
    expect(parseCommandList('["/bin/sh", "-c", "echo a b"]', "--cmd")).toEqual(["/bin/sh", "-c", "echo a b"]);
    expect(parseCommandList(" /bin/httpd  -f -p 80 ", "--cmd")).toEqual(["/bin/httpd", "-f", "-p", "80"]);
    expect(() => parseCommandList('["x", 1]', "--entrypoint")).toThrow(/not a JSON array of strings/);
  });

  it.skipIf(!haveBusybox())("builds, lists (text and --json), inspects and removes images", async () => {
    const data = join(tmp.dir, "data");
    const src = join(tmp.dir, "rootfs");
    makeBusyboxRootfs(src);
    const built = await image("build", src, "--tag", "busybox:cli", "--entrypoint", '["/bin/sh","-c"]', "--cmd", "echo hi", "-e", "MODE=test", "--data-dir", data);
    expect(built.error).toBeUndefined();
    expect(built.out).toMatch(/^busybox:cli sha256:[a-f0-9]{64}\n$/);
    expect(built.err).toMatch(/packing .*\nlayer [a-f0-9]{12}: \d+ files/);
    const digest = built.out.trim().split(" ")[1] as string;

    const ls = await image("ls", "--json", "--data-dir", data);
    expect(JSON.parse(ls.out)).toEqual([{ name: "busybox", tag: "cli", digest, size: expect.any(Number), platform: expect.stringMatching(/^linux\//) }]);
    const text = await image("ls", "--data-dir", data);
    expect(text.out).toMatch(/^NAME\s+TAG\s+DIGEST\s+PLATFORM\s+SIZE\s+CREATED\nbusybox\s+cli\s+[a-f0-9]{12}\s+linux\/\S+\s+1\.0 MiB\n$/);

    const inspect = await image("inspect", "busybox:cli", "--data-dir", data);
    expect(inspect.out).toContain(`Digest:     ${digest}`);
    expect(inspect.out).toContain('Entrypoint: ["/bin/sh","-c"]');
    expect(inspect.out).toContain('Cmd:        ["echo","hi"]');
    expect(inspect.out).toContain("Rootfs:     not unpacked yet");
    const inspectJson = JSON.parse((await image("inspect", digest, "--json", "--data-dir", data)).out);
    expect(inspectJson.config).toMatchObject({ entrypoint: ["/bin/sh", "-c"], cmd: ["echo", "hi"], env: [expect.stringMatching(/^PATH=/), "MODE=test"] });

    // the data dir also comes from PALISADE_DATA_DIR
    process.env.PALISADE_DATA_DIR = data;
    expect((await image("ls", "--json")).out).toContain(digest);

    const rm = await image("rm", "busybox:cli");
    expect(rm.out).toBe(`untagged busybox:cli (${digest})\ndeleted 3 unreferenced blob(s) and root filesystem(s)\n`);
    expect(JSON.parse((await image("ls", "--json")).out)).toEqual([]);
    expect((await image("ls")).out).toBe("NAME  TAG  DIGEST  PLATFORM  SIZE  CREATED\n");
  });

  it("imports a layout directory or a tarball, detecting which", async () => {
    const data = join(tmp.dir, "data");
    const layout = join(tmp.dir, "app");
    writeOciLayout(layout, [gnuTarLayer({ "hello.txt": "hi" })], { refName: "v1" });
    const fromDir = await image("import", layout, "--data-dir", data, "-q");
    expect(fromDir.out).toMatch(/^app:v1 sha256:[a-f0-9]{64}\n$/);
    expect(fromDir.err).toBe("");
    const tarball = join(tmp.dir, "app.tar");
    execFileSync("tar", ["-C", layout, "-cf", tarball, "."]);
    const fromTar = await image("import", tarball, "--tag", "app:v2", "--json", "--data-dir", data);
    expect(JSON.parse(fromTar.out)).toEqual([expect.objectContaining({ name: "app", tag: "v2" })]);
    expect(fromTar.err).toContain(`reading ${tarball}`);
    const missing = await image("import", join(tmp.dir, "nope.tar"), "--data-dir", data);
    expect(missing.error?.code).toBe("IO");
  });

  it("reports unknown images as IMAGE_NOT_FOUND with a hint", async () => {
    const data = join(tmp.dir, "data");
    const r = await image("inspect", "nothing:here", "--data-dir", data);
    expect(r.error?.code).toBe("IMAGE_NOT_FOUND");
    expect(r.error?.hint).toContain("the image store is empty");
  });
});
