/**
 * What the runtime grants every workload whatever its policy says: the
 * compiler's baseline Landlock grants (/dev/null, /dev/urandom, /proc, the
 * per-workload tmpfs /tmp, shared libraries…), the paths of the workload's
 * interfaces and its volumes. A file allow-list never names them, so
 * evaluate() judges them by the default posture; the pipeline must not turn
 * that into "DefaultPosture Block / Passed" alerts (busybox `sleep 1 &` opens
 * /dev/null every second). The sensor may not import the compiler
 * (docs/architecture.md): the runtime (CreatedWorkload.implicitGrants) and
 * the agent hand the list over in WatchedWorkload.implicitGrants.
 */

export interface ImplicitGrant {
  /** Container path as the workload sees it. */
  readonly path: string;
  /** Writing is granted too (not only reading). */
  readonly write: boolean;
  /** The path and everything below it (a directory grant), or only the path itself. */
  readonly recursive: boolean;
}

/** A compiled lookup: exact paths and directory prefixes, by access. */
export class ImplicitGrants {
  private readonly exact = new Map<string, boolean>();
  private readonly dirs: { prefix: string; path: string; write: boolean }[] = [];

  constructor(grants: readonly ImplicitGrant[]) {
    for (const g of grants) {
      const path = g.path.length > 1 ? g.path.replace(/\/+$/, "") : g.path;
      this.exact.set(path, (this.exact.get(path) ?? false) || g.write);
      if (g.recursive) this.dirs.push({ prefix: path === "/" ? "/" : `${path}/`, path, write: g.write });
    }
  }

  get size(): number {
    return this.exact.size;
  }

  /** Whether the runtime grants `write` (or read) access to the absolute `path`. */
  grants(path: string, write: boolean): boolean {
    if (!path.startsWith("/")) return false; // relative to an unknown directory: not ours to excuse
    const e = this.exact.get(path);
    if (e !== undefined && (e || !write)) return true;
    for (const d of this.dirs) if ((d.write || !write) && path.startsWith(d.prefix) && !escapes(path)) return true;
    return false;
  }
}

/** A path with ".." components may leave the granted directory; the kernel resolves it, we cannot. */
function escapes(path: string): boolean {
  return path.includes("/../") || path.endsWith("/..");
}
