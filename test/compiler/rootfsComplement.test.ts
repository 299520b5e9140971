/**
 * The Block complement is checked against a model of Landlock itself: for
 * every entry of a temp rootfs, the rights Landlock would grant (the union
 * of the rules on the inodes along its path, as the kernel walks it) must be
 * exactly "everything but what is blocked" for files and off-chain
 * directories, and never more for the directories on a blocked path's chain.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileComplement, FILE_RIGHTS, resolveInRootfs, type RootfsView, type Target } from "../../src/compiler/index.js";
import { FS_RIGHT_ABI, type FsRight } from "../../src/native/launchConfig.js";
import { IMAGE_TREE, tempTree } from "./helpers.js";

const FULL = new Set(Object.keys(FS_RIGHT_ABI) as FsRight[]);
const tree = tempTree(IMAGE_TREE);
afterAll(() => tree.cleanup());

const view: RootfsView = {
  root: tree.root,
  mounts: [
    { destination: "/tmp", writable: true, isDir: true },
    { destination: "/proc", writable: false, isDir: true },
    { destination: "/etc/hosts", writable: false, isDir: false },
    { destination: "/.palisade/launch", writable: false, isDir: false },
  ],
};

function key(path: string): string {
  const r = resolveInRootfs(view, path);
  return r.kind === "entry" ? r.inode : `path:${path}`;
}

/** What Landlock grants on `path` (canonical, no symlinks): union of rules on the inodes of it and its ancestors. */
function landlock(rules: ReadonlyMap<string, ReadonlySet<FsRight>>, path: string, isDir: boolean): Set<FsRight> {
  const byInode = new Map<string, Set<FsRight>>();
  for (const [p, rs] of rules) {
    const k = key(p);
    const set = byInode.get(k) ?? new Set<FsRight>();
    for (const r of rs) set.add(r);
    byInode.set(k, set);
  }
  const out = new Set<FsRight>();
  for (let p = path; ; p = posix.dirname(p)) {
    for (const r of byInode.get(key(p)) ?? []) out.add(r);
    if (p === "/") break;
  }
  return isDir ? out : new Set([...out].filter((r) => FILE_RIGHTS.has(r)));
}

function entries(dir = "/"): { path: string; isDir: boolean }[] {
  const out: { path: string; isDir: boolean }[] = [];
  for (const name of readdirSync(join(tree.root, dir))) {
    const p = posix.join(dir, name);
    const st = lstatSync(join(tree.root, p));
    if (st.isSymbolicLink()) continue;
    out.push({ path: p, isDir: st.isDirectory() });
    if (st.isDirectory()) out.push(...entries(p));
  }
  return out;
}

function target(path: string, rights: Iterable<FsRight>, mode: Target["mode"]): Target {
  const r = resolveInRootfs(view, path);
  if (r.kind !== "entry") throw new Error(`${path} is not in the tree`);
  return { path: r.path, rights: new Set(mode === "file" ? [...rights].filter((x) => FILE_RIGHTS.has(x)) : rights), mode, inode: r.inode, links: r.links };
}

const minus = (a: Set<FsRight>, b: Iterable<FsRight>) => new Set([...a].filter((r) => ![...b].includes(r)));
const sorted = (s: Iterable<FsRight>) => [...s].sort();

/** Checks every entry: exact for files and off-chain dirs; never more than allowed on chain dirs. */
function check(targets: Target[], blockedFor: (path: string) => Set<FsRight>) {
  const { rules } = compileComplement(view, [{ path: "/", rights: FULL, recursive: true }], targets);
  const chain = (p: string) => targets.some((t) => t.path !== p && t.path.startsWith(p === "/" ? "/" : p + "/")) || targets.some((t) => t.mode === "children" && t.path === p);
  for (const e of entries()) {
    const got = landlock(rules, e.path, e.isDir);
    const want = minus(e.isDir ? FULL : new Set(FILE_RIGHTS), blockedFor(e.path));
    if (!e.isDir || !chain(e.path)) expect(sorted(got), e.path).toEqual(sorted(want));
    else expect(sorted([...got].filter((r) => !want.has(r))), e.path).toEqual([]);
  }
  return rules;
}

