/**
 * DepthwiseConv2dNativeBackpropInput for wasm, which has none: the same phase decomposition as
 * the dense case (transposed_conv.ts), each phase a depthwise convolution. A channel multiplier
 * m > 1 sums m such gradients, one per slice of the output channels.
 */
import { tf } from '../tf.js';
import { transposedConv } from './transposed_conv.js';
import { asTensor, convGeometry } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

function depthwiseBackpropInput({ inputs, attrs }: KernelArgs): tf.Tensor {
  const inputShape = (attrs as { inputShape: number[] }).inputShape;
  const info = convGeometry(inputShape, inputs.filter.shape, attrs, true);
  return tf.tidy(() => {
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, C*m)
    const filter = asTensor<tf.Rank.R4>(inputs.filter); // (KH, KW, C, m)
    const [kh, kw, c, m] = filter.shape;
    const conv = (x: tf.Tensor4D, taps: tf.Tensor4D, pad: tf.backend_util.ExplicitPadding) =>
      tf.depthwiseConv2d(x, taps, 1, pad);
    if (m === 1) return transposedConv(dy, filter, info, conv, (f) => f);
    const [n, oh, ow] = dy.shape;
    // Output channel c*m + q comes from input channel c through filter[..., c, q].
    const parts = [];
    for (let q = 0; q < m; q++) {
      const dyQ = tf.stridedSlice(dy, [0, 0, 0, q], [n, oh, ow, c * m], [1, 1, 1, m]);
      const fQ = tf.slice(filter, [0, 0, 0, q], [kh, kw, c, 1]);
      parts.push(transposedConv(dyQ as tf.Tensor4D, fQ, info, conv, (f) => f));
    }
    return tf.addN(parts);
  });
}

export const depthwiseBackpropInputKernel = projectKernel(
  tf.DepthwiseConv2dNativeBackpropInput,
  depthwiseBackpropInput,
);
