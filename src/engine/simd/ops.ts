/**
 * The SIMD kernels as tensor operations on the wasm backend: each returns null where it does
 * not apply (another backend, channels not in fours, shapes it does not cover), and the caller
 * composes the same result from tf ops.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import { adopt, recordingGradients } from '../kernels/util.js';
import { simdKernels } from './index.js';

/** Pixels and channels of x when `perChannel` tensors each hold one value per last-axis channel. */
function channelLayout(x: tf.TensorInfo, perChannel: tf.TensorInfo[]) {
  const channels = x.shape[x.shape.length - 1];
  if (x.dtype !== 'float32' || channels % 4 !== 0 || channels === 0) return null;
  for (const t of perChannel) {
    // one value per channel of the last axis: [C], or [1, ..., 1, C]
    const last = t.shape[t.shape.length - 1];
    if (
      t.dtype !== 'float32' ||
      last !== channels ||
      t.shape.some((d, i) => d !== 1 && i < t.shape.length - 1)
    ) {
      return null;
    }
  }
  return { channels, pixels: tf.util.sizeFromShape(x.shape) / channels };
}

/** x * k + c per channel, one pass. */
export function channelAffine(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  k: tf.TensorInfo,
  c: tf.TensorInfo,
): tf.Tensor | null {
  const layout = channelLayout(x, [k, c]);
  const simd = layout && simdKernels(backend);
  if (!layout || !simd) return null;
  const wasm = wasmBackend(backend);
  const out = wasm.makeOutput(x.shape, 'float32');
  const [xp, yp, kp, cp] = [x, out, k, c].map((t) => heapF32(wasm, t).byteOffset);
  if (layout.pixels > 0) simd.channelAffine(xp, yp, kp, cp, layout.pixels, layout.channels / 4);
  return adopt(out);
}

/** g * k + x * a + b per channel, one pass; g and x of one shape. Gradient code only. */
export function channelAffine2(
  backend: tf.KernelBackend,
  g: tf.TensorInfo,
  x: tf.TensorInfo,
  k: tf.TensorInfo,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.Tensor | null {
  if (g.dtype !== 'float32' || !tf.util.arraysEqual(g.shape, x.shape)) return null;
  if (recordingGradients()) return null;
  const layout = channelLayout(x, [k, a, b]);
  const simd = layout && simdKernels(backend);
  if (!layout || !simd) return null;
  const wasm = wasmBackend(backend);
  const out = wasm.makeOutput(x.shape, 'float32');
  const [gp, xp, yp, kp, ap, bp] = [g, x, out, k, a, b].map((t) => heapF32(wasm, t).byteOffset);
  if (layout.pixels > 0) {
    simd.channelAffine2(gp, xp, yp, kp, ap, bp, layout.pixels, layout.channels / 4);
  }
  return adopt(out);
}

const CHUNK = 256; // pixels per call: float32 partial sums stay short

/**
 * Two per-channel sums over all pixels, computed by `pass` one chunk of pixels at a time into
 * two C-float scratch rows (its arguments: the chunk's byte offset into x, the two rows' byte
 * addresses, the chunk's pixel count) and added across chunks in float64.
 */
function chunkedSums(
  backend: tf.KernelBackend,
  channels: number,
  pixels: number,
  pass: (offset: number, s1: number, s2: number, count: number) => void,
): [Float64Array, Float64Array] {
  const wasm = wasmBackend(backend);
  const scratch = wasm.makeOutput([2, channels], 'float32');
  const total1 = new Float64Array(channels);
  const total2 = new Float64Array(channels);
  try {
    const s = heapF32(wasm, scratch);
    for (let start = 0; start < pixels; start += CHUNK) {
      const count = Math.min(CHUNK, pixels - start);
      s.fill(0);
      pass(start * channels * 4, s.byteOffset, s.byteOffset + channels * 4, count);
      for (let c = 0; c < channels; c++) {
        total1[c] += s[c];
        total2[c] += s[channels + c];
      }
    }
  } finally {
    backend.disposeData(scratch.dataId);
  }
  return [total1, total2];
}

/**
 * Per-channel sum(g) and sum(g * (x - m)), shaped like m; float64 across chunks. Gradient code
 * only.
 */
export function channelSums(
  g: tf.Tensor,
  x: tf.Tensor,
  m: tf.Tensor,
): { sumG: tf.Tensor; sumGXc: tf.Tensor } | null {
  if (tf.getBackend() !== 'wasm' || !tf.util.arraysEqual(g.shape, x.shape)) return null;
  if (recordingGradients()) return null;
  const backend = tf.backend();
  const layout = channelLayout(x, [m]);
  const simd = layout && g.dtype === 'float32' && simdKernels(backend);
  if (!layout || !simd) return null;
  const { channels, pixels } = layout;
  const wasm = wasmBackend(backend);
  const [t1, t2] = chunkedSums(backend, channels, pixels, (offset, s1, s2, count) => {
    const [gp, xp, mp] = [g, x, m].map((t) => heapF32(wasm, t).byteOffset);
    simd.channelSums(gp + offset, xp + offset, mp, s1, s2, count, channels / 4);
  });
  return {
    sumG: tf.tensor(Float32Array.from(t1), m.shape),
    sumGXc: tf.tensor(Float32Array.from(t2), m.shape),
  };
}

const SAMPLES = 64;

/** Per-channel mean of up to SAMPLES pixels of x spread evenly over it, in float64. */
function sampledMean(x: Float32Array, channels: number, pixels: number): Float32Array {
  const count = Math.min(SAMPLES, pixels);
  const sum = new Float64Array(channels);
  for (let i = 0; i < count; i++) {
    const at = Math.floor((i * pixels) / count) * channels;
    for (let c = 0; c < channels; c++) sum[c] += x[at + c];
  }
  return Float32Array.from(sum, (v) => v / count);
}

/**
 * Per-channel mean and variance over all pixels in one read of x (no squared-difference tensor).
 * Sums are of x - K (shifted data), so a large mean does not cancel: mean = K + s1 / N,
 * var = s2 / N - (s1 / N)^2, float32 within 256-pixel chunks, float64 across. K is the mean of
 * SAMPLES pixels spread over x, not one pixel: a first pixel far from the rest (a zero-padded
 * corner, 1000 standard deviations off) left the variance 2e-3 off; the cancellation grows
 * with (K - mean)^2 / var.
 */
export function channelMoments(
  x: tf.Tensor,
): { mean: Float32Array; variance: Float32Array } | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend();
  const layout = channelLayout(x, []);
  const simd = layout && layout.pixels > 0 && simdKernels(backend);
  if (!layout || !simd) return null;
  const { channels, pixels } = layout;
  const wasm = wasmBackend(backend);
  const k = sampledMean(heapF32(wasm, x), channels, pixels);
  if (!k.every(Number.isFinite)) return null; // tf ops give what tfjs gives for Inf and NaN
  const shift = wasm.makeOutput([channels], 'float32');
  let sums: [Float64Array, Float64Array];
  try {
    heapF32(wasm, shift).set(k);
    sums = chunkedSums(backend, channels, pixels, (offset, p1, p2, count) => {
      const [xp, kp] = [x, shift].map((t) => heapF32(wasm, t).byteOffset);
      simd.shiftedSums(xp + offset, kp, p1, p2, count, channels / 4);
    });
  } finally {
    backend.disposeData(shift.dataId);
  }
  const [s1, s2] = sums;
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const d = s1[c] / pixels;
    mean[c] = k[c] + d;
    variance[c] = Math.max(0, s2[c] / pixels - d * d);
  }
  return { mean, variance };
}
