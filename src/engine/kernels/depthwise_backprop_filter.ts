/**
 * DepthwiseConv2dNativeBackpropFilter, missing from wasm. dW[kh, kw, c, q] sums
 * x[n, oh*s + kh, ow*s + kw, c] * dy[n, oh, ow, c*m + q] over n, oh, ow. Built from the
 * depthwise convolution itself: every (sample, channel) pair becomes one channel of a single
 * image, x -> [1, H, W, N*C], and dy becomes that channel's filter [OH, OW, N*C, 1], applied
 * with dilation = stride; the [1, KH, KW, N*C] result is summed over the samples.
 */
import { tf } from '../tf.js';
import { asTensor, axisWindow, convGeometry, explicitPad } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

export function depthwiseFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
): tf.Tensor {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const [n, , , c] = x.shape;
  const { outHeight: oh, outWidth: ow } = info;
  const h = axisWindow(-info.padInfo.top, (oh - 1) * sh + kh, info.inHeight);
  const w = axisWindow(-info.padInfo.left, (ow - 1) * sw + kw, info.inWidth);
  const xs = tf.slice(x, [0, h.begin, w.begin, 0], [n, h.size, w.size, c]);
  const img = tf.reshape<tf.Rank.R4>(tf.transpose(xs, [1, 2, 0, 3]), [1, h.size, w.size, n * c]);
  const taps = tf.reshape<tf.Rank.R4>(tf.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, 1]);
  const out = tf.depthwiseConv2d(img, taps, 1, explicitPad(h, w), 'NHWC', [sh, sw]);
  return tf.sum(tf.reshape(out, [kh, kw, n, c]), 2); // (KH, KW, C)
}

function depthwiseBackpropFilter({ inputs, attrs }: KernelArgs): tf.Tensor {
  const filterShape = (attrs as { filterShape: number[] }).filterShape;
  const info = convGeometry(inputs.x.shape, filterShape, attrs, true);
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.x); // (N, H, W, C)
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, C*m)
    const [kh, kw, c, m] = filterShape;
    if (m === 1) return tf.reshape(depthwiseFilterGrad(x, dy, info), filterShape);
    const [n, oh, ow] = dy.shape;
    const parts = [];
    for (let q = 0; q < m; q++) {
      // Output channel c*m + q pairs input channel c with filter[..., c, q].
      const dyQ = tf.stridedSlice(dy, [0, 0, 0, q], [n, oh, ow, c * m], [1, 1, 1, m]);
      parts.push(tf.reshape(depthwiseFilterGrad(x, dyQ as tf.Tensor4D, info), [kh, kw, c, 1]));
    }
    return tf.concat(parts, 3);
  });
}

export const depthwiseBackpropFilterKernel = projectKernel(
  tf.DepthwiseConv2dNativeBackpropFilter,
  depthwiseBackpropFilter,
);
