/** Forward convolutions as onnxruntime graphs: plain, NCHWc (blocked) and 1x1 as a GEMM. */
import {
  TO_NCHW,
  TO_NHWC,
  NCHWC,
  pads,
  filterNodes,
  filterShape,
  isPointwise,
  inline,
  type Info,
  type Activation,
} from './common.js';
import type { OnnxGraph, OnnxNode } from './onnx_graph.js';

/** y = act(conv(x, w) + b), NHWC. */
export function convGraph(
  info: Info,
  depthwise: boolean,
  bias: boolean,
  act: Activation,
): OnnxGraph {
  const f = filterNodes(info, depthwise);
  const nodes: OnnxNode[] = [
    { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: TO_NCHW } },
    ...f.nodes,
    {
      op: 'Conv',
      inputs: bias ? ['xt', 'wt', 'b'] : ['xt', 'wt'],
      outputs: ['yc'],
      attrs: {
        kernel_shape: [info.filterHeight, info.filterWidth],
        strides: [info.strideHeight, info.strideWidth],
        dilations: [info.dilationHeight, info.dilationWidth],
        pads: pads(info),
        group: depthwise ? info.inChannels : 1,
      },
    },
  ];
  const floats: Record<string, number> = {};
  let last = 'yc';
  if (act === 'relu') {
    nodes.push({ op: 'Relu', inputs: ['yc'], outputs: ['ya'] });
    last = 'ya';
  } else if (act === 'relu6') {
    nodes.push({ op: 'Clip', inputs: ['yc', 'zero', 'six'], outputs: ['ya'] });
    Object.assign(floats, { zero: 0, six: 6 });
    last = 'ya';
  }
  nodes.push({ op: 'Transpose', inputs: [last], outputs: ['y'], attrs: { perm: TO_NHWC } });
  const inputs = [
    { name: 'x', shape: ['n', info.inHeight, info.inWidth, info.inChannels] },
    { name: 'w', shape: filterShape(info, depthwise) },
  ];
  if (bias) inputs.push({ name: 'b', shape: [info.outChannels] });
  return {
    inputs,
    outputs: [{ name: 'y', shape: ['n', info.outHeight, info.outWidth, info.outChannels] }],
    nodes,
    int64s: f.int64s,
    floats,
  };
}

/**
 * The same convolution on onnxruntime's blocked NCHWc kernels (channels in blocks of `block`,
 * 16 with AVX-512, 8 with AVX2), which are several times faster than its NCHW Conv when the
 * filter is a graph input. onnxruntime reorders constant filters when it loads a model; ours
 * change every step, so the graph reorders the filter itself, into the layouts MLAS reads:
 * OIHWBiBo [O/B, I/B, KH, KW, Bi, Bo] for blocked inputs, OIHWBo [O/B, I, KH, KW, Bo] for inputs
 * with fewer channels than a block (read as plain NCHW) and for depthwise filters.
 * Null when the channel counts do not fit the blocks.
 */
export function nchwcConvGraph(
  info: Info,
  depthwise: boolean,
  bias: boolean,
  act: Activation,
  block: number,
): OnnxGraph | null {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  if (block === 0) return null;
  const blockedInput = depthwise || ci >= block;
  if (blockedInput && ci % block !== 0) return null;
  if (depthwise && co !== ci) return null;
  const cop = Math.ceil(co / block) * block;
  const int64s: Record<string, number[]> = {};
  const nodes: OnnxNode[] = [];

  // filter (KH, KW, CI, CO) -> blocked, output channels zero-padded to whole blocks
  let w = 'w';
  if (cop !== co) {
    int64s.wpad = [0, 0, 0, 0, 0, 0, 0, cop - co];
    nodes.push({ op: 'Pad', inputs: ['w', 'wpad'], outputs: ['wp'] });
    w = 'wp';
  }
  const wi = depthwise ? 1 : ci;
  if (blockedInput && !depthwise) {
    int64s.wsplit = [kh, kw, ci / block, block, cop / block, block];
    nodes.push({ op: 'Reshape', inputs: [w, 'wsplit'], outputs: ['w6'] });
    nodes.push({
      op: 'Transpose',
      inputs: ['w6'],
      outputs: ['w6t'],
      attrs: { perm: [4, 2, 0, 1, 3, 5] },
    });
  } else {
    int64s.wsplit = [kh, kw, wi, cop / block, block];
    nodes.push({ op: 'Reshape', inputs: [w, 'wsplit'], outputs: ['w6'] });
    nodes.push({
      op: 'Transpose',
      inputs: ['w6'],
      outputs: ['w6t'],
      attrs: { perm: [3, 2, 0, 1, 4] },
    });
  }
  int64s.wshape = [cop, wi, kh, kw];
  nodes.push({ op: 'Reshape', inputs: ['w6t', 'wshape'], outputs: ['wc'] });

  // input (N, H, W, CI) -> NCHWc, or NCHW when it has fewer channels than a block
  if (blockedInput) {
    nodes.push({
      op: 'ReorderInput',
      inputs: ['x'],
      outputs: ['xc'],
      attrs: { channels_last: 1 },
      domain: NCHWC,
    });
  } else {
    nodes.push({ op: 'Transpose', inputs: ['x'], outputs: ['xc'], attrs: { perm: TO_NCHW } });
  }

  let b = '';
  if (bias) {
    b = 'b';
    if (cop !== co) {
      int64s.bpad = [0, cop - co];
      nodes.push({ op: 'Pad', inputs: ['b', 'bpad'], outputs: ['bp'] });
      b = 'bp';
    }
  }
  const conv: OnnxNode = {
    op: 'Conv',
    domain: NCHWC,
    inputs: bias ? ['xc', 'wc', b] : ['xc', 'wc'],
    outputs: ['yc'],
    attrs: {
      kernel_shape: [kh, kw],
      strides: [info.strideHeight, info.strideWidth],
      dilations: [info.dilationHeight, info.dilationWidth],
      pads: pads(info),
      group: depthwise ? ci : 1,
    },
  };
  if (act === 'relu') conv.attrs!.activation = 'Relu';
  if (act === 'relu6') {
    conv.attrs!.activation = 'Clip';
    conv.floatAttrs = { activation_params: [0, 6] };
  }
  nodes.push(conv);
  nodes.push({
    op: 'ReorderOutput',
    domain: NCHWC,
    inputs: ['yc'],
    outputs: ['y'],
    attrs: { channels: co, channels_last: 1 },
  });
  const inputs = [
    { name: 'x', shape: ['n', info.inHeight, info.inWidth, ci] as (number | string)[] },
    { name: 'w', shape: filterShape(info, depthwise) as (number | string)[] },
  ];
  if (bias) inputs.push({ name: 'b', shape: [co] });
  return {
    inputs,
    outputs: [{ name: 'y', shape: ['n', info.outHeight, info.outWidth, co] }],
    nodes,
    int64s,
  };
}

