/**
 * The command-line ends of the sensor benchmarks: `--name value` options,
 * the markdown file they write (and print), and running main() only when
 * the file is the command (tests import the benchmarks' functions).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";

/** The value after `name` in argv, or undefined. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Writes the results to `path` (directories made) and prints them. */
export function writeMarkdown(path: string, md: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, md + "\n");
  process.stdout.write(md + "\n");
}

/** Runs `main(argv)` when `moduleUrl` (import.meta.url) is the command; a failure is one line on stderr and exit 1. */
export function runIfMain(moduleUrl: string, main: (argv: readonly string[]) => Promise<void>): void {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? "").href) return;
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
