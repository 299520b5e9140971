/**
 * The native launcher's input: what Landlock ruleset to apply before it execs
 * the workload's entrypoint. The compiler builds a LaunchConfig; this file
 * encodes it into the text format that `launcher.c` parses (the format is
 * documented once, in `encodeLaunchConfig` below and in launcher.c).
 */
import { PalisadeError } from "../core/errors.js";

/** Landlock filesystem rights, named as in the kernel's uapi without the prefix. */
export type FsRight =
  | "execute"
  | "write_file"
  | "read_file"
  | "read_dir"
  | "remove_dir"
  | "remove_file"
  | "make_char"
  | "make_dir"
  | "make_reg"
  | "make_sock"
  | "make_fifo"
  | "make_block"
  | "make_sym"
  | "refer"
  | "truncate"
  | "ioctl_dev";

export type NetRight = "bind_tcp" | "connect_tcp";

/** Landlock scopes (ABI 6): deny reaching outside the workload's Landlock domain. */
export type Scope = "abstract_unix_socket" | "signal";

export interface LaunchConfig {
  /** Refuse to start (fail closed) when the kernel's Landlock ABI is lower. */
  readonly minAbi: number;
  /** Rights this ruleset restricts; rights not handled stay unrestricted. */
  readonly handledFs: readonly FsRight[];
  readonly handledNet: readonly NetRight[];
  /** Allow `rights` beneath `path` (a file or a directory tree). */
  readonly paths: readonly { readonly rights: readonly FsRight[]; readonly path: string }[];
  readonly ports: readonly { readonly right: NetRight; readonly port: number }[];
  /** Ask the kernel to audit denials after exec too (Landlock ABI ≥ 7). */
  readonly logNewExec: boolean;
  /** Landlock scopes to apply (ABI ≥ 6); none when absent. */
  readonly scopes?: readonly Scope[];
}

/**
 * The first Landlock ABI that knows each right, in the kernel's bit order
 * (the launcher's tables in landlock_abi.h are the same, in the same order;
 * the encoder writes rights in this order, as the launcher's --check does).
 */
export const FS_RIGHT_ABI: Readonly<Record<FsRight, number>> = {
  execute: 1,
  write_file: 1,
  read_file: 1,
  read_dir: 1,
  remove_dir: 1,
  remove_file: 1,
  make_char: 1,
  make_dir: 1,
  make_reg: 1,
  make_sock: 1,
  make_fifo: 1,
  make_block: 1,
  make_sym: 1,
  refer: 2,
  truncate: 3,
  ioctl_dev: 5,
};
export const NET_RIGHT_ABI: Readonly<Record<NetRight, number>> = { bind_tcp: 4, connect_tcp: 4 };
export const SCOPE_ABI: Readonly<Record<Scope, number>> = { abstract_unix_socket: 6, signal: 6 };
/** LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON needs this ABI. */
export const LOG_NEW_EXEC_ABI = 7;

/** Where the runtime mounts the launcher and its config inside a container. */
export const LAUNCHER_CONTAINER_PATH = "/.palisade/launch";
export const LAUNCH_CONFIG_CONTAINER_PATH = "/.palisade/launch.conf";

/** The launcher's exit status when it refuses to run (nothing was executed), or cannot exec. */
export const LAUNCHER_EXIT = { REFUSED: 126, NOT_FOUND: 127 } as const;

/** The container's process.args: the launcher, its config, then the workload's own argv. */
export function launcherArgs(program: readonly string[]): string[] {
  if (program.length === 0) throw invalid("the workload has no program to run");
  return [LAUNCHER_CONTAINER_PATH, LAUNCH_CONFIG_CONTAINER_PATH, "--", ...program];
}

/**
 * The smallest ABI that enforces every right, scope and flag of `cfg` (at
 * least 1). A config whose minAbi is lower runs on older kernels with the
 * newer rights dropped (best effort); set minAbi to this to make them all
 * mandatory.
 */
export function requiredAbi(cfg: LaunchConfig): number {
  return Math.max(
    1,
    ...cfg.handledFs.map((r) => FS_RIGHT_ABI[r]),
    ...cfg.handledNet.map((r) => NET_RIGHT_ABI[r]),
    ...(cfg.scopes ?? []).map((s) => SCOPE_ABI[s]),
    cfg.logNewExec ? LOG_NEW_EXEC_ABI : 1,
  );
}

