/**
 * FusedBatchNorm's gradient with fewer passes over the activations. tfjs's own
 * (FusedBatchNorm_grad) makes ~9 full-size elementwise tensors, a Tile of 1/sqrt(var) to the
 * activation's shape and 4 full-size reductions per layer. The same partial derivatives,
 * regrouped (k = scale / sqrt(var + eps), xc = x - mean):
 *   dx = dy * k                    dmean = -k * sum(dy)
 *   dscale = sum(dy * xc) / sqrt(var + eps)
 *   dvar = -k / (2 (var + eps)) * sum(dy * xc)        doffset = sum(dy)
 * need 3 full-size elementwise ops and 2 reductions. The flow through tf.moments into x is
 * left to autodiff, as before, so the layer's total gradient is unchanged.
 */
import { tf } from '../tf.js';
import { channelSums } from '../simd/ops.js';

export const fusedBatchNormGrad: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as { varianceEpsilon: number };
    const [x, mean, variance, scale] = saved;
    const g = dy as tf.Tensor;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor) => tf.reshape(axes.length ? tf.sum(t, axes) : t, mean.shape);

    const rstd = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon))); // mean's shape
    const k = scale == null ? rstd : tf.mul(rstd, scale);
    // Computed here, not inside the closures: tfjs disposes what each closure makes when it
    // returns, and four of them share these. (When only dx is wanted, e.g. batch norm with
    // frozen statistics, this costs one extra pass; training always wants them all.)
    // One SIMD pass for both on wasm (simd/channel_sums.ts); else a subtract, a multiply, two sums.
    const sums = channelSums(g, x, mean);
    const sumDy = sums ? tf.reshape(sums.sumG, mean.shape) : reduce(g);
    const sumDyXc = sums ? tf.reshape(sums.sumGXc, mean.shape) : reduce(tf.mul(g, tf.sub(x, mean)));

    return {
      x: () => tf.reshape(tf.mul(g, k), x.shape),
      mean: () => tf.mul(tf.neg(k), sumDy),
      variance: () => tf.mul(tf.mul(tf.mul(k, tf.square(rstd)), tf.scalar(-0.5)), sumDyXc),
      scale: () => tf.mul(rstd, sumDyXc),
      offset: () => sumDy,
    };
  },
};
