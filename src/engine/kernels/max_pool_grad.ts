/**
 * MaxPoolGrad for wasm, as a loop over the backend's heap. Stock wasm's gives wrong gradients
 * when a window's maximum is <= 0 (design.md §4), so it is replaced, not just sped up. Each
 * window sends its gradient to the first position (row-major) holding its maximum, as the cpu
 * backend and PyTorch do, so a tie is never counted twice; overlapping windows add up.
 *
 * Measured: composing it from stock kernels (transpose, ArgMax, OneHot, transpose back) took
 * 35-45 ms per cnn-small layer at batch 128; the general loop below ~35 ms on [128, 28, 28, 32]
 * (JavaScript cannot use SIMD), the tiling loop ~25 ms, the SIMD kernel 1.7 ms.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from './heap.js';
import { projectKernel, type KernelArgs } from './types.js';
import { simdKernels } from '../simd/index.js';

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as PoolAttrs;
  const shape = inputs.input.shape as [number, number, number, number];
  const info = tf.backend_util.computePool2DInfo(
    shape,
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw } = info;
  const [n, , , c] = shape;
  const { top, left } = info.padInfo;

  const wasm = wasmBackend(backend);
  const out = wasm.makeOutput(shape, 'float32');
  // Views after the allocation: a growing heap detaches older ones.
  const x = heapF32(wasm, inputs.input); // (N, H, W, C)
  const dy = heapF32(wasm, inputs.dy); // (N, OH, OW, C)
  const dx = heapF32(wasm, out); // (N, H, W, C)
  const tiles =
    sh === kh && sw === kw && top === 0 && left === 0 && oh * sh === ih && ow * sw === iw;
  const simd = tiles && kh === 2 && kw === 2 && c % 4 === 0 ? simdKernels(backend) : null;
  if (simd) {
    const y = heapF32(wasm, inputs.output);
    simd.maxPool2x2Grad(
      x.byteOffset,
      y.byteOffset,
      dy.byteOffset,
      dx.byteOffset,
      n * oh,
      ow,
      c * 4,
      c / 4,
      iw * c * 4,
    );
    return out;
  }
  if (tiles) {
    tilingGrad(x, heapF32(wasm, inputs.output), dy, dx, info);
    return out;
  }
  dx.fill(0);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        at.fill(-1);
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * sh - top + ky;
          if (y < 0 || y >= ih) continue;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * sw - left + kx;
            if (xx < 0 || xx >= iw) continue;
            const base = ((b * ih + y) * iw + xx) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k];
              if (at[k] < 0 || v > best[k]) {
                best[k] = v;
                at[k] = base + k;
              }
            }
          }
        }
        const o = ((b * oh + oy) * ow + ox) * c;
        for (let k = 0; k < c; k++) if (at[k] >= 0) dx[at[k]] += dy[o + k];
      }
    }
  }
  return out;
}

/**
 * Windows that tile the input exactly (2x2 stride 2 on an even size, as in the reference nets):
 * every input element is in one window, so each is written once, with no zero fill and no
 * accumulation, and the window's maximum is the forward output `y` (the same bits), so the
 * first position equal to it takes the gradient. The 2x2 case with channels in fours runs as a
 * SIMD pass instead (simd/max_pool_grad.ts); this covers other tilings.
 */
function tilingGrad(
  x: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const { inHeight: ih, inWidth: iw, inChannels: c, batchSize: n } = info;
  const taps = new Int32Array(kh * kw);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            taps[ky * kw + kx] = ((b * ih + oy * kh + ky) * iw + ox * kw + kx) * c;
          }
        }
        const o = ((b * oh + oy) * ow + ox) * c;
        for (let k = 0; k < c; k++) {
          const m = y[o + k];
          let g = dy[o + k];
          for (let t = 0; t < taps.length; t++) {
            const i = taps[t] + k;
            if (x[i] === m) {
              dx[i] = g;
              g = 0;
            } else {
              dx[i] = 0;
            }
          }
        }
      }
    }
  }
}

export const maxPoolGradKernel = projectKernel(tf.MaxPoolGrad, maxPoolGrad);
