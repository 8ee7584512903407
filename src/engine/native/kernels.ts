/**
 * Convolution kernels for the wasm backend that run on onnxruntime's native CPU kernels
 * (session.ts): forward (plain, fused with bias and ReLU/ReLU6, depthwise) and both gradients.
 * Each picks the fastest graph measured for its shape (bench/convs.ts) and falls back to the
 * project's composed wasm kernel for what the graphs do not cover.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import { convGeometry } from '../kernels/util.js';
import { projectKernel, type KernelArgs, type ProjectKernel } from '../kernels/types.js';
import { type Activation } from './common.js';
import {
  depthwiseFilterGradGraph,
  filterGradIm2colGraph,
  nchwcDepthwiseFilterGradGraph,
  nchwcFilterGradGraph,
  pointwiseFilterGradGraph,
} from './filter_grad.js';
import { convGraph, nchwcConvGraph, pointwiseConvGraph } from './forward.js';
import {
  inputGradGraph,
  nchwcInputGradGraph,
  nchwcStridedInputGradGraph,
  pointwiseInputGradGraph,
} from './input_grad.js';
import type { OnnxGraph } from './onnx_graph.js';
import { nativeGraph, nchwcBlockSize } from './session.js';

type KernelFuncArgs = Parameters<tf.KernelFunc>[0];

/** Runs `graph` on kernel inputs, writing a fresh wasm tensor of `shape`. */
function runGraph(
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

function activationOf(attrs: tf.NamedAttrMap): Activation | null {
  const a = (attrs.activation as string | undefined) ?? 'linear';
  return a === 'linear' || a === 'relu' || a === 'relu6' ? a : null;
}

function forward(depthwise: boolean, fused: boolean, fallback: tf.KernelConfig | undefined) {
  return (args: KernelArgs) => {
    const { inputs, attrs, backend } = args;
    const act = fused ? activationOf(attrs) : 'linear';
    const prelu = fused && inputs.preluActivationWeights != null;
    const info = convGeometry(inputs.x.shape, inputs.filter.shape, attrs, depthwise, true);
    if (act === null || prelu || (depthwise && info.outChannels !== info.inChannels)) {
      if (!fallback)
        throw new Error(`no kernel for this ${depthwise ? 'depthwise ' : ''}convolution`);
      return fallback.kernelFunc(args as unknown as KernelFuncArgs) as tf.TensorInfo;
    }
    const bias = fused && inputs.bias != null;
    const graph =
      ((!depthwise && pointwiseConvGraph(info, bias, act)) ||
        nchwcConvGraph(info, depthwise, bias, act, nchwcBlockSize())) ??
      convGraph(info, depthwise, bias, act);
    const ins = bias ? [inputs.x, inputs.filter, inputs.bias] : [inputs.x, inputs.filter];
    return runGraph(
      graph,
      ins,
      [info.batchSize, info.outHeight, info.outWidth, info.outChannels],
      backend,
    );
  };
}

function inputGrad(depthwise: boolean, fallback: ProjectKernel) {
  return (args: KernelArgs) => {
    const { inputs, attrs, backend } = args;
    const inputShape = attrs.inputShape as number[];
    const info = convGeometry(inputShape, inputs.filter.shape, attrs, depthwise);
    // Depthwise graphs cover a channel multiplier of 1 (MobileNets); others use `fallback`.
    const graph =
      depthwise && info.outChannels !== info.inChannels
        ? null
        : (!depthwise && pointwiseInputGradGraph(info)) ||
          nchwcInputGradGraph(info, depthwise, nchwcBlockSize()) ||
          nchwcStridedInputGradGraph(info, depthwise, nchwcBlockSize()) ||
          inputGradGraph(info, depthwise);
    if (!graph) return fallback.kernelFunc(args as unknown as KernelFuncArgs) as tf.TensorInfo;
    return runGraph(graph, [inputs.dy, inputs.filter], inputShape, backend);
  };
}

function filterGrad(depthwise: boolean, fallback: ProjectKernel) {
  return (args: KernelArgs) => {
    const { inputs, attrs, backend } = args;
    const filterShape = attrs.filterShape as number[];
    const info = convGeometry(inputs.x.shape, filterShape, attrs, depthwise);
    if (depthwise && info.outChannels !== info.inChannels) {
      return fallback.kernelFunc(args as unknown as KernelFuncArgs) as tf.TensorInfo;
    }
    const block = nchwcBlockSize();
    // Measured per shape (batch 128): the NCHWc form wins only for stride 1 on few, large
    // channels (28x28x32: 44 against 51 ms); im2col + GEMM wins elsewhere (14x14x64: 26
    // against 35; stride 2: 19 against 34).
    const nchwc =
      info.batchSize % block === 0 &&
      info.inChannels >= block &&
      info.inChannels <= 32 &&
      info.strideHeight === 1 &&
      info.strideWidth === 1;
    const graph = depthwise
      ? (nchwcDepthwiseFilterGradGraph(info, block) ?? depthwiseFilterGradGraph(info))
      : (pointwiseFilterGradGraph(info) ??
        ((nchwc && nchwcFilterGradGraph(info, block)) || filterGradIm2colGraph(info)));
    return runGraph(graph, [inputs.x, inputs.dy], filterShape, backend);
  };
}

/** The native kernels, given the kernels they fall back to (stock wasm or the project's). */
export function nativeConvKernels(
  fallback: (name: string) => tf.KernelConfig | ProjectKernel | undefined,
): ProjectKernel[] {
  const stock = (name: string) => fallback(name) as tf.KernelConfig | undefined;
  const project = (name: string) => fallback(name) as ProjectKernel;
  return [
    projectKernel(tf.Conv2D, forward(false, false, stock(tf.Conv2D))),
    projectKernel(tf.FusedConv2D, forward(false, true, stock(tf.FusedConv2D))),
    projectKernel(tf.DepthwiseConv2dNative, forward(true, false, stock(tf.DepthwiseConv2dNative))),
    projectKernel(tf.FusedDepthwiseConv2D, forward(true, true, stock(tf.FusedDepthwiseConv2D))),
    projectKernel(tf.Conv2DBackpropInput, inputGrad(false, project(tf.Conv2DBackpropInput))),
    projectKernel(
      tf.DepthwiseConv2dNativeBackpropInput,
      inputGrad(true, project(tf.DepthwiseConv2dNativeBackpropInput)),
    ),
    projectKernel(tf.Conv2DBackpropFilter, filterGrad(false, project(tf.Conv2DBackpropFilter))),
    projectKernel(
      tf.DepthwiseConv2dNativeBackpropFilter,
      filterGrad(true, project(tf.DepthwiseConv2dNativeBackpropFilter)),
    ),
  ];
}
