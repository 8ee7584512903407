/**
 * Convolutions and their gradients as onnxruntime graphs, for the wasm backend's tensors
 * (NHWC data, HWIO filters; ONNX is NCHW with OIHW filters, so each graph transposes at its
 * edges, which onnxruntime does with its threads).
 */
import { tf } from '../tf.js';
import type { OnnxGraph, OnnxNode } from './onnx_graph.js';
import { axisPhase } from '../kernels/transposed_conv.js';

type Info = tf.backend_util.Conv2DInfo;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

function pads(info: Info): number[] {
  const p = info.padInfo;
  return [p.top, p.left, p.bottom, p.right];
}

/** ONNX filter layout from HWIO, or for depthwise from [KH, KW, C, M]. */
function filterNodes(
  info: Info,
  depthwise: boolean,
): { nodes: OnnxNode[]; int64s: Record<string, number[]> } {
  if (!depthwise) {
    return {
      nodes: [{ op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: [3, 2, 0, 1] } }],
      int64s: {},
    };
  }
  const { filterHeight: kh, filterWidth: kw, outChannels } = info;
  return {
    nodes: [
      { op: 'Reshape', inputs: ['w', 'w_hwk'], outputs: ['w3'] },
      { op: 'Transpose', inputs: ['w3'], outputs: ['w3t'], attrs: { perm: [2, 0, 1] } },
      { op: 'Reshape', inputs: ['w3t', 'w_k1hw'], outputs: ['wt'] },
    ],
    int64s: { w_hwk: [kh, kw, outChannels], w_k1hw: [outChannels, 1, kh, kw] },
  };
}

export type Activation = 'linear' | 'relu' | 'relu6';

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

function filterShape(info: Info, depthwise: boolean): number[] {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  return depthwise ? [kh, kw, ci, co / ci] : [kh, kw, ci, co];
}

/** dx from dy and the filter: the transposed convolution, output padded to the input's size. */
export function inputGradGraph(info: Info, depthwise: boolean): OnnxGraph | null {
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const p = info.padInfo;
  const outPadH =
    info.inHeight - (sh * (info.outHeight - 1) + info.filterHeight - p.top - p.bottom);
  const outPadW = info.inWidth - (sw * (info.outWidth - 1) + info.filterWidth - p.left - p.right);
  if (outPadH < 0 || outPadW < 0 || outPadH >= sh || outPadW >= sw) return null;
  const f = filterNodes(info, depthwise);
  return {
    inputs: [
      { name: 'dy', shape: ['n', info.outHeight, info.outWidth, info.outChannels] },
      { name: 'w', shape: filterShape(info, depthwise) },
    ],
    outputs: [{ name: 'dx', shape: ['n', info.inHeight, info.inWidth, info.inChannels] }],
    nodes: [
      { op: 'Transpose', inputs: ['dy'], outputs: ['dyt'], attrs: { perm: TO_NCHW } },
      ...f.nodes,
      {
        op: 'ConvTranspose',
        inputs: ['dyt', 'wt'],
        outputs: ['dxt'],
        attrs: {
          kernel_shape: [info.filterHeight, info.filterWidth],
          strides: [sh, sw],
          pads: pads(info),
          output_padding: [outPadH, outPadW],
          group: depthwise ? info.inChannels : 1,
        },
      },
      { op: 'Transpose', inputs: ['dxt'], outputs: ['dx'], attrs: { perm: TO_NHWC } },
    ],
    int64s: f.int64s,
  };
}

const NCHWC = 'com.microsoft.nchwc';

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

