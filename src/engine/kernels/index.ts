/**
 * The kernels this project adds to or replaces in the `wasm` backend, so that the reference nets
 * train there (design.md §4): stock wasm lacks some gradient kernels, has slow ones, and one
 * that is wrong. Each kernel is checked against the `cpu` backend in test/engine/gradcheck.
 */
import { tf } from '../tf.js';

export interface ProjectKernel {
  kernelName: string;
  kernelFunc: tf.KernelFunc;
}

export const WASM_KERNELS: ProjectKernel[] = [];

// Stock kernels we replaced, so that tests can put them back.
const replaced = new Map<string, tf.KernelConfig>();
let registered = false;

/** Registers every project kernel for `wasm`, replacing stock ones. Idempotent. */
export function registerWasmKernels(): void {
  if (registered) return;
  for (const k of WASM_KERNELS) {
    const stock = tf.getKernel(k.kernelName, 'wasm');
    if (stock) {
      replaced.set(k.kernelName, stock);
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    tf.registerKernel({ kernelName: k.kernelName, backendName: 'wasm', kernelFunc: k.kernelFunc });
  }
  registered = true;
}
