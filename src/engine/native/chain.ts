/**
 * Convolutions applied one after another as one native NCHWc graph (forward.ts,
 * nchwcChainGraph): the kernel inference runs for a chain of folded convolutions
 * (../inference.ts), registered only with native kernels on.
 */
import { tf } from '../tf.js';
import { convGeometry } from '../kernels/util.js';
import type { KernelArgs } from '../kernels/types.js';
import type { Activation } from './common.js';
import { nchwcChainGraph, type ConvLink } from './forward.js';
import { runGraph } from './run.js';
import { nchwcBlockSize } from './session.js';

/** The name of the chained-convolution kernel (registered only with native kernels on). */
export const CONV_CHAIN = 'MealConvChain';

/** One convolution of a chain as the inference code describes it (JSON in the kernel's attrs). */
export interface ChainLinkSpec {
  depthwise: boolean;
  strides: [number, number];
  pad: 'same' | 'valid';
  dilations: [number, number];
  bias: boolean;
  activation: Activation;
}

/**
 * Convolutions applied one after another (inputs x, w0, b0, w1, ...; attrs.links is the JSON
 * of ChainLinkSpec[]) as one native graph. Throws when the chain does not fit the NCHWc
 * blocks: callers check `chainFits` first.
 */
export function convChain(args: KernelArgs): tf.TensorInfo {
  const { inputs, attrs, backend } = args;
  const links = chainLinks(
    inputs.x.shape,
    JSON.parse(attrs.links as string),
    (i) => inputs[`w${i}`].shape,
  );
  const graph = nchwcChainGraph(links, nchwcBlockSize());
  if (!graph) throw new Error('these convolutions do not fit one NCHWc chain');
  const ins = [inputs.x];
  links.forEach((l, i) =>
    ins.push(...(l.bias ? [inputs[`w${i}`], inputs[`b${i}`]] : [inputs[`w${i}`]])),
  );
  const out = links[links.length - 1].info;
  return runGraph(
    graph,
    ins,
    [out.batchSize, out.outHeight, out.outWidth, out.outChannels],
    backend,
  );
}

function chainLinks(
  xShape: number[],
  specs: ChainLinkSpec[],
  filterShapeOf: (i: number) => number[],
): ConvLink[] {
  let shape = xShape;
  return specs.map((spec, i) => {
    const info = convGeometry(shape, filterShapeOf(i), spec as never, spec.depthwise, true);
    shape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
    return { info, depthwise: spec.depthwise, bias: spec.bias, act: spec.activation };
  });
}

/** Whether convolutions with these filters can run as one chain on this machine. */
export function chainFits(xShape: number[], specs: ChainLinkSpec[], filterShapes: number[][]) {
  const block = nchwcBlockSize();
  if (block === 0 || specs.length < 2) return false;
  const links = chainLinks(xShape, specs, (i) => filterShapes[i]);
  if (links.some((l) => l.depthwise && l.info.outChannels !== l.info.inChannels)) return false;
  return nchwcChainGraph(links, block) !== null;
}
