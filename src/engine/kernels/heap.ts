/**
 * Direct access to the wasm backend's heap, for the few kernels that are one simple pass over
 * memory: a JIT-compiled loop there beats a chain of stock kernels, each of which reads and
 * writes the whole tensor again.
 */
import type { tf } from '../tf.js';

/** The slice of the wasm backend that heap kernels use. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

export function wasmBackend(backend: tf.KernelBackend): WasmHeapBackend {
  const b = backend as unknown as Partial<WasmHeapBackend>;
  if (typeof b.typedArrayFromHeap !== 'function' || typeof b.makeOutput !== 'function') {
    throw new Error('a heap kernel ran on a backend that is not wasm');
  }
  return b as WasmHeapBackend;
}

/** A float32 tensor's data as a view of the heap; take views after every allocation. */
export function heapF32(backend: WasmHeapBackend, info: tf.TensorInfo): Float32Array {
  if (info.dtype !== 'float32') throw new Error(`expected a float32 tensor, found ${info.dtype}`);
  return backend.typedArrayFromHeap(info) as Float32Array;
}