/** dx for a stride-1 convolution: the NCHWc convolution of dy with the flipped, transposed filter. */
export function nchwcInputGradGraph(
  info: Info,
  depthwise: boolean,
  block: number,
): OnnxGraph | null {
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const p = info.padInfo;
  // The gradient is a convolution of dy ('same'-like padding mirrored) with w flipped in space.
  const back = {
    ...info,
    inHeight: info.outHeight,
    inWidth: info.outWidth,
    inChannels: co,
    outHeight: info.inHeight,
    outWidth: info.inWidth,
    outChannels: ci,
    padInfo: {
      top: kh - 1 - p.top,
      left: kw - 1 - p.left,
      bottom: kh - 1 - p.bottom,
      right: kw - 1 - p.right,
      type: 'EXPLICIT',
    },
  } as Info;
  const g = nchwcConvGraph(back, depthwise, false, 'linear', block);
  if (!g) return null;
  // w (KH, KW, CI, CO) -> flipped (KH, KW, CO, CI): the graph's 'w' input becomes 'wf'
  const int64s = {
    ...g.int64s,
    fstart: [-1, -1],
    fend: [-(2 ** 62), -(2 ** 62)],
    faxes: [0, 1],
    fstep: [-1, -1],
  };
  const flip = [
    { op: 'Slice', inputs: ['w', 'fstart', 'fend', 'faxes', 'fstep'], outputs: ['wfl'] },
    depthwise
      ? { op: 'Identity', inputs: ['wfl'], outputs: ['wf'] }
      : { op: 'Transpose', inputs: ['wfl'], outputs: ['wf'], attrs: { perm: [0, 1, 3, 2] } },
  ];
  const nodes = g.nodes.map((n) => ({ ...n, inputs: n.inputs.map((i) => (i === 'w' ? 'wf' : i)) }));
  return {
    inputs: [
      { name: 'x', shape: ['n', info.outHeight, info.outWidth, co] },
      { name: 'w', shape: filterShape(info, depthwise) },
    ],
    outputs: [{ name: 'y', shape: ['n', info.inHeight, info.inWidth, ci] }],
    nodes: [...flip, ...nodes],
    int64s,
  };
}

/**
 * The part of the input a filter gradient reads: (OH - 1) * stride + K rows from -padTop, cut
 * at the input's end (rows past it are zero padding, given to the convolution as `pads`).
 */
function gradientWindow(info: Info) {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const p = info.padInfo;
  const usedH = Math.min(info.inHeight, (info.outHeight - 1) * sh + kh - p.top);
  const usedW = Math.min(info.inWidth, (info.outWidth - 1) * sw + kw - p.left);
  const bottom = (info.outHeight - 1) * sh + kh - p.top - usedH;
  const right = (info.outWidth - 1) * sw + kw - p.left - usedW;
  return { usedH, usedW, pads: [p.top, p.left, bottom, right] };
}

/** NCHWc convolution of the reordered input 'xc' with dy as the filter 'dyc', dilation = stride. */
function dyAsFilterConv(info: Info, output: string, group: number): OnnxNode {
  return {
    op: 'Conv',
    domain: NCHWC,
    inputs: ['xc', 'dyc'],
    outputs: [output],
    attrs: {
      kernel_shape: [info.outHeight, info.outWidth],
      dilations: [info.strideHeight, info.strideWidth],
      strides: [1, 1],
      pads: gradientWindow(info).pads,
      group,
    },
  };
}

/**
 * dW as one NCHWc convolution: the batch is the input's channel axis (blocked), dy is the
 * filter (OIHWBiBo over batch and output channels), dilation = stride. Needs a batch that is a
 * whole number of blocks.
 */
