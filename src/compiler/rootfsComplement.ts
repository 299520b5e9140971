/**
 * "Allow everything except X" for an allow-list-only LSM (Landlock).
 *
 * Landlock cannot deny a path inside an allowed tree. But a workload's root
 * filesystem is read-only and its content is fixed by the image digest, so
 * the set "everything except X" is a finite, known set of directory entries.
 * We compile it exactly, at bundle time, by walking X's ancestor chain in the
 * unpacked rootfs: each ancestor gets only the rights that cannot reach X
 * (Landlock rights are inherited down a tree), and every sibling entry off
 * the chain gets its full rights. Soundness rests on three facts, all checked
 * here or by the caller:
 *
 * 1. Nothing can appear in the rootfs later: it is mounted read-only and
 *    the workload has no CAP_SYS_ADMIN and no mount syscalls (seccomp), so the
 *    enumerated siblings are all there will ever be. Paths *inside* writable
 *    mounts cannot be enumerated; the caller rejects rules on them.
 * 2. Landlock rules attach to inodes. A hard link of X elsewhere would carry
 *    X's rights, so every non-directory rule is stripped of the rights that
 *    any blocked name of the same inode loses (blocking one name of a
 *    multi-call binary blocks all of its names).
 * 3. Symlinks are never given rules (the launcher would open their target);
 *    path resolution through them lands on an inode that has its own rules.
 *    Targets are resolved through symlinks first.
 *
 * Mount points (tmpfs /tmp, volumes, /proc …) are siblings like any other
 * entry: rules name paths, which the launcher opens inside the container.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import type { FsRight } from "../native/launchConfig.js";

export type RightSet = ReadonlySet<FsRight>;

/** Rights that apply to a non-directory (Landlock rejects others on a file). */
export const FILE_RIGHTS: RightSet = new Set<FsRight>(["execute", "write_file", "read_file", "truncate", "ioctl_dev"]);

export interface MountPoint {
  /** Container path. */
  readonly destination: string;
  readonly writable: boolean;
  readonly isDir: boolean;
}

export interface RootfsView {
  /** Host directory holding the image's rootfs. */
  readonly root: string;
  /** Everything mounted over the rootfs inside the container. */
  readonly mounts: readonly MountPoint[];
}

export type Resolved =
  | { readonly kind: "absent"; readonly path: string }
  /** The path is a mount point, or lies beneath one (`inside`). */
  | { readonly kind: "mount"; readonly path: string; readonly mount: MountPoint; readonly inside: boolean }
  | { readonly kind: "entry"; readonly path: string; readonly isDir: boolean; readonly inode: string; readonly links: number; readonly viaSymlink: boolean };

/** The mount covering a container path (the longest destination that is it or an ancestor). */
export function mountFor(view: RootfsView, path: string): MountPoint | undefined {
  let best: MountPoint | undefined;
  for (const m of view.mounts) {
    if ((path === m.destination || isUnder(path, m.destination)) && (!best || m.destination.length > best.destination.length)) best = m;
  }
  return best;
}

