/**
 * Collects every problem in a file instead of stopping at the first: an
 * operator fixing a policy should see all its mistakes in one run. Each
 * problem is a PalisadeError pointing at file:line:column and a field path.
 */
import type { LineCounter, Node } from "yaml";
import { PalisadeError, type ErrorCode } from "../core/errors.js";
import type { Origin } from "./model.js";

/** Something with a source position: a YAML node, a character offset, or a known line and column. */
export type Position = Node | number | { readonly line: number; readonly column: number } | undefined;

export class Diagnostics {
  private readonly found: PalisadeError[] = [];

  constructor(
    readonly file: string,
    private readonly lineCounter: LineCounter,
  ) {}

  get errors(): readonly PalisadeError[] {
    return this.found;
  }

  get count(): number {
    return this.found.length;
  }

  report(code: ErrorCode, at: Position, path: string, message: string, hint?: string): void {
    const { line, column } = this.lineColumn(at);
    this.found.push(
      new PalisadeError(code, message, {
        ...(hint === undefined ? {} : { hint }),
        where: { file: this.file, line, column, ...(path === "" ? {} : { path }) },
      }),
    );
  }

  schema(at: Position, path: string, message: string, hint?: string): void {
    this.report("POLICY_SCHEMA", at, path, message, hint);
  }

  semantic(at: Position, path: string, message: string, hint?: string): void {
    this.report("POLICY_SEMANTIC", at, path, message, hint);
  }

  origin(at: Position, path: string): Origin {
    const { line, column } = this.lineColumn(at);
    return { file: this.file, line, column, path };
  }

  lineColumn(at: Position): { line: number; column: number } {
    if (at !== undefined && typeof at === "object" && "line" in at) return { line: at.line, column: at.column };
    const offset = typeof at === "number" ? at : (at?.range?.[0] ?? 0);
    const pos = this.lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  }
}
