/**
 * The tap-GEMM filter gradient (filter_grad.ts) on the wasm heap: x and dy are copied once into
 * the zero-padded grids of tapGemmLayout, and the graph reads shifted windows of them in place.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import type { Info } from './common.js';
import { tapGemmFilterGradGraph, tapGemmGrid, tapGemmLayout } from './filter_grad.js';
import { nativeGraph } from './session.js';

/**
 * Copies NHWC `src` (N, H, W, C) into the flat pixel grid `dst` (C floats a pixel), image i's
 * row y at pixel start + (i·HP + y)·WP, and zeros every pixel between and after. Both are views
 * of the wasm heap, so each row is one copyWithin on the whole heap: a view per row costs more
 * than its copy (28x28x32 at batch 128: 1.3 against 1.6 ms; onnxruntime's Pad is slower still).
 */
function placeInGrid(
  dst: Float32Array,
  src: Float32Array,
  [n, h, w, c]: number[],
  hp: number,
  wp: number,
  start: number,
): void {
  if (src.buffer !== dst.buffer) throw new Error('placeInGrid: src and dst are not one heap');
  const heap = new Float32Array(dst.buffer);
  const base = dst.byteOffset / 4;
  const from = src.byteOffset / 4;
  const row = w * c;
  let written = base;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      const at = base + (start + (i * hp + y) * wp) * c;
      heap.fill(0, written, at);
      const read = from + (i * h + y) * row;
      heap.copyWithin(at, read, read + row);
      written = at + row;
    }
  }
  heap.fill(0, written, base + dst.length);
}

/**
 * dW (KH, KW, CI, CO) of a stride-1 convolution by tap GEMMs; null where the layout does not fit.
 * Pieces of about 8 MiB of x and dy together stay in cache across their taps (28x28x32 at batch
 * 128: 4 chunks, 20.6 ms against 25.5 with 2), two to a GEMM so both threads have one.
 */
export function tapGemmFilterGrad(
  info: Info,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  backend: tf.KernelBackend,
): tf.TensorInfo | null {
  const { hp, wp } = tapGemmGrid(info);
  const bytes = info.batchSize * hp * wp * (info.inChannels + info.outChannels) * 4;
  const chunks = Math.ceil(bytes / 2 ** 23);
  const batch = 2;
  const layout = tapGemmLayout(info, chunks, batch);
  if (!layout) return null;
  const { rows, offsets, start, length } = layout;
  const { inChannels: ci, outChannels: co } = info;
  const wasm = wasmBackend(backend);
  const pixels = chunks * batch * rows;
  const xp = wasm.makeOutput([length, ci], 'float32');
  const dyp = wasm.makeOutput([pixels, co], 'float32');
  const dw = wasm.makeOutput([info.filterHeight, info.filterWidth, ci, co], 'float32');
  try {
    // Views are taken after the last allocation: allocation may grow (and move) the heap.
    const xpData = heapF32(wasm, xp);
    const dypData = heapF32(wasm, dyp);
    placeInGrid(xpData, heapF32(wasm, x), x.shape, hp, wp, start);
    placeInGrid(dypData, heapF32(wasm, dy), dy.shape, hp, wp, 0);
    const piece = batch * rows;
    const args = [];
    for (let c = 0; c < chunks; c++) {
      const first = c * piece;
      args.push({
        data: dypData.subarray(first * co, (first + piece) * co),
        shape: [batch, rows, co],
      });
      for (const off of offsets) {
        const from = (first + off) * ci;
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
