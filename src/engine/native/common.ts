/**
 * Pieces shared by the native convolution graphs (forward.ts, input_grad.ts, filter_grad.ts):
 * the wasm backend's tensors are NHWC with HWIO filters, ONNX is NCHW with OIHW filters, so
 * graphs transpose at their edges (onnxruntime does it with its threads), or use onnxruntime's
 * blocked NCHWc kernels, which read NHWC directly.
 */
import { tf } from '../tf.js';
import type { OnnxGraph, OnnxNode } from './onnx_graph.js';

export type Info = tf.backend_util.Conv2DInfo;

export const TO_NCHW = [0, 3, 1, 2];

export const TO_NHWC = [0, 2, 3, 1];

export const NCHWC = 'com.microsoft.nchwc';

export function pads(info: Info): number[] {
  const p = info.padInfo;
  return [p.top, p.left, p.bottom, p.right];
}

/** ONNX filter layout from HWIO, or for depthwise from [KH, KW, C, M]. */
export function filterNodes(
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

export function filterShape(info: Info, depthwise: boolean): number[] {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  return depthwise ? [kh, kw, ci, co / ci] : [kh, kw, ci, co];
}

export function isPointwise(info: Info): boolean {
  const p = info.padInfo;
  return (
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    !(p.top || p.left || p.bottom || p.right)
  );
}

/** Renames a graph's internal names with a prefix and binds its inputs and output. */
export function inline(
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
