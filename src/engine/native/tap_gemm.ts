/**
 * The tap-GEMM filter gradient (filter_grad.ts) on the wasm heap: x and dy are copied once into
 * zero-padded buffers, and the graph reads shifted windows of those buffers in place.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import type { Info } from './common.js';
import { tapGemmFilterGradGraph, tapGemmLayout } from './filter_grad.js';
import { nativeGraph } from './session.js';

/**
 * Copies NHWC `src` (N, H, W, C) into `dst` (N + 1, HP, WP, C) at row `top`, column `left` of
 * each image, and zeros the rest of `dst`. Row by row: a typed-array copy per image row is
 * several times faster here than onnxruntime's Pad.
 */
function padInto(
  dst: Float32Array,
  src: Float32Array,
  [n, h, w, c]: number[],
  hp: number,
  wp: number,
  top: number,
  left: number,
): void {
  const row = w * c;
  const prow = wp * c;
  for (let i = 0; i < n; i++) {
    const image = i * hp * prow;
    dst.fill(0, image, image + top * prow);
    for (let y = 0; y < h; y++) {
      const at = image + (top + y) * prow;
      dst.fill(0, at, at + left * c);
      const from = (i * h + y) * row;
      dst.set(src.subarray(from, from + row), at + left * c);
      dst.fill(0, at + left * c + row, at + prow);
    }
    dst.fill(0, image + (top + h) * prow, image + hp * prow);
  }
  dst.fill(0, n * hp * prow);
}

/** dW (KH, KW, CI, CO) of a stride-1 convolution by tap GEMMs; null where the layout does not fit. */
export function tapGemmFilterGrad(
  info: Info,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  backend: tf.KernelBackend,
  chunks: number,
  batch: number,
): tf.TensorInfo | null {
  const layout = tapGemmLayout(info, chunks, batch);
  if (!layout) return null;
  const { hp, wp, rows, offsets } = layout;
  const { batchSize: n, inChannels: ci, outChannels: co } = info;
  const wasm = wasmBackend(backend);
  const xp = wasm.makeOutput([n + 1, hp, wp, ci], 'float32');
  const dyp = wasm.makeOutput([n + 1, hp, wp, co], 'float32');
  const dw = wasm.makeOutput([info.filterHeight, info.filterWidth, ci, co], 'float32');
  try {
    // Views are taken after the last allocation: allocation may grow (and move) the heap.
    const xpData = heapF32(wasm, xp);
    const dypData = heapF32(wasm, dyp);
    padInto(xpData, heapF32(wasm, x), x.shape, hp, wp, info.padInfo.top, info.padInfo.left);
    padInto(dypData, heapF32(wasm, dy), dy.shape, hp, wp, 0, 0);
    const piece = batch * rows;
    const args = [];
    for (let c = 0; c < chunks; c++) {
      const start = c * piece;
      args.push({
        data: dypData.subarray(start * co, (start + piece) * co),
        shape: [batch, rows, co],
      });
      for (const off of offsets) {
        const from = (start + off) * ci;
        args.push({ data: xpData.subarray(from, from + piece * ci), shape: [batch, rows, ci] });
      }
    }
    const out = { data: heapF32(wasm, dw), shape: [offsets.length * ci, co] };
    nativeGraph(tapGemmFilterGradGraph(info, chunks, batch)).run(args, [out]);
    return dw;
  } finally {
    backend.disposeData(xp.dataId);
    backend.disposeData(dyp.dataId);
  }
}
