/**
 * Filter gradients of convolutions as onnxruntime graphs: NCHWc with the batch as channels,
 * im2col + GEMM, the 1x1 GEMM, and depthwise forms.
 */
import { NCHWC, isPointwise, type Info } from './common.js';
import type { OnnxGraph, OnnxNode } from './onnx_graph.js';

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
  if (!isPointwise(info)) return null;
  const { inChannels: ci, outChannels: co } = info;
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

/**
 * Where the tap-GEMM filter gradient reads. x and dy share one grid of rows WP wide and images
 * HP rows high, so that flattened over pixels, output pixel q meets input pixel q + offset(kh, kw)
 * with offset = kh·WP + kw. Images sit `start` pixels into x's grid (top·WP + left) and at 0 in
 * dy's. Neighbouring images and rows share their zero padding: WP = W + max(left, right) and
 * HP = H + max(top, bottom), so a window reaching off one side of an image reads the zeros left
 * of the next, and every other pair it forms has a zero dy (7x7 'same': 8x8 pixels against 9x9
 * padded one by one). The pixels are cut into `chunks` x `batch` pieces of `rows`; `length` is
 * how long x's grid must be for the last piece's last tap. Null for strided or dilated
 * convolutions, and where the output does not fit the grid (padding wider than the filter).
 */
export function tapGemmLayout(info: Info, chunks: number, batch: number) {
  const { filterHeight: kh, filterWidth: kw, padInfo: p } = info;
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { hp, wp } = tapGemmGrid(info);
  if (info.outHeight > hp || info.outWidth > wp) return null;
  const rows = Math.ceil((info.batchSize * hp * wp) / (chunks * batch));
  const offsets: number[] = [];
  for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) offsets.push(a * wp + b);
  const start = p.top * wp + p.left;
  const length = offsets[offsets.length - 1] + chunks * batch * rows;
  return { hp, wp, rows, offsets, start, length };
}

/** The tap-GEMM grid's image height and row width: images and rows share their zero padding. */
export function tapGemmGrid(info: Info): { hp: number; wp: number } {
  const p = info.padInfo;
  return {
    hp: info.inHeight + Math.max(p.top, p.bottom),
    wp: info.inWidth + Math.max(p.left, p.right),
  };
}

/**
 * dW with one GEMM per filter tap and chunk over the shifted views of tapGemmLayout, no im2col:
 * inputs dy{c} (batch, rows, CO) and x{c}_{t} (batch, rows, CI), each a window of the same two
 * padded buffers. A chunk's windows stay in cache across its taps; `batch` pieces per GEMM give
 * onnxruntime's threads their share. The sums over pieces are the HWIO filter, (KH·KW·CI, CO).
 */
export function tapGemmFilterGradGraph(info: Info, chunks: number, batch: number): OnnxGraph {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const layout = tapGemmLayout(info, chunks, batch);
  if (!layout) throw new Error('tapGemmFilterGradGraph: a strided or dilated convolution');
  const { rows } = layout;
  const inputs: OnnxGraph['inputs'] = [];
  const nodes: OnnxNode[] = [];
  const perChunk: string[] = [];
  for (let c = 0; c < chunks; c++) {
    inputs.push({ name: `dy${c}`, shape: [batch, rows, co] });
    const taps: string[] = [];
    for (let t = 0; t < kh * kw; t++) {
      inputs.push({ name: `x${c}_${t}`, shape: [batch, rows, ci] });
      nodes.push({
        op: 'FusedMatMul',
        domain: 'com.microsoft',
        inputs: [`x${c}_${t}`, `dy${c}`],
        outputs: [`g${c}_${t}`],
        attrs: { transA: 1 },
      });
      taps.push(`g${c}_${t}`);
    }
    nodes.push({ op: 'Concat', inputs: taps, outputs: [`g${c}`], attrs: { axis: 1 } });
    perChunk.push(`g${c}`);
  }
  nodes.push(
    { op: 'Concat', inputs: perChunk, outputs: ['all'], attrs: { axis: 0 } },
    { op: 'ReduceSum', inputs: ['all', 'axis0'], outputs: ['dw'], attrs: { keepdims: 0 } },
  );
  return {
    inputs,
    outputs: [{ name: 'dw', shape: [kh * kw * ci, co] }],
    nodes,
    int64s: { axis0: [0] },
  };
}
