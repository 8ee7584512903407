/**
 * tf.fused.conv2d whose gradient computes only what backpropagation asks for. tfjs's own wraps
 * the kernel in customGrad, which computes the input gradient, the filter gradient and the
 * bias gradient together; tfjs-layers' Conv2D calls it for every convolution, so a net's first
 * convolution computes the gradient of the images, which nothing reads (batch 128: 6-9 ms a
 * step). Here the FusedConv2D kernel runs with a registered gradient instead: one thunk per
 * input, and tfjs calls only those of inputs that lead back to a trained weight.
 *
 * Covered: NHWC, rank 4, linear or ReLU, with or without bias; everything else goes to tfjs's
 * own. tfjs-layers reads `fused` off tfjs-core's CommonJS exports at call time (as moments.ts
 * explains), so that is where the replacement goes.
 */
import { createRequire } from 'node:module';
import { tf } from '../tf.js';
import { simdMaskGrad } from './mask_grad.js';

type FusedConv2d = typeof tf.fused.conv2d;
type Args = Parameters<FusedConv2d>[0];

const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as {
  fused: { conv2d: FusedConv2d };
};
const original: FusedConv2d = core.fused.conv2d;

function fusedConv2d(args: Args): tf.Tensor4D {
  const { x, filter, bias, activation = 'linear', dataFormat = 'NHWC' } = args;
  const plain =
    x instanceof tf.Tensor &&
    filter instanceof tf.Tensor &&
    (bias == null || (bias instanceof tf.Tensor && bias.rank === 1)) &&
    x.rank === 4 &&
    x.dtype === 'float32' &&
    dataFormat === 'NHWC' &&
    (activation === 'linear' || activation === 'relu') &&
    args.preluActivationWeights == null;
  if (!plain) return original(args) as tf.Tensor4D;
  const inputs: Record<string, tf.Tensor> = { x, filter };
  if (bias) inputs.bias = bias as tf.Tensor; // tfjs-layers passes null for none
  const attrs = {
    strides: args.strides,
    pad: args.pad,
    dataFormat,
    dilations: args.dilations ?? [1, 1],
    dimRoundingMode: args.dimRoundingMode,
    activation,
  };
  return tf.engine().runKernel(tf.FusedConv2D, inputs, attrs as never) as tf.Tensor4D;
}

/** Gradients of FusedConv2D run as above: each input's gradient computed only if needed. */
export const fusedConv2dGrad: tf.GradConfig = {
  kernelName: tf.FusedConv2D,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dilations, dimRoundingMode, activation } = attrs as {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number;
      dilations: [number, number] | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      activation: 'linear' | 'relu';
    };
    if (!tf.backend_util.tupleValuesAreOne(dilations)) {
      throw new Error('gradients of dilated fused convolutions are not supported');
    }
    // Through ReLU: y > 0 exactly where the convolution's output was.
    let g = dy as tf.Tensor4D;
    if (activation === 'relu') {
      g = (simdMaskGrad(y, g, { kind: 'relu' }) ??
        tf.mul(g, tf.cast(tf.step(y), 'float32'))) as tf.Tensor4D;
    }
    const common = {
      strides,
      pad,
      dataFormat: 'NHWC',
      dimRoundingMode,
    } as never as tf.NamedAttrMap;
    return {
      x: () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropInput,
          { dy: g, filter },
          {
            ...common,
            inputShape: x.shape,
          },
        ) as tf.Tensor,
      filter: () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropFilter,
          { x, dy: g },
          {
            ...common,
            filterShape: filter.shape,
          },
        ) as tf.Tensor,
      bias: () => tf.sum(g, [0, 1, 2]),
    };
  },
};

/** Puts fusedConv2d in tfjs-core's exports (true), or tfjs's own back (false). */
export function useFusedConvGradient(on: boolean): void {
  core.fused.conv2d = on ? (fusedConv2d as FusedConv2d) : original;
}

export { fusedConv2d };
