/**
 * Runs small ONNX graphs synchronously on onnxruntime's CPU kernels (MLAS: AVX2/AVX-512 GEMM and
 * convolution, its own thread pool). TensorFlow.js kernels must return synchronously, and
 * onnxruntime-node's public `run` is async only by wrapping its native call in setImmediate, so
 * the kernels call the native binding directly. That is an internal of onnxruntime-node 1.30:
 * package.json pins it, and `nativeKernelsAvailable` reports false if the binding changes shape.
 *
 * Data moves without copies when the wasm heap is a plain ArrayBuffer (the single-threaded wasm
 * build); a SharedArrayBuffer heap (threaded build) is refused by the binding, so inputs and
 * outputs are staged through ordinary buffers.
 *
 * The binding (1.30 and 1.31) copies every output into a new JavaScript buffer after the run, even
 * one the caller supplied: for a 12.8 MB activation 7.5 of the 8 ms the call takes, plus the
 * garbage collections the discarded copies cause. Each graph therefore gets a first output of a
 * type the binding cannot convert (a bfloat16 scalar): the run has written the real outputs into
 * our buffers by then, and the conversion stops at that first output with an error we expect.
 * Should a later binding convert it, the run simply returns normally.
 */
import { createRequire } from 'node:module';
import { BFLOAT16, encodeModel, type OnnxGraph } from './onnx_graph.js';

interface OrtTensor {
  data: Float32Array;
}

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(
    feeds: Record<string, OrtTensor>,
    fetches: Record<string, OrtTensor | null>,
    options: object,
  ): Record<string, OrtTensor>;
}

interface Binding {
  InferenceSession: new () => NativeSession;
}

interface Ort {
  binding: Binding;
  initOrt(): void;
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

let ort: Ort | null | undefined;

function loadOrt(): Ort | null {
  if (ort !== undefined) return ort;
  try {
    const require = createRequire(import.meta.url);
    const { binding, initOrt } = require('onnxruntime-node/dist/binding') as Omit<Ort, 'Tensor'>;
    const { Tensor } = require('onnxruntime-node') as Pick<Ort, 'Tensor'>;
    ort = typeof binding?.InferenceSession === 'function' ? { binding, initOrt, Tensor } : null;
  } catch {
    ort = null;
  }
  return ort;
}

/** Whether onnxruntime-node's native binding loads here. */
export function nativeKernelsAvailable(): boolean {
  return loadOrt() !== null;
}

/** A float32 argument: its data (a view, possibly of the wasm heap) and its shape. */
export interface NativeArg {
  data: Float32Array;
  shape: readonly number[];
}

export interface NativeGraph {
  run(inputs: NativeArg[], outputs: NativeArg[]): void;
}

const sessions = new Map<string, NativeGraph>();
let intraOpThreads = 1;

/** Sets onnxruntime's thread count for graphs built from now on. */
export function setNativeThreads(threads: number): void {
  if (threads !== intraOpThreads) sessions.clear();
  intraOpThreads = threads;
}

let block: number | null = null;

/**
 * MLAS's NCHWc channel block on this CPU (16 with AVX-512, 8 with AVX2): reordering a
 * 4-channel pixel pads it to one block, so the output's channel count is the block.
 */
export function nchwcBlockSize(): number {
  if (block !== null) return block;
  try {
    block = probeBlockSize();
  } catch {
    block = 0; // no NCHWc kernels here: the plain ONNX graphs run instead
  }
  return block;
}

function probeBlockSize(): number {
  const lib = loadOrt();
  if (!lib) return 0;
  lib.initOrt();
  const session = new lib.binding.InferenceSession();
  const bytes = encodeModel({
    inputs: [{ name: 'x', shape: [1, 1, 1, 4] }],
    outputs: [{ name: 'y', shape: [1, 'c', 1, 1] }],
    nodes: [
      {
        op: 'ReorderInput',
        domain: 'com.microsoft.nchwc',
        inputs: ['x'],
        outputs: ['y'],
        attrs: { channels_last: 1 },
      },
    ],
  });
  session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {});
  const x = new lib.Tensor('float32', new Float32Array(4), [1, 1, 1, 4]);
  const size = session.run({ x }, { y: null }, {}).y.data.length;
  return size >= 4 && (size & (size - 1)) === 0 ? size : 0;
}

/** The graph's session, built on first use and kept for the process (keyed by the graph). */
export function nativeGraph(graph: OnnxGraph): NativeGraph {
  const key = JSON.stringify(graph);
  let g = sessions.get(key);
  if (!g) {
    g = buildGraph(graph);
    sessions.set(key, g);
  }
  return g;
}

const STOP = 'meal_stop';
const STOPPED = /Tensor type \(16\) is not supported/;

/** `graph` with a bfloat16 scalar as its first output (see the top of this file). */
function withStopOutput(graph: OnnxGraph): OnnxGraph {
  return {
    ...graph,
    outputs: [{ name: STOP, shape: [], elemType: BFLOAT16 }, ...graph.outputs],
    nodes: [
      { op: 'Cast', inputs: [`${STOP}_one`], outputs: [STOP], attrs: { to: BFLOAT16 } },
      ...graph.nodes,
    ],
    floats: { ...graph.floats, [`${STOP}_one`]: 1 },
  };
}

function buildGraph(graph: OnnxGraph): NativeGraph {
  const lib = loadOrt();
  if (!lib) throw new Error('native kernels need onnxruntime-node, which failed to load');
  lib.initOrt();
  const session = new lib.binding.InferenceSession();
  const bytes = encodeModel(withStopOutput(graph));
  session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Spinning workers would steal the cores from wasm's own threads between our calls.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const inNames = graph.inputs.map((i) => i.name);
  const outNames = graph.outputs.map((o) => o.name);
  // One staging buffer per argument, reused across calls, for views of a shared heap.
  const staging: Float32Array[] = [];
  const plain = (data: Float32Array, slot: number, copyIn: boolean) => {
    if (!(data.buffer instanceof SharedArrayBuffer)) return data;
    if (staging[slot]?.length !== data.length) staging[slot] = new Float32Array(data.length);
    if (copyIn) staging[slot].set(data);
    return staging[slot];
  };
  const tensor = (a: NativeArg, slot: number, copyIn: boolean) =>
    new lib.Tensor('float32', plain(a.data, slot, copyIn), a.shape);
  return {
    run(inputs, outputs) {
      const feeds: Record<string, OrtTensor> = {};
      inNames.forEach((name, i) => (feeds[name] = tensor(inputs[i], i, true)));
      const fetches: Record<string, OrtTensor | null> = { [STOP]: null };
      outNames.forEach(
        (name, i) => (fetches[name] = tensor(outputs[i], inNames.length + i, false)),
      );
      try {
        session.run(feeds, fetches, {});
      } catch (e) {
        if (!STOPPED.test((e as Error).message)) throw e;
      }
      outNames.forEach((name, i) => {
        const written = (fetches[name] as OrtTensor).data;
        if (written !== outputs[i].data) outputs[i].data.set(written);
      });
    },
  };
}
