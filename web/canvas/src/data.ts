// From an Arrow answer of align to what uPlot draws. uPlot breaks a line at `null` and draws through
// `undefined`; a missing cell is therefore never a line to zero: it is a gap (null), or, where the grid is
// finer than the series itself, spanned (undefined) so a 10-minute series on a 1-minute grid stays a line.

import type { Table } from "@uwdata/flechette";

export type Cell = number | null | undefined;
export type Values = ArrayLike<Cell>;

// Quality codes of align's `value_i__quality` columns.
export const MEASURED = 0;
export const CARRIED = 1;
export const INTERPOLATED = 2;
export const MISSING = 3;

export interface ColumnMeta {
  name: string;
  entity_id: string;
  attribute: string;
  source: string;
  unit: string | null;
}

export interface Answer {
  x: Float64Array;
  columns: ColumnMeta[];
  values: Values[]; // one per series, in request order
  quality: (ArrayLike<number | null> | null)[]; // one per series: codes, or null when not sent
}

export function readAnswer(table: Table): Answer {
  const fields = table.schema.fields;
  const ts = table.getChild("timestamp");
  if (!ts) throw new Error("the answer has no timestamp column");
  const x = Float64Array.from(ts.toArray() as ArrayLike<number>);
  const names = new Set(fields.map((f) => f.name));
  const columns: ColumnMeta[] = [];
  const values: Values[] = [];
  const quality: (ArrayLike<number | null> | null)[] = [];
  for (const field of fields) {
    if (!/^value_\d+$/.test(field.name)) continue;
    const meta = field.metadata ?? new Map<string, string>();
    columns.push({
      name: field.name,
      entity_id: meta.get("entity_id") ?? field.name,
      attribute: meta.get("attribute") ?? "",
      source: meta.get("source") ?? "",
      unit: meta.get("unit") || null,
    });
    values.push(table.getChild(field.name)!.toArray() as Values);
    const q = `${field.name}__quality`;
    quality.push(names.has(q) ? (table.getChild(q)!.toArray() as ArrayLike<number | null>) : null);
  }
  return { x, columns, values, quality };
}

function hasNull(ys: Values): boolean {
  if (ys instanceof Float64Array) return false;
  for (let i = 0; i < ys.length; i++) if (ys[i] == null) return true;
  return false;
}

/** Median distance between consecutive stamps that hold a value (sampled on long series). */
export function medianSpacing(xs: ArrayLike<number>, ys: Values): number {
  const diffs: number[] = [];
  const step = Math.max(1, Math.floor(xs.length / 20_000));
  let prev: number | null = null;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] == null) continue;
    const x = xs[i]!;
    if (prev !== null && i % step === 0) diffs.push(x - prev);
    prev = x;
  }
  if (diffs.length === 0) return 0;
  diffs.sort((a, b) => a - b);
  return diffs[Math.floor(diffs.length / 2)]!;
}

/** A run of missing cells between two values at most `limit` seconds apart is an artefact of a grid finer
 * than the series: spanned (undefined). Longer runs, and runs before the first or after the last value,
 * stay gaps (null). */
export function spanShortGaps(xs: ArrayLike<number>, ys: Values, limit: number): Values {
  if (!hasNull(ys)) return ys;
  const out: Cell[] = Array.from(ys, (v) => (v == null ? null : v));
  let last = -1; // index of the last value seen
  for (let i = 0; i < out.length; i++) {
    if (out[i] == null) continue;
    if (last >= 0 && i - last > 1 && xs[i]! - xs[last]! <= limit) {
      for (let j = last + 1; j < i; j++) out[j] = undefined;
    }
    last = i;
  }
  return out;
}

/** The gap limit of one series: 1.5 x the larger of its own spacing (catalog cadence, or the median
 * spacing of its values) and the spacing of the answer's rows. */
export function gapLimit(xs: ArrayLike<number>, ys: Values, cadence: number | null): number {
  const rows = xs.length > 1 ? (xs[xs.length - 1]! - xs[0]!) / (xs.length - 1) : 0;
  return 1.5 * Math.max(cadence ?? 0, medianSpacing(xs, ys), rows);
}

export interface Split {
  measured: Values;
  filled: Values | null; // carried or interpolated cells, joined to their measured neighbours; null if none
}

/** Cells with quality code 1 (carried) or 2 (interpolated) leave the solid line for a companion series
 * drawn differently; the companion also holds the measured cells that bound each filled run, so the two
 * join up. */
export function splitByQuality(ys: Values, codes: ArrayLike<number | null> | null): Split {
  if (!codes) return { measured: ys, filled: null };
  const n = ys.length;
  const isFilled = (i: number): boolean => {
    const c = codes[i];
    return (c === CARRIED || c === INTERPOLATED) && ys[i] != null;
  };
  let any = false;
  for (let i = 0; i < n && !any; i++) any = isFilled(i);
  if (!any) return { measured: ys, filled: null };
  const measured: Cell[] = Array.from(ys);
  const filled: Cell[] = new Array<Cell>(n).fill(null);
  for (let i = 0; i < n; i++) {
    if (!isFilled(i)) continue;
    measured[i] = null;
    filled[i] = ys[i];
    if (i > 0 && !isFilled(i - 1) && ys[i - 1] != null) filled[i - 1] = ys[i - 1];
    if (i + 1 < n && !isFilled(i + 1) && ys[i + 1] != null) filled[i + 1] = ys[i + 1];
  }
  return { measured, filled };
}
