/**
 * Input gradients of convolutions as onnxruntime graphs: the transposed convolution, the
 * flipped-filter NCHWc convolution (stride 1), per-phase NCHWc convolutions (strides above 1)
 * and the 1x1 GEMM.
 */
import { TO_NCHW, TO_NHWC, pads, filterNodes, filterShape, inline, type Info } from './common.js';
import type { OnnxGraph, OnnxNode } from './onnx_graph.js';
import { axisPhase } from '../kernels/transposed_conv.js';
import { nchwcConvGraph } from './forward.js';

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
  if (sh === 1 && sw === 1 && oh === h && ow === w) {
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