export function isUnder(path: string, dir: string): boolean {
  return dir === "/" ? path !== "/" : path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

function inodeKey(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * Resolves a container path against the image rootfs, following symlinks
 * the way the kernel would inside the container (absolute links restart at
 * the container's root). Stops at the first mount point.
 */
export function resolveInRootfs(view: RootfsView, path: string): Resolved {
  let rest = path.split("/").filter(Boolean);
  let cur = "/";
  let viaSymlink = false;
  for (let hops = 0; ; ) {
    const m = mountFor(view, cur);
    if (m) return { kind: "mount", path: posix.join(cur, ...rest), mount: m, inside: cur !== m.destination || rest.length > 0 };
    const st = lstatSync(join(view.root, cur), { throwIfNoEntry: false });
    if (!st) return { kind: "absent", path: posix.join(cur, ...rest) };
    if (st.isSymbolicLink()) {
      if (++hops > 40) return { kind: "absent", path: posix.join(cur, ...rest) };
      const target = readlinkSync(join(view.root, cur));
      const next = target.startsWith("/") ? target : posix.join(posix.dirname(cur), target);
      rest = [...posix.normalize(next).split("/").filter(Boolean), ...rest];
      cur = "/";
      viaSymlink = true;
      continue;
    }
    if (rest.length === 0) return { kind: "entry", path: cur, isDir: st.isDirectory(), inode: inodeKey(st), links: st.nlink, viaSymlink };
    if (!st.isDirectory()) return { kind: "absent", path: posix.join(cur, ...rest) };
    const name = rest.shift()!;
    if (name === "..") cur = posix.dirname(cur);
    else if (name !== ".") cur = posix.join(cur, name);
  }
}

export interface Grant {
  readonly path: string;
  readonly rights: RightSet;
  /** A directory tree (rights inherited below) or only this entry. */
  readonly recursive: boolean;
}

export interface Target {
  /** Resolved container path of an entry of the image rootfs. */
  readonly path: string;
  readonly rights: RightSet;
  /** tree: the entry and all below; file: a non-directory; children: a directory's listing and its direct non-directories. */
  readonly mode: "tree" | "file" | "children";
  readonly inode: string;
  /** Hard-link count (other names share the inode when > 1). */
  readonly links?: number;
}

export interface ComplementResult {
  /** Path rules for the launcher: path → rights (never empty). */
  readonly rules: ReadonlyMap<string, RightSet>;
  /** Entries enumerated to build the complement. */
  readonly enumerated: number;
  readonly notes: readonly string[];
}

interface Child {
  readonly path: string;
  readonly isDir: boolean;
  readonly inode?: string;
  readonly links?: number;
}

/**
 * Emits path rules so that every entry gets exactly Allowed − Blocked, where
 * Allowed comes from `grants` and Blocked from `targets` (see the file
 * comment). With no targets this is just the grants.
 */
export function compileComplement(view: RootfsView, grants: readonly Grant[], targetsIn: readonly Target[]): ComplementResult {
  const notes: string[] = [];
  const targets = expandChildren(view, targetsIn);
  const rules = new Map<string, Set<FsRight>>();
  const visited = new Set<string>();
  let enumerated = 0;

  // Rights each blocked inode loses, whichever of its names is used (fact 2).
  const inodeBlocked = new Map<string, Set<FsRight>>();
  for (const t of targets) {
    if (t.mode !== "file") continue;
    const set = inodeBlocked.get(t.inode) ?? new Set<FsRight>();
    for (const r of t.rights) set.add(r);
    inodeBlocked.set(t.inode, set);
  }

  const allowed = (n: string): Set<FsRight> => {
    const out = new Set<FsRight>();
    for (const g of grants) if (g.path === n || (g.recursive && isUnder(n, g.path))) for (const r of g.rights) out.add(r);
    return out;
  };
  const blocked = (n: string): Set<FsRight> => {
    const out = new Set<FsRight>();
    for (const t of targets) {
      if (t.path === n ? t.mode !== "children" : t.mode === "tree" && isUnder(n, t.path)) for (const r of t.rights) out.add(r);
    }
    return out;
  };
  // Rights that must not be inherited from n: those blocked strictly below it, and a children-target's own listing.
  const notInherited = (n: string): Set<FsRight> => {
    const out = new Set<FsRight>();
    for (const t of targets) if (isUnder(t.path, n) || (t.mode === "children" && t.path === n)) for (const r of t.rights) out.add(r);
    return out;
  };
  const onChain = (n: string): boolean => targets.some((t) => isUnder(t.path, n) || (t.mode === "children" && t.path === n));
  const isTarget = (n: string): boolean => targets.some((t) => t.path === n);

  const emit = (path: string, rights: Iterable<FsRight>, isDir: boolean, inode?: string): void => {
    visited.add(path);
    const lost = inode ? inodeBlocked.get(inode) : undefined;
    const set = new Set([...rights].filter((r) => (isDir || FILE_RIGHTS.has(r)) && !lost?.has(r)));
    if (set.size === 0) return;
    const prev = rules.get(path);
    if (prev) for (const r of set) prev.add(r);
    else rules.set(path, set);
  };
  const minus = (a: Set<FsRight>, ...bs: Set<FsRight>[]): Set<FsRight> => new Set([...a].filter((r) => !bs.some((b) => b.has(r))));

  const visit = (n: string, isDir: boolean, inode?: string): void => {
    emit(n, minus(allowed(n), blocked(n), onChain(n) ? notInherited(n) : new Set()), isDir, inode);
    if (!onChain(n)) return;
    for (const c of children(view, n)) {
      enumerated++;
      if (isTarget(c.path) || onChain(c.path)) visit(c.path, c.isDir, c.inode);
      else emit(c.path, minus(allowed(c.path), blocked(c.path)), c.isDir, c.inode);
    }
  };
  if (targets.length > 0) visit("/", true);

  // Grants the walk did not reach (it only descends along the chains).
  for (const g of grants) {
    if (visited.has(g.path)) continue;
    const r = resolveInRootfs(view, g.path);
    const inode = r.kind === "entry" ? r.inode : undefined;
    const isDir = r.kind === "entry" ? r.isDir : r.kind === "mount" && !r.inside ? r.mount.isDir : g.recursive;
    emit(g.path, minus(new Set(g.rights), blocked(g.path)), isDir, inode);
  }
  for (const [inode, lost] of inodeBlocked) {
    const names = targets.filter((t) => t.inode === inode && (t.links ?? 1) > 1).map((t) => t.path);
    if (lost.size > 0 && names.length > 0) notes.push(`inode of ${names.join(", ")}: its other hard links lose ${[...lost].join(",")} too (Landlock rules attach to inodes)`);
  }
  return { rules, enumerated, notes: notes.filter((n, i) => notes.indexOf(n) === i) };
}

/** A children-mode target blocks each non-directory directly inside it; expand those into file targets. */
function expandChildren(view: RootfsView, targets: readonly Target[]): Target[] {
  const out: Target[] = [];
  for (const t of targets) {
    out.push(t);
    if (t.mode !== "children") continue;
    for (const c of children(view, t.path)) {
      if (!c.isDir && c.inode) out.push({ path: c.path, rights: new Set([...t.rights].filter((r) => FILE_RIGHTS.has(r))), mode: "file", inode: c.inode, links: c.links ?? 1 });
    }
  }
  return out;
}

/**
 * Entries of a rootfs directory as the container sees them: the image's
 * entries (symlinks left out: they get no rule, fact 3) plus mount points
 * created beneath it. A mount point hides whatever the image had there.
 */
function children(view: RootfsView, dir: string): Child[] {
  const byName = new Map<string, Child>();
  let names: string[] = [];
  try {
    names = readdirSync(join(view.root, dir));
  } catch {
    names = [];
  }
  for (const name of names) {
    const path = posix.join(dir, name);
    const st = lstatSync(join(view.root, path), { throwIfNoEntry: false });
    if (!st || st.isSymbolicLink()) continue;
    byName.set(name, { path, isDir: st.isDirectory(), inode: inodeKey(st), links: st.nlink });
  }
  for (const m of view.mounts) {
    if (!isUnder(m.destination, dir)) continue;
    const rel = dir === "/" ? m.destination.slice(1) : m.destination.slice(dir.length + 1);
    const first = rel.split("/")[0]!;
    const path = posix.join(dir, first);
    const direct = path === m.destination;
    byName.set(first, { path, isDir: direct ? m.isDir : true });
  }
  return [...byName.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}