export function nchwcFilterGradGraph(info: Info, block: number): OnnxGraph | null {
  const { filterHeight: kh, filterWidth: kw } = info;
  const { inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  if (block === 0 || co % block !== 0) return null;
  const { usedH, usedW } = gradientWindow(info);
  const nb = 'nb';
  return {
    inputs: [
      { name: 'x', shape: [nb, info.inHeight, info.inWidth, ci] },
      { name: 'dy', shape: [nb, oh, ow, co] },
    ],
    outputs: [{ name: 'dw', shape: [kh, kw, ci, co] }],
    nodes: [
      // x (N, H, W, CI) -> (CI, N/B, H', W', B)
      { op: 'Reshape', inputs: ['x', 'xsplit'], outputs: ['x5'] },
      { op: 'Slice', inputs: ['x5', 'starts', 'ends', 'axes'], outputs: ['x5s'] },
      { op: 'Transpose', inputs: ['x5s'], outputs: ['x5t'], attrs: { perm: [4, 0, 2, 3, 1] } },
      { op: 'Reshape', inputs: ['x5t', 'xshape'], outputs: ['xc'] },
      // dy (N, OH, OW, CO) -> (CO/B, N/B, OH, OW, Bn, Bo)
      { op: 'Reshape', inputs: ['dy', 'dysplit'], outputs: ['dy6'] },
      { op: 'Transpose', inputs: ['dy6'], outputs: ['dy6t'], attrs: { perm: [4, 0, 2, 3, 1, 5] } },
      { op: 'Reshape', inputs: ['dy6t', 'dyshape'], outputs: ['dyc'] },
      dyAsFilterConv(info, 'dwc', 1),
      // (CI, CO/B, KH, KW, B) -> (CI, KH, KW, CO) -> (KH, KW, CI, CO)
      {
        op: 'ReorderOutput',
        domain: NCHWC,
        inputs: ['dwc'],
        outputs: ['dwl'],
        attrs: { channels: co, channels_last: 1 },
      },
      { op: 'Transpose', inputs: ['dwl'], outputs: ['dw'], attrs: { perm: [1, 2, 0, 3] } },
    ],
    int64s: {
      xsplit: [-1, block, info.inHeight, info.inWidth, ci],
      starts: [0, 0],
      ends: [usedH, usedW],
      axes: [2, 3],
      xshape: [ci, -1, usedH, usedW],
      dysplit: [-1, block, oh, ow, co / block, block],
      dyshape: [co, -1, oh, ow],
    },
  };
}

/**
 * The KH * KW shifted, strided views of the zero-padded input that the forward pass multiplied
 * with each filter tap, as graph nodes writing `c{kh}_{kw}`, each (N, OH, OW, C).
 */
function tapViews(
  info: Info,
  int64s: Record<string, number[]>,
): { nodes: OnnxNode[]; taps: string[] } {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: oh, outWidth: ow, padInfo: p } = info;
  // Pad only as far as the windows reach (the bottom/right padding may exceed what is read).
  const bottom = Math.max(0, (oh - 1) * sh + kh - p.top - info.inHeight);
  const right = Math.max(0, (ow - 1) * sw + kw - p.left - info.inWidth);
  int64s.xpads = [0, p.top, p.left, 0, 0, bottom, right, 0];
  int64s.hw = [1, 2];
  int64s.steps = [sh, sw];
  const nodes: OnnxNode[] = [{ op: 'Pad', inputs: ['x', 'xpads'], outputs: ['xp'] }];
  const taps: string[] = [];
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const t = `c${a}_${b}`;
      int64s[`${t}s`] = [a, b];
      int64s[`${t}e`] = [a + sh * (oh - 1) + 1, b + sw * (ow - 1) + 1];
      nodes.push({ op: 'Slice', inputs: ['xp', `${t}s`, `${t}e`, 'hw', 'steps'], outputs: [t] });
      taps.push(t);
    }
  }
  return { nodes, taps };
}

/**
 * dW = im2col(x)^T dy as one GEMM: the tap views concatenated along channels are the rows of
 * im2col in (KH, KW, CI) order, so the (KH*KW*CI, CO) product is the HWIO filter as it stands.
 * The fastest form for few input channels, and for batches that are not whole NCHWc blocks.
 */
export function filterGradIm2colGraph(info: Info): OnnxGraph {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const int64s: Record<string, number[]> = {};
  const { nodes, taps } = tapViews(info, int64s);
  int64s.colshape = [-1, kh * kw * ci];
  int64s.dyshape = [-1, co];
  int64s.wshape = [kh, kw, ci, co];
  nodes.push(
    { op: 'Concat', inputs: taps, outputs: ['col'], attrs: { axis: 3 } },
    { op: 'Reshape', inputs: ['col', 'colshape'], outputs: ['col2'] },
    { op: 'Reshape', inputs: ['dy', 'dyshape'], outputs: ['dy2'] },
    { op: 'Gemm', inputs: ['col2', 'dy2'], outputs: ['g'], attrs: { transA: 1 } },
    { op: 'Reshape', inputs: ['g', 'wshape'], outputs: ['dw'] },
  );
  return {
    inputs: [
      { name: 'x', shape: ['n', info.inHeight, info.inWidth, ci] },
      { name: 'dy', shape: ['n', info.outHeight, info.outWidth, co] },
    ],
    outputs: [{ name: 'dw', shape: [kh, kw, ci, co] }],
    nodes,
    int64s,
  };
}

