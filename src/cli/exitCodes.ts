/** Process exit codes of `palisade`; docs/cli.md lists them for users. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** The operation failed (invalid policy, missing image, runtime error…). */
  FAILURE: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** Wrong environment: not Linux, not root, missing kernel feature. */
  ENVIRONMENT: 3,
  /** A policy cannot be enforced by any available backend; the workload was not started. */
  UNENFORCEABLE: 4,
  /** A bug in Palisade. */
  INTERNAL: 70,
} as const;
