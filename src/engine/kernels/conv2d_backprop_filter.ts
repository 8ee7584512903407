/**
 * Conv2DBackpropFilter, missing from wasm. dW[kh, kw, ci, co] sums x[n, oh*s + kh, ow*s + kw, ci]
 * * dy[n, oh, ow, co] over n, oh, ow. Two formulations, both on XNNPACK:
 *  - as a convolution: input channels become the batch and the batch becomes the channels,
 *    x -> [CI, H, W, N], dy -> the filter [OH, OW, N, CO], dilation = stride; then transpose
 *    the [CI, KH, KW, CO] result back;
 *  - as im2col: the KH*KW strided views of x stacked into [KH*KW*CI, N*OH*OW], times dy as
 *    [N*OH*OW, CO]. Faster when CI is tiny (a first layer on grey images): the convolution
 *    route then has a batch of 1-4 and little to spread over threads.
 */
import { tf } from '../tf.js';
import { asTensor, axisWindow, convGeometry, explicitPad } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

// Measured on cnn-small/resnet-mini shapes (bench/kernels.ts): im2col wins up to this many input channels.
export const IM2COL_MAX_CHANNELS = 4;

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

export function filterGradByIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, info: Info): tf.Tensor4D {
  const { h, w } = windows(info);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const [n, , , ci] = x.shape;
  const { outHeight: oh, outWidth: ow, outChannels: co } = info;
  const xs = tf.slice(x, [0, h.begin, w.begin, 0], [n, h.size, w.size, ci]);
  const xp = tf.pad(xs, explicitPad(h, w)); // (N, (OH-1)*s+KH, (OW-1)*s+KW, CI)
  const views: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const end = [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci];
      views.push(tf.stridedSlice(xp, [0, i, j, 0], end, [1, sh, sw, 1])); // (N, OH, OW, CI)
    }
  }
  let cols = tf.stack(views); // (KH*KW, N, OH, OW, CI)
  if (ci > 1) cols = tf.transpose(cols, [0, 4, 1, 2, 3]); // (KH*KW, CI, N, OH, OW)
  const m = n * oh * ow;
  const dW = tf.matMul(tf.reshape(cols, [kh * kw * ci, m]), tf.reshape(dy, [m, co]));
  return tf.reshape(dW, [kh, kw, ci, co]);
}

function conv2dBackpropFilter({ inputs, attrs }: KernelArgs): tf.Tensor {
  const filterShape = (attrs as { filterShape: number[] }).filterShape;
  const info = convGeometry(inputs.x.shape, filterShape, attrs, false);
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.x); // (N, H, W, CI)
    const dy = asTensor<tf.Rank.R4>(inputs.dy); // (N, OH, OW, CO)
    return info.inChannels <= IM2COL_MAX_CHANNELS
      ? filterGradByIm2col(x, dy, info)
      : filterGradByConv(x, dy, info);
  });
}

export const conv2dBackpropFilterKernel = projectKernel(
  tf.Conv2DBackpropFilter,
  conv2dBackpropFilter,
);
