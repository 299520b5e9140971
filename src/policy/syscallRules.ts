/**
 * `spec.syscalls`: `matchSyscalls` (syscalls from any or some sources) and
 * `matchPaths` (syscalls whose target is a file or directory). KubeArmor's
 * schema gives this section no action field: its rules take the spec's
 * action, and its severity/tags/message come from the section or the spec.
 * `fromSource[].dir` may omit its trailing "/" here (KubeArmor's CRD gives it
 * no pattern in this section); it is normalised to end with "/".
 */
import type { DirectoryMatch, PathMatch } from "./model.js";
import { checkDirectory, checkFilePath } from "./pathSyntax.js";
import { COMMON_FIELDS, type Inherited, inherit, readCommon, readFromSource, reportEmptySection, reportSyntax, type RuleSink } from "./policyRules.js";
import { closest } from "./suggest.js";
import { SYSCALLS, SYSCALL_LIST } from "./vocabulary.js";
import { readBool, readMap, readSeq, readString, position, type Field } from "./yamlReader.js";
import type { Diagnostics } from "./diagnostics.js";

const NO_ACTION = {
  message: "the syscalls section has no action field",
  hint: "syscall rules take spec.action; put syscall rules that need another action in their own policy",
};

export function parseSyscallsSection(sink: RuleSink, f: Field, spec: Inherited): void {
  const { d } = sink;
  const section = readMap(d, f, ["matchSyscalls", "matchPaths", ...COMMON_FIELDS.filter((k) => k !== "action")], {
    nullIsEmpty: true,
    misplaced: { action: NO_ACTION },
  });
  if (!section) return;
  const defaults = inherit(spec, readCommon(d, section));
  let entries = 0;

  const matchSyscalls = section.field("matchSyscalls");
  for (const item of (matchSyscalls && readSeq(d, matchSyscalls, { nullIsEmpty: true })) || []) {
    entries++;
    const m = readMap(d, item, ["syscall", "fromSource"], { required: ["syscall"], misplaced: { action: NO_ACTION } });
    if (!m || !m.has("syscall")) continue;
    const syscalls = readSyscallNames(d, m.field("syscall")!);
    const fromSource = m.field("fromSource") ? readFromSource(d, m.field("fromSource")!, { dirSlashOptional: true }) : [];
    if (!syscalls || !fromSource) continue;
    sink.rules.push({ kind: "syscall", syscalls, paths: [], ...defaults, fromSource, origin: d.origin(m.at, m.path) });
  }

  const matchPaths = section.field("matchPaths");
  for (const item of (matchPaths && readSeq(d, matchPaths, { nullIsEmpty: true })) || []) {
    entries++;
    const m = readMap(d, item, ["path", "recursive", "syscall", "fromSource"], { required: ["path", "syscall"], misplaced: { action: NO_ACTION } });
    if (!m || !m.has("path") || !m.has("syscall")) continue;
    const target = readSyscallTarget(d, m.field("path")!, m.field("recursive"));
    const syscalls = readSyscallNames(d, m.field("syscall")!);
    const fromSource = m.field("fromSource") ? readFromSource(d, m.field("fromSource")!, { dirSlashOptional: true }) : [];
    if (!target || !syscalls || !fromSource) continue;
    sink.rules.push({ kind: "syscall", syscalls, paths: [target], ...defaults, fromSource, origin: d.origin(m.at, m.path) });
  }

  if (entries === 0 && matchSyscalls === undefined && matchPaths === undefined) reportEmptySection(d, f, "syscalls", "matchSyscalls or matchPaths");
  else if (entries === 0) reportEmptySection(d, f, "syscalls", "entries to matchSyscalls or matchPaths");
}

/** A file (no trailing "/") or a directory (trailing "/", optionally recursive). */
function readSyscallTarget(d: Diagnostics, f: Field, recursiveField: Field | undefined): PathMatch | DirectoryMatch | undefined {
  const text = readString(d, f, { what: "an absolute file or directory path" });
  const recursive = recursiveField ? readBool(d, recursiveField) : false;
  if (text === undefined || recursive === undefined) return undefined;
  if (text.endsWith("/")) {
    if (reportSyntax(d, f, checkDirectory(text, "path"))) return undefined;
    return { kind: "directory", dir: text, recursive };
  }
  if (reportSyntax(d, f, checkFilePath(text))) return undefined;
  if (recursive && recursiveField) {
    d.semantic(position(recursiveField), recursiveField.path, "recursive applies to directory paths only", `end the path with "/" to cover a directory: "${text}/"`);
    return undefined;
  }
  return { kind: "path", path: text };
}

function readSyscallNames(d: Diagnostics, f: Field): string[] | undefined {
  const items = readSeq(d, f);
  if (items === undefined) return undefined;
  if (items.length === 0) {
    d.semantic(position(f), f.path, "the syscall list is empty", "name at least one syscall, e.g. - unlink");
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const name = readString(d, item, { nonEmpty: true, what: "a syscall name" });
    if (name === undefined) {
      ok = false;
    } else if (!SYSCALLS.has(name)) {
      ok = false;
      const near = closest(name, SYSCALL_LIST);
      const hint = SYSCALLS.has(name.toLowerCase())
        ? `write it in lower case: "${name.toLowerCase()}"`
        : near !== undefined
          ? `did you mean "${near}"?`
          : "it is not in the x86_64 or aarch64 syscall tables";
      d.schema(position(item), item.path, `unknown syscall ${JSON.stringify(name)}`, hint);
    } else if (out.includes(name)) {
      ok = false;
      d.semantic(position(item), item.path, `syscall "${name}" is listed twice`, "remove the repeat");
    } else {
      out.push(name);
    }
  }
  return ok ? out : undefined;
}