/** Depthwise dW[kh, kw, c] = sum over n, oh, ow of tap view (kh, kw) times dy, channel by channel. */
export function depthwiseFilterGradGraph(info: Info): OnnxGraph {
  const { filterHeight: kh, filterWidth: kw, inChannels: c } = info;
  const int64s: Record<string, number[]> = {};
  const { nodes, taps } = tapViews(info, int64s);
  int64s.nhw = [0, 1, 2];
  int64s.wshape = [kh, kw, c, 1];
  const sums = taps.map((t) => `${t}_sum`);
  taps.forEach((t, i) => {
    nodes.push({ op: 'Mul', inputs: [t, 'dy'], outputs: [`${t}_dy`] });
    nodes.push({
      op: 'ReduceSum',
      inputs: [`${t}_dy`, 'nhw'],
      outputs: [sums[i]],
      attrs: { keepdims: 0 },
    });
  });
  nodes.push(
    { op: 'Concat', inputs: sums, outputs: ['all'], attrs: { axis: 0 } },
    { op: 'Reshape', inputs: ['all', 'wshape'], outputs: ['dw'] },
  );
  return {
    inputs: [
      { name: 'x', shape: ['n', info.inHeight, info.inWidth, c] },
      { name: 'dy', shape: ['n', info.outHeight, info.outWidth, c] },
    ],
    outputs: [{ name: 'dw', shape: [kh, kw, c, 1] }],
    nodes,
    int64s,
  };
}

