/**
 * Prints the backend × case matrix of docs/conformance.md, generated from
 * the suite's data (cases/*.yaml, backends.yaml) so the document cannot
 * drift from what the runner checks:
 *
 *   npx tsx test/conformance/matrix.ts > /tmp/matrix.md
 *
 * It reads no probe: "here" means the platform described by backends.yaml
 * (PLATFORM.md's machines); the test run prints what this host's probe says.
 */
import { pathToFileURL } from "node:url";
import { BACKENDS, loadBackends, loadCases, refused, type AttackOp, type Backend, type BackendInfo, type Case } from "./cases.js";

const esc = (s: string) => s.replaceAll("|", "\\|");

function expected(c: Case): string {
  const refusals = c.attack.filter(refused);
  if (refusals.length === 0) return "allowed";
  const errnos = [...new Set(refusals.flatMap((o) => [o.expect].flat()))].join("/");
  return c.failClosed ? `${errnos} where enforceable; **fails closed** here` : errnos;
}

function tried(c: Case): string {
  const show = (o: AttackOp) => `\`${o.op}${o.arg === "-" ? "" : ` ${o.arg}`}\``;
  const refusals = c.attack.filter(refused);
  const allowed = c.attack.filter((o) => !refused(o));
  const parts = [refusals.map(show).join(", "), allowed.length ? `ok: ${allowed.map(show).join(", ")}` : ""].filter(Boolean);
  return esc(parts.join("; ").replaceAll("{{marker}}", "HOST_MARKER").replaceAll("{{dir}}", "HOSTDIR"));
}

/** Offered on our platform: the compiler uses it and PLATFORM.md's machines have it. */
export const offeredByDesign = (b: BackendInfo): boolean => b.compiled && b.platform === "expected";

export function matrixMarkdown(cases: readonly Case[] = loadCases(), backends: readonly BackendInfo[] = loadBackends()): string {
  const info = (b: Backend) => backends.find((x) => x.name === b)!;
  const notes: string[] = [];
  const note = (text: string): string => {
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `✗<sup>${i + 1}</sup>`;
  };
  const cell = (c: Case, b: Backend): string => {
    if (b in c.enforcers) return offeredByDesign(info(b)) ? "**E**" : "(E)";
    const why = c.cannotExpress[b];
    return why ? note(why) : "";
  };
  const out: string[] = [];
  const needs = (c: Case): string => {
    const abi = c.requires.map((r) => /^landlock-abi>=(\d+)$/.exec(r)?.[1]).find(Boolean);
    const feats = (Object.keys(c.enforcers) as Backend[]).map((b) => (b === "landlock" && abi ? `Landlock ABI ≥ ${abi}` : info(b).feature));
    return feats.join(", ") || "—";
  };
  out.push(`| case | tried in the container | expected | needs | ${BACKENDS.join(" | ")} |`);
  out.push(`| --- | --- | --- | --- | ${BACKENDS.map(() => ":-:").join(" | ")} |`);
  for (const c of cases) out.push(`| \`${c.name}\` | ${tried(c)} | ${expected(c)} | ${needs(c)} | ${BACKENDS.map((b) => cell(c, b)).join(" | ")} |`);
  out.push("");
  out.push("**E**: this backend refuses it here (the runner checks the refusal and the backend's evidence in the compiled workload). ");
  out.push("(E): it would, but is not offered on our machines (not compiled, or absent from the kernel). ");
  out.push("✗: it cannot express the case (the runner checks that the compiler reports the rule unsupported by it, where the backend is offered). ");
  out.push("Blank: not involved. An `allowed` case is a counterpart: nothing may refuse it.");
  out.push("");
  notes.forEach((n, i) => out.push(`${i + 1}. ${esc(n)}`));
  out.push("");
  out.push("| backend | enforces | kernel feature | compiler uses it | on our machines | cannot express |");
  out.push("| --- | --- | --- | :-: | :-: | --- |");
  for (const b of backends) {
    out.push(`| ${b.name} | ${esc(b.enforces)} | ${esc(b.requires)} | ${b.compiled ? "yes" : "no"} | ${b.platform === "expected" ? "yes" : "**no**"} | ${esc(b.cannotExpress.join("; "))} |`);
  }
  const claims = BACKENDS.map((b) => `${b}: ${cases.filter((c) => b in c.enforcers).length}`).join(", ");
  out.push("");
  out.push(`${cases.length} cases; cases per enforcing backend — ${claims}.`);
  return out.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) console.log(matrixMarkdown());