/**
 * Encodes `cfg` as the launcher's config text, in canonical form. Throws
 * PalisadeError NATIVE for a config the launcher would refuse, so a bad
 * ruleset is caught where it is built, not when the workload starts.
 *
 * CONFIG FORMAT, version 1 (parsed by src/native/launcher.c + launchconf.c;
 * keep both descriptions identical)
 *
 *   palisade-launch 1                    first line, exactly
 *   min-abi N                            required, once; N in 1-999
 *   handle-fs RIGHT[,RIGHT...]           at most once
 *   handle-net RIGHT[,RIGHT...]          at most once
 *   scope SCOPE[,SCOPE...]               at most once
 *   path RIGHT[,RIGHT...] /ABSOLUTE/PATH any number
 *   port RIGHT PORT                      any number; PORT in 0-65535
 *   log-new-exec                         at most once
 *   # comment                            whole-line comments and blank lines are ignored
 *
 * Tokens are separated by exactly one space; lines end with "\n". A path is
 * the rest of the line after its rights, so it may contain spaces (not a
 * newline). Rights lists are comma-separated, non-empty, without repeats.
 *   fs rights:  execute write_file read_file read_dir remove_dir remove_file
 *               make_char make_dir make_reg make_sock make_fifo make_block
 *               make_sym (ABI 1), refer (ABI 2), truncate (ABI 3),
 *               ioctl_dev (ABI 5)
 *   net rights: bind_tcp connect_tcp (ABI 4)
 *   scopes:     abstract_unix_socket signal (ABI 6)
 *   log-new-exec: LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (ABI 7), so that
 *               denials after the exec are audited too
 * Every right on a path must be in handle-fs, every port's right in
 * handle-net; at least one of handle-fs, handle-net, scope must be present.
 *
 * Semantics. Handled rights are denied except where a path or port line
 * allows them; a path line allows its rights on that file or directory tree.
 * The launcher refuses to run when the kernel's ABI is below min-abi. A
 * right, scope or flag that needs an ABI above the kernel's (necessarily
 * above min-abi) is dropped with a warning: min-abi is how the config says
 * which rights are mandatory and which are best effort. On a non-directory,
 * a path line's rights are narrowed to the file rights (execute, write_file,
 * read_file, truncate, ioctl_dev). A path that does not exist (ENOENT,
 * ENOTDIR) is skipped with a warning: Landlock is an allow-list, so a
 * missing rule only removes access; any other error opening a path refuses.
 *
 * Example:
 *   palisade-launch 1
 *   min-abi 4
 *   handle-fs execute,read_file,read_dir,write_file
 *   handle-net bind_tcp,connect_tcp
 *   path read_file,read_dir,execute /usr
 *   path read_file,write_file /var/lib/my app
 *   port connect_tcp 443
 *   log-new-exec
 */
export function encodeLaunchConfig(cfg: LaunchConfig): string {
  if (!Number.isInteger(cfg.minAbi) || cfg.minAbi < 1 || cfg.minAbi > 999) {
    throw invalid(`minAbi must be an integer in 1-999, not ${String(cfg.minAbi)}`);
  }
  const fs = rightList("handledFs", cfg.handledFs, FS_RIGHT_ABI);
  const net = rightList("handledNet", cfg.handledNet, NET_RIGHT_ABI);
  const scopes = rightList("scopes", cfg.scopes ?? [], SCOPE_ABI);
  if (fs === "" && net === "" && scopes === "") {
    throw invalid("it handles no rights (handledFs, handledNet and scopes are all empty), so it would confine nothing");
  }
  const lines = ["palisade-launch 1", `min-abi ${cfg.minAbi}`];
  if (fs) lines.push(`handle-fs ${fs}`);
  if (net) lines.push(`handle-net ${net}`);
  if (scopes) lines.push(`scope ${scopes}`);
  cfg.paths.forEach((p, i) => {
    const where = `paths[${i}]`;
    if (!p.path.startsWith("/")) throw invalid(`${where}: path must be absolute: ${JSON.stringify(p.path)}`);
    if (/[\n\0]/.test(p.path)) throw invalid(`${where}: path contains a newline or NUL byte: ${JSON.stringify(p.path)}`);
    const rights = rightList(`${where}.rights`, p.rights, FS_RIGHT_ABI);
    if (rights === "") throw invalid(`${where}: no rights`);
    const extra = p.rights.find((r) => !cfg.handledFs.includes(r));
    if (extra) throw invalid(`${where}: right "${extra}" is not in handledFs`);
    lines.push(`path ${rights} ${p.path}`);
  });
  cfg.ports.forEach((p, i) => {
    const where = `ports[${i}]`;
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) throw invalid(`${where}: port must be an integer in 0-65535, not ${String(p.port)}`);
    if (!Object.hasOwn(NET_RIGHT_ABI, p.right)) throw invalid(`${where}: unknown net right "${String(p.right)}"`);
    if (!cfg.handledNet.includes(p.right)) throw invalid(`${where}: right "${p.right}" is not in handledNet`);
    lines.push(`port ${p.right} ${p.port}`);
  });
  if (cfg.logNewExec) lines.push("log-new-exec");
  return lines.join("\n") + "\n";
}

/** Validates a rights list and renders it comma-separated in canonical (table) order. */
function rightList<R extends string>(field: string, rights: readonly R[], table: Readonly<Record<R, number>>): string {
  const seen = new Set<string>();
  for (const r of rights) {
    if (!Object.hasOwn(table, r)) throw invalid(`${field}: unknown right "${String(r)}"`);
    if (seen.has(r)) throw invalid(`${field}: duplicate right "${r}"`);
    seen.add(r);
  }
  return (Object.keys(table) as R[]).filter((r) => seen.has(r)).join(",");
}

function invalid(message: string): PalisadeError {
  return new PalisadeError("NATIVE", `invalid launch config: ${message}`, {
    hint: "the launch config is built by the compiler; this is a bug in the rules that produced it",
  });
}
