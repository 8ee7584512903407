/**
 * Conv2DBackpropFilter, missing from wasm. dW[kh, kw, ci, co] sums x[n, oh*s + kh, ow*s + kw, ci]
 * * dy[n, oh, ow, co] over n, oh, ow. As one XNNPACK convolution: input channels become the
 * batch and the batch becomes the channels, x -> [CI, H, W, N], dy -> the filter
 * [OH, OW, N, CO], dilation = stride; the [CI, KH, KW, CO] result is transposed back.
 * A 1x1 stride-1 filter is a plain matmul instead (2-4x faster here).
 *
 * Measured and dropped: im2col (KH*KW shifted views of x stacked, then one matmul) was 2-10x
 * slower for every shape of the reference nets, single-channel inputs included, because
 * building the views costs more than the convolution saves.
 */
import { tf } from '../tf.js';
import { asTensor, axisWindow, convGeometry, explicitPad } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

type Info = tf.backend_util.Conv2DInfo;

/** The rows of x the forward pass read, padded: (OH - 1) * s + KH of them from -padTop. */
function windows(info: Info) {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  return {
    h: axisWindow(-info.padInfo.top, (info.outHeight - 1) * sh + kh, info.inHeight),
    w: axisWindow(-info.padInfo.left, (info.outWidth - 1) * sw + kw, info.inWidth),
  };
}

export function filterGradByConv(x: tf.Tensor4D, dy: tf.Tensor4D, info: Info): tf.Tensor4D {
  const { h, w } = windows(info);
  const xs = tf.slice(x, [0, h.begin, w.begin, 0], [x.shape[0], h.size, w.size, x.shape[3]]);
  const xT = tf.transpose(xs, [3, 1, 2, 0]); // (CI, H', W', N)
  const dyT = tf.transpose(dy, [1, 2, 0, 3]); // (OH, OW, N, CO)
  const dilation: [number, number] = [info.strideHeight, info.strideWidth];
  const out = tf.conv2d(xT, dyT, 1, explicitPad(h, w), 'NHWC', dilation); // (CI, KH, KW, CO)
  return tf.transpose(out, [1, 2, 0, 3]);
}

/** A 1x1 stride-1 convolution is a matmul, and so is its filter gradient: x^T dy. */
export function filterGradByMatMul(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, ci] = x.shape;
  const co = dy.shape[3];
  const xT = tf.transpose(tf.reshape(x, [n * h * w, ci])); // (CI, N*H*W): stock's transposeA is slow
  return tf.reshape(tf.matMul(xT, tf.reshape(dy, [n * h * w, co])), [1, 1, ci, co]);
}

function conv2dBackpropFilter({ inputs, attrs }: KernelArgs): tf.Tensor {
  const filterShape = (attrs as { filterShape: number[] }).filterShape;
  const info = convGeometry(inputs.x.shape, filterShape, attrs, false);
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.x); // (N, H, W, CI)
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, CO)
    const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
    const stride1 = info.strideHeight === 1 && info.strideWidth === 1;
    // (and no padding, or the output would not line up with the input pixel for pixel)
    const unpadded = info.outHeight === info.inHeight && info.outWidth === info.inWidth;
    return pointwise && stride1 && unpadded
      ? filterGradByMatMul(x, dy)
      : filterGradByConv(x, dy, info);
  });
}

export const conv2dBackpropFilterKernel = projectKernel(
  tf.Conv2DBackpropFilter,
  conv2dBackpropFilter,
);
