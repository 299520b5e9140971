/**
 * `palisade image build | import | ls | inspect | rm | gc`: the local image
 * store (src/runtime/imageStore.ts, docs/images.md). Progress goes to stderr,
 * results to stdout; read verbs support --json. The store lives in
 * `<data dir>/images` (--data-dir, else PALISADE_DATA_DIR, else /var/lib/palisade).
 */
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { ImageStore, type ImageDetails, type ImageRecord } from "../runtime/imageStore.js";
import { formatBytes } from "../runtime/imageUnpack.js";
import { formatRef } from "../runtime/imageRef.js";
import { formatTable, printJson } from "./output.js";

interface StoreOpts {
  dataDir?: string;
  quiet?: boolean;
  json?: boolean;
}

function openStore(opts: StoreOpts): ImageStore {
  return ImageStore.open(opts.dataDir ? join(resolve(opts.dataDir), "images") : undefined);
}

function progressFor(opts: StoreOpts): ((msg: string) => void) | undefined {
  return opts.quiet ? undefined : (msg) => process.stderr.write(`${msg}\n`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--entrypoint '["/bin/sh","-c"]'` (JSON array) or `--entrypoint "/bin/sh -c"` (split on spaces). */
export function parseCommandList(value: string, option: string): string[] {
  const v = value.trim();
  if (v.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
      throw new PalisadeError("USAGE", `${option} ${JSON.stringify(value)} is not a JSON array of strings`, { hint: `e.g. ${option} '["/bin/sh","-c","echo hi"]'` });
    }
    return parsed as string[];
  }
  return v.split(/\s+/).filter(Boolean);
}

function shortId(digest: string): string {
  return digest.slice("sha256:".length, "sha256:".length + 12);
}

export function imageRows(records: readonly ImageRecord[]): string[][] {
  return records.map((r) => [r.name || "<none>", r.tag ?? "<none>", shortId(r.digest), r.platform, formatBytes(r.size), r.created ?? ""]);
}

export function renderInspect(d: ImageDetails): string {
  const c = d.config;
  const others = d.tags.filter((t) => t !== formatRef(d.record.name, d.record.tag));
  const lines = [
    ["Name", `${formatRef(d.record.name, d.record.tag)}${others.length ? ` (also ${others.join(", ")})` : ""}`],
    ["Digest", d.record.digest],
    ["Platform", d.record.platform],
    ["Size", `${formatBytes(d.record.size)} (${d.record.size} bytes)`],
    ["Created", d.record.created ?? "-"],
    ["Entrypoint", JSON.stringify(c.entrypoint)],
    ["Cmd", JSON.stringify(c.cmd)],
    ["Env", c.env.join(" ") || "-"],
    ["WorkingDir", c.workingDir],
    ["User", c.user || "(default: root)"],
    ["Config", d.configDigest],
    ["Rootfs", d.rootfs ?? "not unpacked yet"],
  ];
  let out = lines.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join("\n") + "\n";
  out += `Layers (${d.layers.length}):\n`;
  for (const l of d.layers) out += `  ${l.digest}  ${formatBytes(l.size).padStart(9)}  ${l.mediaType}\n`;
  return out;
}

export function registerImageCommand(program: Command): void {
  const image = program.command("image").description("build, import, list and remove images in the local OCI image store");
  const withStore = (cmd: Command) => cmd.option("--data-dir <dir>", "Palisade data directory (default: $PALISADE_DATA_DIR or /var/lib/palisade)");

  withStore(
    image
      .command("build <dir>")
      .description("build a single-layer image from a directory, reproducibly (same directory ⇒ same digest)")
      .requiredOption("-t, --tag <name[:tag]>", "name the image (default tag: latest)")
      .option("--entrypoint <command>", 'entrypoint, as a JSON array (\'["/bin/sh","-c"]\') or space-separated words')
      .option("--cmd <command>", "default arguments, as a JSON array or space-separated words")
      .option("-e, --env <KEY=value>", "environment variable (repeatable)", collect, [])
      .option("-w, --workdir <dir>", "working directory")
      .option("-u, --user <user>", "user[:group] to run as")
      .option("--no-compress", "store the layer as plain tar (digests stable across zlib versions)")
      .option("-q, --quiet", "no progress output")
      .option("--json", "print the image record as JSON"),
  ).action(async (dir: string, opts: StoreOpts & { tag: string; entrypoint?: string; cmd?: string; env: string[]; workdir?: string; user?: string; compress: boolean }) => {
    for (const e of opts.env) if (!/^[^=]+=/.test(e)) throw new PalisadeError("USAGE", `--env ${JSON.stringify(e)} is not KEY=value`);
    const record = await openStore(opts).build(dir, {
      tag: opts.tag,
      ...(opts.entrypoint !== undefined ? { entrypoint: parseCommandList(opts.entrypoint, "--entrypoint") } : {}),
      ...(opts.cmd !== undefined ? { cmd: parseCommandList(opts.cmd, "--cmd") } : {}),
      env: opts.env,
      ...(opts.workdir ? { workingDir: opts.workdir } : {}),
      ...(opts.user ? { user: opts.user } : {}),
      compression: opts.compress ? "gzip" : "none",
      progress: progressFor(opts),
    });
    if (opts.json) printJson(record);
    else process.stdout.write(`${formatRef(record.name, record.tag)} ${record.digest}\n`);
  });

  withStore(
    image
      .command("import <path>")
      .description("import an OCI image layout directory or a docker save tarball (.tar or .tar.gz)")
      .option("-t, --tag <name[:tag]>", "name the imported image (the source must hold one image)")
      .option("--platform <os/arch[/variant]>", "platform to pick from multi-platform images (default: this machine's)")
      .option("-q, --quiet", "no progress output")
      .option("--json", "print the imported image records as JSON"),
  ).action(async (path: string, opts: StoreOpts & { tag?: string; platform?: string }) => {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw new PalisadeError("IO", `cannot import ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { hint: "check the path exists", cause: err });
    }
    const store = openStore(opts);
    const importOpts = { ...(opts.tag ? { tag: opts.tag } : {}), ...(opts.platform ? { platform: opts.platform } : {}), progress: progressFor(opts) };
    const records = isDir ? await store.importLayout(path, importOpts) : await store.importTarball(path, importOpts);
    if (opts.json) printJson(records);
    else for (const r of records) process.stdout.write(`${formatRef(r.name, r.tag)} ${r.digest}\n`);
  });

  withStore(image.command("ls").alias("list").description("list the images in the store").option("--json", "print ImageRecord objects as JSON")).action(
    (opts: StoreOpts) => {
      const records = openStore(opts).list();
      if (opts.json) printJson(records);
      else process.stdout.write(formatTable(["NAME", "TAG", "DIGEST", "PLATFORM", "SIZE", "CREATED"], imageRows(records)));
    },
  );

  withStore(image.command("inspect <ref>").description("show an image's config, layers and rootfs (verifies its manifest and config)").option("--json", "print as JSON")).action(
    (ref: string, opts: StoreOpts) => {
      const details = openStore(opts).inspect(ref);
      if (opts.json) printJson(details);
      else process.stdout.write(renderInspect(details));
    },
  );

  withStore(
    image
      .command("rm <ref...>")
      .alias("remove")
      .description("remove image names (a digest reference removes every name of that image), then delete unreferenced data")
      .option("--no-gc", "keep blobs and unpacked root filesystems for now")
      .option("--json", "print what was removed as JSON"),
  ).action((refs: string[], opts: StoreOpts & { gc: boolean }) => {
    const store = openStore(opts);
    const removed: ImageRecord[] = [];
    for (const ref of refs) removed.push(...store.remove(ref));
    const deleted = opts.gc ? store.gc() : 0;
    if (opts.json) printJson({ removed, deleted });
    else {
      for (const r of removed) process.stdout.write(`untagged ${formatRef(r.name, r.tag)} (${r.digest})\n`);
      if (opts.gc) process.stdout.write(`deleted ${deleted} unreferenced blob(s) and root filesystem(s)\n`);
    }
  });

  withStore(image.command("gc").description("delete blobs and unpacked root filesystems no image references").option("--json", "print the count as JSON")).action(
    (opts: StoreOpts) => {
      const deleted = openStore(opts).gc();
      if (opts.json) printJson({ deleted });
      else process.stdout.write(`deleted ${deleted} unreferenced blob(s) and root filesystem(s)\n`);
    },
  );
}
