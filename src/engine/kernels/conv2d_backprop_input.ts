/**
 * Conv2DBackpropInput for wasm: stock wasm's is a scalar loop (~410-520 ms per cnn-small layer,
 * design.md §4); this one is a few XNNPACK convolutions (see transposed_conv.ts).
 */
import { tf } from '../tf.js';
import { transposedConv } from './transposed_conv.js';
import { asTensor, convGeometry } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

function conv2dBackpropInput({ inputs, attrs }: KernelArgs): tf.Tensor {
  const inputShape = (attrs as { inputShape: number[] }).inputShape;
  const info = convGeometry(inputShape, inputs.filter.shape, attrs, false);
  return tf.tidy(() => {
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, CO)
    const filter = asTensor<tf.Rank.R4>(inputs.filter); // (KH, KW, CI, CO)
    return transposedConv(
      dy,
      filter,
      info,
      (x, taps, pad) => tf.conv2d(x, taps, 1, pad),
      // The correlation runs from CO back to CI: swap the filter's channel axes.
      (flipped) => tf.transpose(flipped, [0, 1, 3, 2]),
    );
  });
}

export const conv2dBackpropInputKernel = projectKernel(tf.Conv2DBackpropInput, conv2dBackpropInput);
