/**
 * Kernels for the wasm backend that run on onnxruntime's native CPU kernels (session.ts):
 * convolutions forward (plain, fused with bias and ReLU/ReLU6, depthwise) and both gradients,
 * dense-layer matmuls, and the convolution chains of inference (chain.ts). Each picks the
 * fastest graph measured for its shape (bench/convs.ts) and falls back to the project's composed
 * wasm kernel for what the graphs do not cover.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import { convGeometry } from '../kernels/util.js';
import { projectKernel, type KernelArgs, type ProjectKernel } from '../kernels/types.js';
import { isPointwise, type Activation } from './common.js';
import {
  depthwiseFilterGradGraph,
  filterGradIm2colGraph,
  nchwcDepthwiseFilterGradGraph,
  nchwcFilterGradGraph,
  pointwiseFilterGradGraph,
  tapGemmGrid,
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
import { runGraph } from './run.js';
import { CONV_CHAIN, convChain } from './chain.js';
import { tapGemmFilterGrad } from './tap_gemm.js';

type KernelFuncArgs = Parameters<tf.KernelFunc>[0];

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
    // Measured at batch 128: tap GEMMs win for stride 1 on 16 or more input channels where the
    // shared padding adds little (28x28x32: 42 -> 20 ms, 14x14x64: 25 -> 16, 7x7x128: 17 -> 15);
    // on one channel im2col wins.
    const { hp, wp } = tapGemmGrid(info);
    const wide = info.inChannels >= 16 && hp * wp <= 1.4 * info.inHeight * info.inWidth;
    if (!depthwise && !isPointwise(info) && wide) {
      const dw = tapGemmFilterGrad(info, inputs.x, inputs.dy, backend);
      if (dw) return dw;
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

/**
 * BatchMatMul with one matrix per operand (dense layers and their gradients) as onnxruntime's
 * Gemm on its threads: [128, 3136] x [3136, 128] in 1.2 ms against 3-4 in single-threaded wasm.
 * Small products (under a million multiply-adds) stay with `fallback`: a call costs ~0.1 ms.
 */
function matMul(fallback: ProjectKernel) {
  return (args: KernelArgs) => {
    const { inputs, attrs, backend } = args;
    const { a, b } = inputs;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const [ra, ca] = a.shape.slice(-2);
    const [rb, cb] = b.shape.slice(-2);
    const m = transposeA ? ca : ra;
    const k = transposeA ? ra : ca;
    const n = transposeB ? rb : cb;
    // tfjs passes 2-D operands as they are, or 3-D with a batch of one
    const one = (t: tf.TensorInfo) =>
      t.shape.length === 2 || (t.shape.length === 3 && t.shape[0] === 1);
    const single = one(a) && one(b);
    if (!single || m * n * k < 2 ** 20 || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return fallback.kernelFunc(args as unknown as KernelFuncArgs) as tf.TensorInfo;
    }
    const graph: OnnxGraph = {
      inputs: [
        { name: 'a', shape: [ra, ca] },
        { name: 'b', shape: [rb, cb] },
      ],
      outputs: [{ name: 'y', shape: [m, n] }],
      nodes: [
        {
          op: 'Gemm',
          inputs: ['a', 'b'],
          outputs: ['y'],
          attrs: { transA: transposeA ? 1 : 0, transB: transposeB ? 1 : 0 },
        },
      ],
    };
    const wasm = wasmBackend(backend);
    const out = wasm.makeOutput(a.shape.length === 2 ? [m, n] : [1, m, n], 'float32');
    nativeGraph(graph).run(
      [
        { data: heapF32(wasm, a), shape: [ra, ca] },
        { data: heapF32(wasm, b), shape: [rb, cb] },
      ],
      [{ data: heapF32(wasm, out), shape: [m, n] }],
    );
    return out;
  };
}

/** The native kernels, given the kernels they fall back to (stock wasm or the project's). */
export function nativeConvKernels(
  fallback: (name: string) => tf.KernelConfig | ProjectKernel | undefined,
): ProjectKernel[] {
  const stock = (name: string) => fallback(name) as tf.KernelConfig | undefined;
  const project = (name: string) => fallback(name) as ProjectKernel;
  return [
    projectKernel(CONV_CHAIN, convChain),
    projectKernel(tf.BatchMatMul, matMul(project(tf.BatchMatMul))),
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
