/**
 * The project's hand-written SIMD kernels, instantiated once against the wasm backend's memory.
 */
import { assemble } from './assembler.js';
import { adamBody } from './adam.js';
import { channelAffine2Body, channelAffineBody } from './affine.js';
import { channelSumsBody, shiftedSumsBody } from './channel_sums.js';
import { clipGradBody, reluGradBody } from './masks.js';
import { maxPool2x2GradBody } from './max_pool_grad.js';

export interface SimdKernels {
  maxPool2x2Grad(
    x: number,
    y: number,
    dy: number,
    dx: number,
    rows: number,
    ow: number,
    c4: number,
    vecs: number,
    rowBytes: number,
  ): void;
  reluGrad(x: number, dy: number, dx: number, vecs: number): void;
  clipGrad(x: number, dy: number, dx: number, vecs: number, lo: number, hi: number): void;
  channelAffine(x: number, y: number, k: number, b: number, pixels: number, vecs: number): void;
  channelAffine2(
    g: number,
    x: number,
    y: number,
    k: number,
    a: number,
    b: number,
    pixels: number,
    vecs: number,
  ): void;
  channelSums(
    g: number,
    x: number,
    m: number,
    s1: number,
    s2: number,
    pixels: number,
    vecs: number,
  ): void;
  shiftedSums(x: number, k: number, s1: number, s2: number, pixels: number, vecs: number): void;
  /** Pointers, the vector count, then eight floats as bits (simd/adam.ts). */
  adam(...args: number[]): void;
}

let cached: { memory: WebAssembly.Memory; kernels: SimdKernels } | null = null;

/** The wasm backend's memory: its emscripten module exports it as `asm.memory`. */
export function backendMemory(backend: unknown): WebAssembly.Memory | null {
  const memory = (backend as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** The SIMD kernels bound to `backend`'s memory, or null where that memory is not reachable. */
export function simdKernels(backend: unknown): SimdKernels | null {
  const memory = backendMemory(backend);
  if (!memory) return null;
  if (cached?.memory !== memory) {
    const instance = assemble(memory, {
      maxPool2x2Grad: maxPool2x2GradBody(),
      reluGrad: reluGradBody(),
      clipGrad: clipGradBody(),
      channelAffine: channelAffineBody(),
      channelAffine2: channelAffine2Body(),
      channelSums: channelSumsBody(),
      shiftedSums: shiftedSumsBody(),
      adam: adamBody(),
    });
    cached = { memory, kernels: instance.exports as unknown as SimdKernels };
  }
  return cached.kernels;
}

const bits = new Int32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** A float's bits as an i32, for passing floats to the kernels (their parameters are i32). */
export function floatBits(v: number): number {
  asFloat[0] = v;
  return bits[0];
}
