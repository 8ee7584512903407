/**
 * The kernels this project adds to or replaces in the `wasm` backend so that the reference nets
 * train there (design.md §4): stock wasm lacks some gradient kernels, has slow ones, and one
 * that is wrong. Each is checked against the `cpu` backend in test/engine/gradcheck.test.ts.
 */
import { tf } from '../tf.js';
import { adamUpdateKernel } from './adam.js';
import { batchMatMulKernel } from './batch_mat_mul.js';
import { conv2dBackpropFilterKernel } from './conv2d_backprop_filter.js';
import { conv2dBackpropInputKernel } from './conv2d_backprop_input.js';
import { depthwiseBackpropFilterKernel } from './depthwise_backprop_filter.js';
import { depthwiseBackpropInputKernel } from './depthwise_backprop_input.js';
import { maxPoolGradKernel } from './max_pool_grad.js';
import { batchNormKernel } from './batch_norm.js';
import { castKernel, identityKernel } from './identity.js';
import { oneHotKernel } from './one_hot.js';
import { meanKernel, sumKernel } from './reduce.js';
import { tileKernel } from './tile.js';
import type { ProjectKernel } from './types.js';
import { nativeConvKernels } from '../native/kernels.js';

export type { ProjectKernel } from './types.js';

// Stock wasm kernels we replaced, by name, so that tests can compare with or restore them.
const stockKernels = new Map<string, tf.KernelConfig>();

function projectKernels(native: boolean): ProjectKernel[] {
  // Kernels that fall back to (or wrap) the stock one for cases they do not speed up.
  const stock = (name: string) => stockKernels.get(name) ?? tf.getKernel(name, 'wasm');
  const composed = wasmProjectKernels(stock);
  if (!native) return composed;
  const byName = new Map(composed.map((k) => [k.kernelName, k]));
  const fallback = (name: string) => byName.get(name) ?? stock(name);
  const nativeKernels = nativeConvKernels(fallback);
  const replaced = new Set(nativeKernels.map((k) => k.kernelName));
  return [...composed.filter((k) => !replaced.has(k.kernelName)), ...nativeKernels];
}

function wasmProjectKernels(stock: (name: string) => tf.KernelConfig): ProjectKernel[] {
  return [
    conv2dBackpropInputKernel,
    conv2dBackpropFilterKernel,
    depthwiseBackpropInputKernel,
    depthwiseBackpropFilterKernel,
    maxPoolGradKernel,
    batchMatMulKernel(stock(tf.BatchMatMul)),
    oneHotKernel(stock(tf.OneHot)),
    tileKernel(stock(tf.Tile)),
    sumKernel(stock(tf.Sum)),
    meanKernel(stock(tf.Mean)),
    batchNormKernel,
    identityKernel,
    castKernel(stock(tf.Cast)),
    adamUpdateKernel,
  ];
}

let registered: ProjectKernel[] | null = null;

/** Names of the kernels the project registers for `wasm`. */
export function wasmKernelNames(): string[] {
  return (registered ?? projectKernels(false)).map((k) => k.kernelName);
}

/**
 * Registers every project kernel for `wasm`, replacing stock ones; with `native`, convolutions
 * run on onnxruntime's kernels (native/). Idempotent until unregisterWasmKernels().
 */
export function registerWasmKernels(native = false): void {
  if (registered) return;
  registered = projectKernels(native);
  for (const k of registered) {
    const stock = tf.getKernel(k.kernelName, 'wasm');
    if (stock) {
      stockKernels.set(k.kernelName, stock);
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    // The engine runs setup functions only for kernels registered when the backend starts;
    // keeping the stock one's setup lets a restored stock kernel (tests) still work.
    const setupFunc = k.setupFunc ?? stock?.setupFunc;
    tf.registerKernel({ ...k, backendName: 'wasm', setupFunc });
  }
}

/** Puts stock wasm's kernels back (and removes the ones wasm lacks): for tests only. */
export function unregisterWasmKernels(): void {
  if (!registered) return;
  for (const k of registered) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    const stock = stockKernels.get(k.kernelName);
    if (stock) tf.registerKernel(stock);
  }
  registered = null;
}
