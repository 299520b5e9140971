/**
 * Image references as users write them — `name`, `name:tag`, `name@sha256:…`,
 * `name:tag@sha256:…`, `sha256:…` — parsed and validated with the Docker
 * reference grammar (lowercase path components, optional registry host[:port]).
 */
import { PalisadeError } from "../core/errors.js";
import { DIGEST_RE } from "./ociDigest.js";

export interface ImageRef {
  /** Repository name as written (may be empty for a digest-only reference). */
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /** A digest prefix (`sha256:` + at least 4 hex digits) for short references. */
  readonly digestPrefix: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const parts = name.split("/");
  const first = parts[0] as string;
  const hasDomain = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasDomain && !DOMAIN.test(first)) return false;
  return parts.slice(hasDomain ? 1 : 0).every((c) => COMPONENT.test(c));
}

function badRef(ref: string, why: string): PalisadeError {
  return new PalisadeError("USAGE", `bad image reference ${JSON.stringify(ref)}: ${why}`, {
    hint: "write name[:tag][@sha256:<digest>] (lowercase name, e.g. busybox:1.36) or sha256:<digest>",
  });
}

/** Splits `name[:tag][@digest]`; the tag is the part after the last ':' that has no '/' after it. */
export function parseRef(ref: string): ImageRef {
  const s = ref.trim();
  if (s === "") throw badRef(ref, "it is empty");
  if (/^sha256:[a-f0-9]*$/.test(s)) {
    if (DIGEST_RE.test(s)) return { name: "", tag: undefined, digest: s, digestPrefix: undefined };
    if (s.length >= "sha256:".length + 4) return { name: "", tag: undefined, digest: undefined, digestPrefix: s };
    throw badRef(ref, "a short digest needs at least 4 hex digits");
  }
  const at = s.indexOf("@");
  let digest: string | undefined;
  let rest = s;
  if (at !== -1) {
    digest = s.slice(at + 1);
    rest = s.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw badRef(ref, `${JSON.stringify(digest)} is not a sha256 digest`);
  }
  const colon = rest.lastIndexOf(":");
  let name = rest;
  let tag: string | undefined;
  if (colon !== -1 && !rest.slice(colon + 1).includes("/")) {
    name = rest.slice(0, colon);
    tag = rest.slice(colon + 1);
    if (!isValidTag(tag)) throw badRef(ref, `${JSON.stringify(tag)} is not a valid tag (letters, digits, '_', '.', '-'; at most 128)`);
  }
  if (!isValidName(name)) throw badRef(ref, `${JSON.stringify(name)} is not a valid image name (lowercase letters, digits and . _ - separators)`);
  return { name, tag, digest, digestPrefix: undefined };
}

/** Parses a tag to apply: `name` or `name:tag` (default tag "latest"); digests are not allowed here. */
export function parseTagRef(ref: string): { name: string; tag: string } {
  const r = parseRef(ref);
  if (r.digest !== undefined || r.digestPrefix !== undefined || r.name === "") {
    throw new PalisadeError("USAGE", `cannot tag an image as ${JSON.stringify(ref)}: a tag is name[:tag], without a digest`, {
      hint: "e.g. --tag myapp:1.0",
    });
  }
  return { name: r.name, tag: r.tag ?? "latest" };
}

/**
 * The familiar form used to compare names: Docker Hub's implicit prefixes are
 * dropped, so `docker.io/library/busybox` and `busybox` are the same image.
 */
export function familiarName(name: string): string {
  let n = name;
  for (const host of ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]) {
    if (n.startsWith(host)) n = n.slice(host.length);
  }
  if (n.startsWith("library/") && n.split("/").length === 2) n = n.slice("library/".length);
  return n;
}

export function sameName(a: string, b: string): boolean {
  return familiarName(a) === familiarName(b);
}

export function formatRef(name: string, tag: string | undefined): string {
  if (!name) return "<none>";
  return tag === undefined ? name : `${name}:${tag}`;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

/** Candidates close to `wanted` (by edit distance, or containing it), best first. */
export function closeMatches(wanted: string, candidates: readonly string[], max = 3): string[] {
  const w = wanted.toLowerCase();
  const limit = Math.max(2, Math.floor(w.length / 3));
  return [...new Set(candidates)]
    .map((c) => ({ c, d: w.length >= 3 && (c.toLowerCase().includes(w) || w.includes(c.toLowerCase())) ? 0.5 : editDistance(w, c.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, max)
    .map((x) => x.c);
}

/**
 * A name for an image whose source only says a tag (skopeo/umoci layouts write
 * `org.opencontainers.image.ref.name: latest` and use the directory as the
 * name): lowercased, with invalid characters replaced.
 */
export function nameFromPath(base: string): string {
  const stem = base.replace(/\.(tar\.gz|tgz|tar|oci)$/i, "").toLowerCase();
  const cleaned = stem.replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "").replace(/[._-]{2,}/g, "-");
  return isValidName(cleaned) ? cleaned : "image";
}
