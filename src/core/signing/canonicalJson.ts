/**
 * Canonical JSON: the one byte representation of a JSON value that Palisade
 * hashes and signs (bundle envelopes, audit entries).
 *
 * Rules (the RFC 8785 "JCS" output for the subset of JSON we allow):
 * - object members sorted by key, comparing UTF-16 code units (JS default sort);
 * - no whitespace anywhere;
 * - strings as `JSON.stringify` writes them (ES2019 well-formed: lone
 *   surrogates become \uXXXX escapes);
 * - numbers must be safe integers, so there is no float formatting to agree on;
 * - `undefined` members are dropped (as JSON.stringify does); `undefined`,
 *   functions, symbols, bigints, non-plain objects and non-finite numbers are
 *   refused rather than silently changed, because a signer and a verifier
 *   that disagree about bytes would reject each other's valid signatures.
 *
 * Pure and dependency-free on purpose: it lives in core so the hub, the agent
 * and the CLI produce byte-identical output.
 */

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

export function canonicalJson(value: unknown): string {
  return write(value, "$");
}

function write(value: unknown, at: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON allows only safe integers; ${at} is ${value}`);
      // -0 and 0 are the same integer; JSON.stringify already writes "0" for -0.
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v, i) => write(v, `${at}[${i}]`)).join(",")}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new TypeError(`canonical JSON allows only plain objects; ${at} is not one`);
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], `${at}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot represent ${typeof value} at ${at}`);
  }
}