describe("Block complement on an immutable rootfs", () => {
  it("blocks one file and nothing else (ancestors keep listing)", () => {
    const rules = check([target("/etc/shadow", FULL, "file")], (p) => (p === "/etc/shadow" ? FULL : new Set()));
    expect(landlock(rules, "/etc", true).has("read_dir")).toBe(true);
    expect(landlock(rules, "/", true).has("read_dir")).toBe(true);
    // Mount points are siblings like any entry: /tmp (a writable tmpfs) keeps everything.
    expect(sorted(rules.get("/tmp") ?? [])).toEqual(sorted(FULL));
    expect(rules.has("/etc/hosts")).toBe(true);
    expect(rules.has("/.palisade")).toBe(true);
  });

  it("blocks a directory tree", () => {
    check([target("/etc/ssl/private", FULL, "tree")], (p) => (p === "/etc/ssl/private" || p.startsWith("/etc/ssl/private/") ? FULL : new Set()));
  });

  it("blocks only the direct files of a non-recursive directory", () => {
    const rules = check([target("/etc", FULL, "children")], (p) => (posix.dirname(p) === "/etc" && !lstatSync(join(tree.root, p)).isDirectory() ? FULL : new Set()));
    expect(landlock(rules, "/etc", true).has("read_dir")).toBe(false);
    expect(landlock(rules, "/etc/ssl/certs/ca.pem", false).has("read_file")).toBe(true);
  });

  it("blocks execution only, for process rules", () => {
    check([target("/usr/bin/tool", ["execute"], "file")], (p) => (p.startsWith("/usr/bin/tool") ? new Set<FsRight>(["execute"]) : new Set()));
  });

  it("strips a blocked file's rights from its hard links (Landlock rules attach to inodes)", () => {
    const { rules, notes } = compileComplement(view, [{ path: "/", rights: FULL, recursive: true }], [target("/usr/bin/tool", FULL, "file")]);
    expect(landlock(rules, "/usr/bin/tool-alias", false).size).toBe(0);
    expect(notes.join("\n")).toMatch(/other hard links/);
  });

  it("resolves symlinks first: blocking /bin/sh blocks busybox, the file it names", () => {
    const t = target("/bin/sh", FULL, "file");
    expect(t.path).toBe("/bin/busybox");
    const rules = check([t], (p) => (p === "/bin/busybox" ? FULL : new Set()));
    // Symlinks never get rules of their own (the launcher would open their target).
    expect(rules.has("/bin/cat")).toBe(false);
  });

  it("combines several targets with different rights", () => {
    check([target("/etc/shadow", FULL, "file"), target("/usr/bin", ["execute"], "tree"), target("/etc/ssl/certs/ca.pem", ["write_file", "truncate"], "file")], (p) => {
      const s = new Set<FsRight>();
      if (p === "/etc/shadow") for (const r of FULL) s.add(r);
      if (p === "/usr/bin" || p.startsWith("/usr/bin/")) s.add("execute");
      if (p === "/etc/ssl/certs/ca.pem") ["write_file", "truncate"].forEach((r) => s.add(r as FsRight));
      return s;
    });
  });

  it("with no targets, emits only the grants", () => {
    const { rules, enumerated } = compileComplement(view, [{ path: "/", rights: new Set<FsRight>(["read_file"]), recursive: true }], []);
    expect([...rules.keys()]).toEqual(["/"]);
    expect(enumerated).toBe(0);
  });
});

describe("resolveInRootfs", () => {
  it("follows symlinks inside the rootfs and stops at mounts", () => {
    expect(resolveInRootfs(view, "/bin/cat")).toMatchObject({ kind: "entry", path: "/bin/busybox", viaSymlink: true });
    expect(resolveInRootfs(view, "/tmp/x")).toMatchObject({ kind: "mount", inside: true });
    expect(resolveInRootfs(view, "/etc/hosts")).toMatchObject({ kind: "mount", inside: false });
    expect(resolveInRootfs(view, "/etc/nope")).toMatchObject({ kind: "absent" });
    expect(resolveInRootfs(view, "/etc/passwd/x")).toMatchObject({ kind: "absent" });
  });
});
