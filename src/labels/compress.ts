/**
 * How a stored soft label is kept and recovered (FKD, Shen & Xing 2022, §3.2
 * "label compression"). `full` keeps every class; `topk` keeps the k largest
 * probabilities with their class indices and rebuilds the rest by a rule:
 *
 *   marginal_smoothing   kept values as stored; the missing mass 1 - sum(top-k)
 *                        spread evenly over the other C - k classes
 *   marginal_renorm      kept values divided by their sum; the others 0
 *
 * Values may be stored in half precision. Rounded values can sum past 1: the
 * smoothing rule then renormalises the kept values and gives the others 0, so
 * no entry is ever negative and every row sums to 1 (cases.md #12).
 */
import { fromHalf, toHalf } from '../util/half.js';

export type Compression = 'full' | 'topk';
export type RecoveryRule = 'marginal_smoothing' | 'marginal_renorm';
export type ValueType = 'float32' | 'float16';

export interface CompressionSpec {
  kind: Compression;
  /** Classes kept per row (topk only). */
  k: number;
  rule: RecoveryRule;
  dtype: ValueType;
}

/** How many values one row stores. */
export function storedPerRow(spec: CompressionSpec, numClasses: number): number {
  return spec.kind === 'full' ? numClasses : Math.min(spec.k, numClasses);
}

/** Stored values: float32 as they are, float16 as IEEE half bits. */
export function encodeValue(v: number, dtype: ValueType): number {
  return dtype === 'float16' ? toHalf(v) : v;
}

export function decodeValue(v: number, dtype: ValueType): number {
  return dtype === 'float16' ? fromHalf(v) : v;
}

/**
 * The indices of the k largest entries of `row`, largest first (ties: lower
 * class first), written to `out` at `offset`.
 */
export function topK(row: ArrayLike<number>, k: number, out: Uint16Array, offset: number): void {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b] - row[a] || a - b);
  for (let j = 0; j < k; j++) out[offset + j] = idx[j];
}

/**
 * Rebuilds one full row of C probabilities from k stored (index, value)
 * pairs into `out` at `offset`. Values are already decoded to numbers.
 */
export function recoverTopK(
  indices: ArrayLike<number>,
  values: ArrayLike<number>,
  numClasses: number,
  rule: RecoveryRule,
  out: Float32Array,
  offset: number,
): void {
  const k = indices.length;
  let kept = 0;
  for (let j = 0; j < k; j++) kept += Math.max(0, values[j]);
  const smoothing = rule === 'marginal_smoothing' && kept < 1 && k < numClasses;
  const rest = smoothing ? (1 - kept) / (numClasses - k) : 0;
  out.fill(rest, offset, offset + numClasses);
  if (kept <= 0) {
    out.fill(1 / numClasses, offset, offset + numClasses); // nothing stored: uniform
    return;
  }
  const scale = smoothing ? 1 : 1 / kept;
  for (let j = 0; j < k; j++) out[offset + indices[j]] = Math.max(0, values[j]) * scale;
}

/** A full stored row, renormalised when it was rounded to half precision. */
export function recoverFull(
  values: ArrayLike<number>,
  dtype: ValueType,
  out: Float32Array,
  offset: number,
): void {
  let sum = 0;
  for (let c = 0; c < values.length; c++) {
    const v = Math.max(0, values[c]);
    out[offset + c] = v;
    sum += v;
  }
  if (dtype === 'float16' && sum > 0) {
    for (let c = 0; c < values.length; c++) out[offset + c] /= sum;
  }
}
