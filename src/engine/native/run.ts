/** Native graphs run on the wasm backend's tensors where they lie in its heap. */
import type { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import type { OnnxGraph } from './onnx_graph.js';
import { nativeGraph } from './session.js';

/** Runs `graph` on kernel inputs, writing a fresh wasm tensor of `shape`. */
export function runGraph(
  graph: OnnxGraph,
  inputs: tf.TensorInfo[],
  shape: number[],
  backend: tf.KernelBackend,
): tf.TensorInfo {
  const wasm = wasmBackend(backend);
  const out = wasm.makeOutput(shape, 'float32');
  // Views are taken after the output is allocated: allocation may grow (and move) the heap.
  const args = inputs.map((i) => ({ data: heapF32(wasm, i), shape: i.shape }));
  nativeGraph(graph).run(args, [{ data: heapF32(wasm, out), shape }]);
  return out;
}
