/**
 * Recorded events as files: JSON lines, one record per line, exactly as
 * `palisade logs --json` prints them. A line is either a bare KubeArmor
 * log/alert object (`{"Operation":"File","Resource":"/etc/hosts",…}`) or
 * the EventStore's wrapper `{"seq":12,"kind":"log","workload":"web","record":{…}}`.
 * Blank lines and lines starting with `#` are skipped. A line that is not
 * such an object is an error naming file:line; no line is silently dropped.
 */
import { PalisadeError } from "../core/errors.js";
import type { LogFields } from "../sensor/logOperation.js";

/** A KubeArmor log or alert, as stored or as KubeArmor prints it. */
export type RecordLike = LogFields & Readonly<Record<string, unknown>>;

export interface LineRecord {
  /** 1-based line in the file. */
  readonly line: number;
  readonly seq?: number;
  readonly workload?: string;
  readonly kind?: "alert" | "log";
  readonly record: RecordLike;
}

export interface LineProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The record inside a value, or a reason it is none. Both shapes carry KubeArmor's "Operation". */
export function unwrapRecord(value: unknown): Omit<LineRecord, "line"> | string {
  if (!isObject(value)) return "expected a JSON object (a KubeArmor record, or {seq,kind,workload,record})";
  if (isObject(value.record)) {
    const inner = value.record;
    if (typeof inner.Operation !== "string") return 'the wrapped record has no "Operation" field';
    return {
      record: inner as RecordLike,
      ...(typeof value.seq === "number" ? { seq: value.seq } : {}),
      ...(typeof value.workload === "string" ? { workload: value.workload } : {}),
      ...(value.kind === "alert" || value.kind === "log" ? { kind: value.kind } : {}),
    };
  }
  if (typeof value.Operation !== "string") return 'not a KubeArmor record: no "Operation" field';
  for (const k of ["Resource", "Data", "Result", "Source", "ProcessName", "ParentProcessName"] as const) {
    if (value[k] !== undefined && typeof value[k] !== "string") return `field "${k}" must be a string`;
  }
  return { record: value as RecordLike, ...("PolicyName" in value ? { kind: "alert" as const } : { kind: "log" as const }) };
}

/** Parses every line; returns the records and every problem (never throws for bad lines). */
export function parseRecordLines(text: string, file: string): { records: LineRecord[]; problems: LineProblem[] } {
  const records: LineRecord[] = [];
  const problems: LineProblem[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      problems.push({ file, line: i + 1, message: `not JSON: ${(err as Error).message}` });
      continue;
    }
    const r = unwrapRecord(value);
    if (typeof r === "string") problems.push({ file, line: i + 1, message: r });
    else records.push({ line: i + 1, ...r });
  }
  return { records, problems };
}

/** One error standing for all bad lines of a file (details.errors lists them; callers print each first). */
export function badLinesError(problems: readonly LineProblem[]): PalisadeError {
  const first = problems[0]!;
  const n = problems.length;
  return new PalisadeError("EVENTS_FORMAT", `${n} line${n === 1 ? " is not a record" : "s are not records"} (first: line ${first.line}: ${first.message})`, {
    where: { file: first.file },
    hint: "each line must be one JSON record as `palisade logs --json` prints it: a KubeArmor log/alert object, or {seq,kind,workload,record}",
    details: { errors: problems },
  });
}