/** A 1x1, stride-1, unpadded convolution's dW is one GEMM: x^T dy over all pixels. */
export function pointwiseFilterGradGraph(info: Info): OnnxGraph | null {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const p = info.padInfo;
  if (kh !== 1 || kw !== 1 || info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  if (p.top || p.left || p.bottom || p.right) return null;
  return {
    inputs: [
      { name: 'x', shape: ['n', info.inHeight, info.inWidth, ci] },
      { name: 'dy', shape: ['n', info.outHeight, info.outWidth, co] },
    ],
    outputs: [{ name: 'dw', shape: [1, 1, ci, co] }],
    nodes: [
      { op: 'Reshape', inputs: ['x', 'xshape'], outputs: ['x2'] },
      { op: 'Reshape', inputs: ['dy', 'dyshape'], outputs: ['dy2'] },
      { op: 'Gemm', inputs: ['x2', 'dy2'], outputs: ['g'], attrs: { transA: 1 } },
      { op: 'Reshape', inputs: ['g', 'wshape'], outputs: ['dw'] },
    ],
    int64s: { xshape: [-1, ci], dyshape: [-1, co], wshape: [1, 1, ci, co] },
  };
}

/**
 * Depthwise dW as one grouped NCHWc convolution with a group per (image, channel): reordering
 * NHWC x and dy into channel blocks lays them out as [1, N*C] images and [N*C, 1] filters
 * already, so the convolution gives every image's contribution and a sum over N finishes.
 */
export function nchwcDepthwiseFilterGradGraph(info: Info, block: number): OnnxGraph | null {
  const { filterHeight: kh, filterWidth: kw } = info;
  const { inChannels: c, outHeight: oh, outWidth: ow } = info;
  if (block === 0 || c % block !== 0 || info.outChannels !== c) return null;
  const { usedH, usedW } = gradientWindow(info);
  return {
    inputs: [
      { name: 'x', shape: [info.batchSize, info.inHeight, info.inWidth, c] },
      { name: 'dy', shape: [info.batchSize, oh, ow, c] },
    ],
    outputs: [{ name: 'dw', shape: [kh, kw, c, 1] }],
    nodes: [
      { op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['xs'] },
      {
        op: 'ReorderInput',
        domain: NCHWC,
        inputs: ['xs'],
        outputs: ['xb'],
        attrs: { channels_last: 1 },
      },
      { op: 'Reshape', inputs: ['xb', 'ximage'], outputs: ['xc'] },
      {
        op: 'ReorderInput',
        domain: NCHWC,
        inputs: ['dy'],
        outputs: ['dyb'],
        attrs: { channels_last: 1 },
      },
      { op: 'Reshape', inputs: ['dyb', 'dyfilter'], outputs: ['dyc'] },
      dyAsFilterConv(info, 'g', info.batchSize * c),
      // (1, N*C/B, KH, KW, B) -> (N, C/B, KH, KW, B), summed over N -> (KH, KW, C/B, B)
      { op: 'Reshape', inputs: ['g', 'gsplit'], outputs: ['g5'] },
      { op: 'ReduceSum', inputs: ['g5', 'axis0'], outputs: ['gs'], attrs: { keepdims: 0 } },
      { op: 'Transpose', inputs: ['gs'], outputs: ['gt'], attrs: { perm: [1, 2, 0, 3] } },
      { op: 'Reshape', inputs: ['gt', 'wshape'], outputs: ['dw'] },
    ],
    int64s: {
      starts: [0, 0],
      ends: [usedH, usedW],
      axes: [1, 2],
      ximage: [1, -1, usedH, usedW],
      dyfilter: [-1, 1, oh, ow],
      gsplit: [-1, c / block, kh, kw, block],
      axis0: [0],
      wshape: [kh, kw, c, 1],
    },
  };
}

function isPointwise(info: Info): boolean {
  const p = info.padInfo;
  return (
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    !(p.top || p.left || p.bottom || p.right)
  );
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

/**
 * The input gradient of a 1x1 convolution: dy times the filter transposed, one GEMM. With a
 * stride it lands on every stride-th pixel and the rest is zero: padding each pixel with
 * (stride - 1) zeros after it lays that out (ConvTranspose took 14 ms for [128, 14, 14, 64] ->
 * 28x28x32).
 */
export function pointwiseInputGradGraph(info: Info): OnnxGraph | null {
  const { strideHeight: sh, strideWidth: sw, inChannels: ci, outChannels: co } = info;
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const p = info.padInfo;
  if (info.filterHeight !== 1 || info.filterWidth !== 1 || p.top || p.left) return null;
  const nodes: OnnxNode[] = [
    { op: 'Reshape', inputs: ['dy', 'dyshape'], outputs: ['dy2'] },
    { op: 'Reshape', inputs: ['w', 'wshape'], outputs: ['w2'] },
    { op: 'Gemm', inputs: ['dy2', 'w2'], outputs: ['g'], attrs: { transB: 1 } },
  ];
  const int64s: Record<string, number[]> = { dyshape: [-1, co], wshape: [ci, co] };
  if (oh * sh === h && ow * sw === w && sh === 1 && sw === 1) {
    nodes.push({ op: 'Reshape', inputs: ['g', 'xshape'], outputs: ['dx'] });
    int64s.xshape = [-1, h, w, ci];
  } else {
    nodes.push(
      { op: 'Reshape', inputs: ['g', 'g6shape'], outputs: ['g6'] },
      { op: 'Pad', inputs: ['g6', 'pads'], outputs: ['g6p'] }, // (N, OH, SH, OW, SW, CI)
      { op: 'Reshape', inputs: ['g6p', 'gridshape'], outputs: ['grid'] },
      { op: 'Slice', inputs: ['grid', 'starts', 'ends', 'axes'], outputs: ['dx'] },
    );
    Object.assign(int64s, {
      g6shape: [-1, oh, 1, ow, 1, ci],
      pads: [0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1, 0],
      gridshape: [-1, oh * sh, ow * sw, ci],
      starts: [0, 0],
      ends: [h, w],
      axes: [1, 2],
    });
  }
  return {
    inputs: [
      { name: 'dy', shape: ['n', oh, ow, co] },
      { name: 'w', shape: [1, 1, ci, co] },
    ],
    outputs: [{ name: 'dx', shape: ['n', h, w, ci] }],
    nodes,
    int64s,
  };
}

/** Renames a graph's internal names with a prefix and binds its inputs and output. */
function inline(
  g: OnnxGraph,
  prefix: string,
  bind: Record<string, string>,
): Partial<OnnxGraph> & { nodes: OnnxNode[] } {
  const name = (n: string) => bind[n] ?? `${prefix}${n}`;
  const rename = <T>(r: Record<string, T> | undefined) =>
    Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [name(k), v]));
  return {
    nodes: g.nodes.map((n) => ({ ...n, inputs: n.inputs.map(name), outputs: n.outputs.map(name) })),
    int64s: rename(g.int64s),
    floats: rename(g.floats),
  };
}

/**
 * dx of a strided convolution as one graph: the input positions of each phase (rows r, r + s,
 * ...) are a stride-1 NCHWc convolution of a window of dy with the flipped taps of the filter
 * that reach them (kh = tap, tap + s, ...); the phases are then interleaved. Null where a phase
 * gets no taps or the channels do not fit the blocks.
 */
