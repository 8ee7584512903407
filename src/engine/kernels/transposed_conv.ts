/**
 * The input gradient of a strided convolution, shared by Conv2DBackpropInput and
 * DepthwiseConv2dNativeBackpropInput.
 *
 * Stock wasm computes it with a scalar loop (~410 ms stride 1, ~520 ms stride 2 for cnn-small,
 * design.md §4). Instead, split the output rows and columns by their phase modulo the stride:
 * the input gradient at rows r, r + s, ... is a stride-1 correlation of the output gradient
 * with the flipped taps of the filter that reach those rows (kh = p, p + s, ...). Each phase is
 * one fast XNNPACK convolution; the phases are then interleaved. With stride 1 there is one
 * phase: the plain "full" correlation with the flipped filter.
 */
import { tf } from '../tf.js';
import { axisWindow, explicitPad, interleave, sliceHW, type AxisWindow } from './util.js';

/**
 * A stride-1 'valid'-style correlation of `dy` with `taps` (already flipped), after padding
 * `dy` as given: conv2d for a dense filter, depthwise for a per-channel one.
 */
export type PhaseConv = (
  dy: tf.Tensor4D,
  taps: tf.Tensor4D,
  pad: tf.backend_util.ExplicitPadding,
) => tf.Tensor4D;

interface AxisPhase {
  /** First filter tap of this phase (taps p, p + s, ...), and how many there are. */
  tap: number;
  count: number;
  /** The output-gradient rows to read, with zero padding where they fall outside. */
  rows: AxisWindow;
}

/**
 * For input positions h = r, r + s, ... (r < s): in padded coordinates u = h + padBefore, the
 * contributing taps are kh ≡ u (mod s), from output rows q = (u - kh) / s. Rows are computed
 * for n = ceil(inSize / s) positions per phase; any beyond inSize are cut after interleaving.
 */
export function axisPhase(
  r: number,
  stride: number,
  kernel: number,
  padBefore: number,
  outSize: number,
  inSize: number,
): AxisPhase {
  const tap = (r + padBefore) % stride;
  const count = tap < kernel ? Math.ceil((kernel - tap) / stride) : 0;
  const firstQ = Math.floor((r + padBefore) / stride);
  const n = Math.ceil(inSize / stride);
  // Output row q takes dy[q - j] * w[tap + s j], j < count: read dy[firstQ - count + 1 ...].
  return { tap, count, rows: axisWindow(firstQ - count + 1, n + count - 1, outSize) };
}

export function transposedConv(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
  conv: PhaseConv,
  /** Turns sliced, flipped taps [kh, kw, in, out] into the filter `conv` expects. */
  arrangeTaps: (flipped: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { batchSize: n, inHeight, inWidth, inChannels: c } = info;
  const { top, left } = info.padInfo;
  const phases: tf.Tensor4D[][] = [];
  for (let rh = 0; rh < sh; rh++) {
    const row: tf.Tensor4D[] = [];
    const ph = axisPhase(rh, sh, kh, top, info.outHeight, inHeight);
    for (let rw = 0; rw < sw; rw++) {
      const pw = axisPhase(rw, sw, kw, left, info.outWidth, inWidth);
      const outH = Math.ceil(inHeight / sh);
      const outW = Math.ceil(inWidth / sw);
      if (ph.count === 0 || pw.count === 0 || ph.rows.size === 0 || pw.rows.size === 0) {
        row.push(tf.zeros([n, outH, outW, c])); // no tap of the filter reaches these positions
        continue;
      }
      const taps =
        sh === 1 && sw === 1
          ? filter
          : tf.stridedSlice(filter, [ph.tap, pw.tap, 0, 0], filter.shape, [sh, sw, 1, 1]);
      const flipped = arrangeTaps(tf.reverse(taps, [0, 1]) as tf.Tensor4D);
      const part = sliceHW(dy, ph.rows, pw.rows);
      row.push(conv(part, flipped, explicitPad(ph.rows, pw.rows))); // (N, outH, outW, C)
    }
    phases.push(row);
  }
  const grid = interleave(phases);
  const [, gh, gw] = grid.shape;
  if (gh === inHeight && gw === inWidth) return grid;
  return tf.slice(grid, [0, 0, 0, 0], [n, inHeight, inWidth, c]);
}
