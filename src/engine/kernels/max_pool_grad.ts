/**
 * MaxPoolGrad for wasm. Stock wasm's gives wrong gradients when a window's maximum is <= 0
 * (design.md §4), so it is replaced, not just sped up. Each window sends its gradient to the
 * first position (row-major) that equals the pooled maximum, as the cpu backend and PyTorch
 * do; a tie is thus never counted twice.
 *
 * When windows tile the input exactly (stride = window, as in every net here), the windows are
 * laid out as rows of a matrix by one transpose, ArgMax picks each row's first maximum and a
 * one-hot times dy is transposed back: five fast passes. Otherwise (overlapping or gapped
 * windows) each window offset's strided view is compared with the pooled maximum and its
 * gradient scattered back as a shifted, zero-dilated copy; stock wasm's StridedSlice makes
 * that route slow (~40 ms per view of a cnn-small layer), so it is only the general fallback.
 */
import { tf } from '../tf.js';
import { asTensor, axisWindow, explicitPad, interleave } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad({ inputs, attrs }: KernelArgs): tf.Tensor {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as PoolAttrs;
  const xShape = inputs.input.shape as [number, number, number, number];
  const info = tf.backend_util.computePool2DInfo(
    xShape,
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: oh, outWidth: ow, inHeight, inWidth } = info;
  const [n, , , c] = xShape;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.input); // (N, H, W, C)
    const y = asTensor<tf.Rank.R4>(inputs.output); // (N, OH, OW, C): the pooled maxima
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, C)

    // Padding never wins a window: pad with -Infinity.
    const h = axisWindow(-top, (oh - 1) * sh + kh, inHeight);
    const w = axisWindow(-left, (ow - 1) * sw + kw, inWidth);
    const xs = tf.slice(x, [0, h.begin, w.begin, 0], [n, h.size, w.size, c]);
    const xp = tf.pad(xs, explicitPad(h, w), -Infinity);

    // Back from window coordinates to input rows: padded row u = oh*sh + i is input row u - top.
    const place = (grid: tf.Tensor4D, di: number, dj: number) => {
      const rows = axisWindow(top - di, inHeight, grid.shape[1]);
      const cols = axisWindow(left - dj, inWidth, grid.shape[2]);
      const part = tf.slice(grid, [0, rows.begin, cols.begin, 0], [n, rows.size, cols.size, c]);
      return tf.pad(part, explicitPad(rows, cols));
    };
    if (sh === kh && sw === kw) {
      const win = tf.transpose(tf.reshape(xp, [n * oh, kh, ow, kw, c]), [0, 2, 4, 1, 3]);
      const first = tf.argMax(tf.reshape(win, [-1, kh * kw]), 1); // (N*OH*OW*C), row-major
      const hot = tf.cast(tf.oneHot(first, kh * kw), 'float32'); // (N*OH*OW*C, KH*KW)
      const grad = tf.mul(hot, tf.reshape(dy, [-1, 1]));
      const back = tf.transpose(tf.reshape(grad, [n * oh, ow, c, kh, kw]), [0, 3, 1, 4, 2]);
      return place(tf.reshape(back, [n, oh * kh, ow * kw, c]), 0, 0);
    }

    // parts[i][j]: the gradient that window offset (i, j) receives, (N, OH, OW, C).
    const parts: tf.Tensor4D[][] = [];
    let taken: tf.Tensor | null = null;
    for (let i = 0; i < kh; i++) {
      parts.push([]);
      for (let j = 0; j < kw; j++) {
        const end = [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c];
        const view = tf.stridedSlice(xp, [0, i, j, 0], end, [1, sh, sw, 1]);
        const isMax = tf.equal(view, y);
        const first: tf.Tensor = taken ? tf.logicalAnd(isMax, tf.logicalNot(taken)) : isMax;
        taken = taken ? tf.logicalOr(taken, isMax) : isMax;
        parts[i].push(tf.mul(dy, tf.cast(first, 'float32')));
      }
    }
    const zeros = tf.zerosLike(dy);
    const spread = (part: tf.Tensor4D) =>
      interleave(
        Array.from({ length: sh }, (_, a) =>
          Array.from({ length: sw }, (_, b) => (a === 0 && b === 0 ? part : zeros)),
        ),
      ); // (N, OH*sh, OW*sw, C), the part at rows 0, sh, 2sh, ...
    return tf.addN(parts.flatMap((row, i) => row.map((part, j) => place(spread(part), i, j))));
  });
}

export const maxPoolGradKernel = projectKernel(tf.MaxPoolGrad, maxPoolGrad);