export function nchwcStridedInputGradGraph(
  info: Info,
  depthwise: boolean,
  block: number,
): OnnxGraph | null {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { inChannels: ci, outChannels: co, inHeight: h, inWidth: w } = info;
  if (block === 0 || (sh === 1 && sw === 1)) return null;
  const nh = Math.ceil(h / sh);
  const nw = Math.ceil(w / sw);
  const nodes: OnnxNode[] = [];
  const int64s: Record<string, number[]> = {};
  const floats: Record<string, number> = {};
  const rows: string[] = [];
  for (let rh = 0; rh < sh; rh++) {
    const cols: string[] = [];
    const ph = axisPhase(rh, sh, kh, info.padInfo.top, info.outHeight, h);
    for (let rw = 0; rw < sw; rw++) {
      const pw = axisPhase(rw, sw, kw, info.padInfo.left, info.outWidth, w);
      if (!ph.count || !pw.count || !ph.rows.size || !pw.rows.size) return null;
      const p = `p${rh}_${rw}_`;
      const phase = {
        ...info,
        inHeight: ph.rows.size,
        inWidth: pw.rows.size,
        inChannels: co,
        outHeight: nh,
        outWidth: nw,
        outChannels: ci,
        filterHeight: ph.count,
        filterWidth: pw.count,
        strideHeight: 1,
        strideWidth: 1,
        padInfo: {
          top: ph.rows.padBefore,
          left: pw.rows.padBefore,
          bottom: ph.rows.padAfter,
          right: pw.rows.padAfter,
          type: 'EXPLICIT',
        },
      } as Info;
      const g = nchwcConvGraph(phase, depthwise, false, 'linear', block);
      if (!g) return null;
      // this phase's taps of w, flipped, with in/out swapped; and its window of dy
      Object.assign(int64s, {
        [`${p}ts`]: [ph.tap, pw.tap],
        [`${p}te`]: [kh, kw],
        [`${p}ds`]: [ph.rows.begin, pw.rows.begin],
        [`${p}de`]: [ph.rows.begin + ph.rows.size, pw.rows.begin + pw.rows.size],
      });
      nodes.push(
        { op: 'Slice', inputs: ['w', `${p}ts`, `${p}te`, 'hw01', 'steps'], outputs: [`${p}wt`] },
        {
          op: 'Slice',
          inputs: [`${p}wt`, 'fstart', 'fend', 'hw01', 'fstep'],
          outputs: [`${p}wfl`],
        },
        depthwise
          ? { op: 'Identity', inputs: [`${p}wfl`], outputs: [`${p}wf`] }
          : {
              op: 'Transpose',
              inputs: [`${p}wfl`],
              outputs: [`${p}wf`],
              attrs: { perm: [0, 1, 3, 2] },
            },
        { op: 'Slice', inputs: ['dy', `${p}ds`, `${p}de`, 'hw12'], outputs: [`${p}dy`] },
      );
      const body = inline(g, p, { x: `${p}dy`, w: `${p}wf`, y: `${p}out` });
      nodes.push(...body.nodes);
      Object.assign(int64s, body.int64s);
      Object.assign(floats, body.floats);
      nodes.push({ op: 'Reshape', inputs: [`${p}out`, 'phase6'], outputs: [`${p}o6`] });
      cols.push(`${p}o6`);
    }
    nodes.push({ op: 'Concat', inputs: cols, outputs: [`row${rh}`], attrs: { axis: 4 } });
    rows.push(`row${rh}`);
  }
  nodes.push(
    { op: 'Concat', inputs: rows, outputs: ['grid6'], attrs: { axis: 2 } }, // (N, nh, SH, nw, SW, CI)
    { op: 'Reshape', inputs: ['grid6', 'gridshape'], outputs: ['grid'] },
    { op: 'Slice', inputs: ['grid', 'zero2', 'hwend', 'hw12'], outputs: ['dx'] },
  );
  Object.assign(int64s, {
    hw01: [0, 1],
    hw12: [1, 2],
    steps: [sh, sw],
    fstart: [-1, -1],
    fend: [-(2 ** 62), -(2 ** 62)],
    fstep: [-1, -1],
    phase6: [-1, nh, 1, nw, 1, ci],
    gridshape: [-1, nh * sh, nw * sw, ci],
    zero2: [0, 0],
    hwend: [h, w],
  });
  return {
    inputs: [
      { name: 'dy', shape: ['n', info.outHeight, info.outWidth, co] },
      { name: 'w', shape: filterShape(info, depthwise) },
    ],
    outputs: [{ name: 'dx', shape: ['n', h, w, ci] }],
    nodes,
    int64s,
    floats,
  };
}
