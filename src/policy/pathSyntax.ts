/**
 * Syntax of the three kinds of path in policies. The kernel reports canonical
 * absolute paths, so a rule naming `/etc//passwd` or `/usr/../bin/sh` would
 * never match: such rules are rejected rather than left silently inert.
 * Directories always end with `/` (KubeArmor's CRD requires it), files never.
 *
 * Patterns (`matchPatterns[].pattern`) follow AppArmor globbing, which is what
 * KubeArmor hands them to: `*` (within one path segment), `**` (across
 * segments), `?`, `[abc]` / `[^abc]` / `[a-z]`, `{alt1,alt2}` and `\` escapes.
 */
import { posix } from "node:path";

export interface SyntaxProblem {
  readonly message: string;
  readonly hint?: string;
}

const PATH_MAX = 4095;

function common(text: string, what: string): SyntaxProblem | undefined {
  if (text === "") return { message: `${what} must not be empty` };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) return { message: `${what} contains a control character` };
  if (!text.startsWith("/")) return { message: `${what} must be absolute (start with "/"), got ${JSON.stringify(text)}`, hint: `write "/${text}"` };
  if (text.length > PATH_MAX) return { message: `${what} is longer than ${PATH_MAX} characters` };
  return undefined;
}

function canonical(text: string, what: string, keepSlash: boolean): SyntaxProblem | undefined {
  let norm = posix.normalize(text);
  if (keepSlash && !norm.endsWith("/")) norm += "/";
  if (!keepSlash && norm.endsWith("/") && norm !== "/") norm = norm.slice(0, -1);
  if (norm !== text) {
    return {
      message: `${what} is not canonical (no "//", "." or ".." segments), got ${JSON.stringify(text)}`,
      hint: `the kernel reports canonical paths, so this would never match; write "${norm}"`,
    };
  }
  return undefined;
}

/** An absolute file path (`matchPaths[].path`, `fromSource[].path`). */
export function checkFilePath(text: string, what = "path"): SyntaxProblem | undefined {
  const problem = common(text, what);
  if (problem) return problem;
  if (text.endsWith("/")) {
    return { message: `${what} names a directory (ends with "/"), got ${JSON.stringify(text)}`, hint: `use matchDirectories with dir: "${text}", or drop the trailing "/"` };
  }
  return canonical(text, what, false);
}

/** An absolute directory (`matchDirectories[].dir`, `fromSource[].dir`): must end with `/`. */
export function checkDirectory(text: string, what = "dir"): SyntaxProblem | undefined {
  const problem = common(text, what);
  if (problem) return problem;
  if (!text.endsWith("/")) return { message: `${what} must end with "/", got ${JSON.stringify(text)}`, hint: `write "${text}/"` };
  return canonical(text, what, true);
}

/** AppArmor-style glob; returns the first syntax problem. */
export function checkPattern(text: string): SyntaxProblem | undefined {
  const problem = common(text, "pattern");
  if (problem) return problem;
  let braces = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") {
      if (i === text.length - 1) return { message: `pattern ends with an unfinished escape "\\"`, hint: "escape a backslash as \\\\" };
      i++;
    } else if (c === "[") {
      const close = findClassEnd(text, i);
      if (close < 0) return { message: `pattern has an unclosed "[" at offset ${i}`, hint: 'close the character class with "]", or escape it as \\[' };
      i = close;
    } else if (c === "]") {
      return { message: `pattern has an unmatched "]" at offset ${i}`, hint: "escape it as \\]" };
    } else if (c === "{") {
      braces++;
    } else if (c === "}") {
      if (braces === 0) return { message: `pattern has an unmatched "}" at offset ${i}`, hint: "escape it as \\}" };
      braces--;
    }
  }
  if (braces > 0) return { message: `pattern has an unclosed "{"`, hint: 'close the alternation with "}", e.g. /etc/{passwd,shadow}' };
  return undefined;
}

/** Index of the `]` closing the class opened at `open`, or -1. `[]` and `[^]` are not classes. */
function findClassEnd(text: string, open: number): number {
  let i = open + 1;
  if (text[i] === "^") i++;
  if (text[i] === "]") return -1;
  for (; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "]") return i;
  }
  return -1;
}

/**
 * A RegExp equivalent to a valid pattern, for tools that match paths in user
 * space (discovery, replay, tests). Call only on patterns that passed `checkPattern`.
 */
export function patternToRegExp(pattern: string): RegExp {
  let out = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      out += escapeRegExp(pattern[++i] ?? "");
    } else if (c === "*") {
      if (pattern[i + 1] === "*") {
        out += ".*";
        i++;
      } else out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const close = findClassEnd(pattern, i);
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      // Class syntax ([a-z], escapes) is the same in JS; a negated class never matches "/".
      out += `[${negate ? "^/" : ""}${body}]`;
      i = close;
    } else if (c === "{") {
      out += "(?:";
    } else if (c === "}") {
      out += ")";
    } else if (c === ",") {
      out += insideBraces(pattern, i) ? "|" : ",";
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(out + "$");
}

function insideBraces(pattern: string, at: number): boolean {
  let depth = 0;
  for (let i = 0; i < at; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "[") i = Math.max(i, findClassEnd(pattern, i));
    else if (pattern[i] === "{") depth++;
    else if (pattern[i] === "}") depth--;
  }
  return depth > 0;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, (m) => `\\${m}`);
}
