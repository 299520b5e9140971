/**
 * The native launcher's input: what Landlock ruleset to apply before it execs
 * the workload's entrypoint. The compiler builds a LaunchConfig; this file
 * encodes it into the text format that `launcher.c` parses (the format is
 * documented once, in `encodeLaunchConfig` below and in launcher.c).
 */

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
}