/** One convolution of a chain, with its bias and activation. */
export interface ConvLink {
  info: Info;
  depthwise: boolean;
  bias: boolean;
  act: Activation;
}

/**
 * Consecutive convolutions as one NCHWc graph (inference with BatchNorm folded in,
 * ../inference.ts): the activations stay blocked from one convolution to the next, so the
 * reorders from and to NHWC happen once for the chain instead of once per convolution.
 * Inputs x, w0, b0, w1, ... (b only for links with a bias). Null unless every link after the
 * first reads whole blocks of channels.
 */
export function nchwcChainGraph(links: ConvLink[], block: number): OnnxGraph | null {
  const nodes: OnnxNode[] = [];
  const int64s: Record<string, number[]> = {};
  const floats: Record<string, number> = {};
  const first = links[0].info;
  const last = links[links.length - 1].info;
  const inputs = [{ name: 'x', shape: ['n', first.inHeight, first.inWidth, first.inChannels] }];
  for (let i = 0; i < links.length; i++) {
    const { info, depthwise, bias, act } = links[i];
    if (i > 0 && (info.inChannels < block || info.inChannels % block !== 0)) return null;
    const g = nchwcConvGraph(info, depthwise, bias, act, block);
    if (!g) return null;
    const p = `l${i}_`;
    // Between links the blocked output of one is the blocked input of the next.
    const body = g.nodes.filter(
      (n) =>
        (i === 0 || n.op !== 'ReorderInput') &&
        (i === links.length - 1 || n.op !== 'ReorderOutput'),
    );
    const bind: Record<string, string> = { x: 'x', y: 'y' };
    if (i > 0) bind.xc = `l${i - 1}_yc`;
    const part = inline({ ...g, nodes: body }, p, bind);
    nodes.push(...part.nodes);
    Object.assign(int64s, part.int64s);
    Object.assign(floats, part.floats);
    inputs.push({ name: `${p}w`, shape: filterShape(info, depthwise) });
    if (bias) inputs.push({ name: `${p}b`, shape: [info.outChannels] });
  }
  return {
    inputs,
    outputs: [{ name: 'y', shape: ['n', last.outHeight, last.outWidth, last.outChannels] }],
    nodes,
    int64s,
    floats,
  };
}

/**
 * A 1x1, stride-1, unpadded convolution on NHWC data is a matmul over pixels, (N*H*W, CI) x
 * (CI, CO), with no reordering at all; its input gradient is dy times the filter transposed.
 */
export function pointwiseConvGraph(info: Info, bias: boolean, act: Activation): OnnxGraph | null {
  if (!isPointwise(info)) return null;
  const { inChannels: ci, outChannels: co, inHeight: h, inWidth: w } = info;
  const nodes: OnnxNode[] = [
    { op: 'Reshape', inputs: ['x', 'xshape'], outputs: ['x2'] },
    { op: 'Reshape', inputs: ['w', 'wshape'], outputs: ['w2'] },
    // Gemm, not MatMul: onnxruntime's 2-D MatMul ran on one thread here (14 ms against 7.6).
    { op: 'Gemm', inputs: bias ? ['x2', 'w2', 'b'] : ['x2', 'w2'], outputs: ['y2'] },
  ];
  const floats: Record<string, number> = {};
  let last = 'y2';
  if (act !== 'linear') {
    nodes.push(
      act === 'relu'
        ? { op: 'Relu', inputs: ['y2'], outputs: ['ya'] }
        : { op: 'Clip', inputs: ['y2', 'zero', 'six'], outputs: ['ya'] },
    );
    if (act === 'relu6') Object.assign(floats, { zero: 0, six: 6 });
    last = 'ya';
  }
  nodes.push({ op: 'Reshape', inputs: [last, 'yshape'], outputs: ['y'] });
  const inputs = [
    { name: 'x', shape: ['n', h, w, ci] as (number | string)[] },
    { name: 'w', shape: [1, 1, ci, co] as (number | string)[] },
  ];
  if (bias) inputs.push({ name: 'b', shape: [co] });
  return {
    inputs,
    outputs: [{ name: 'y', shape: ['n', h, w, co] }],
    nodes,
    int64s: { xshape: [-1, ci], wshape: [ci, co], yshape: [-1, h, w, co] },
    floats,
  };
}
