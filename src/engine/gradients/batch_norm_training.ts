/**
 * Batch norm in training as one operation with one gradient. A BatchNormalization layer in
 * training normalises x by its own batch statistics (tfjs-layers, normalizeBatchInTraining:
 * tfc.moments, then tfc.batchNorm4d), so autodiff reaches x twice, through the normalisation and
 * through the statistics, and adds the two: three full passes (dy * k, the statistics' affine
 * gradient, their sum) after the sums. Written as one, with N values per channel,
 * rstd = 1 / sqrt(var + eps), k = scale * rstd and the sums S1 = sum(dy), S2 = sum(dy (x - mean)):
 *   y = x * k + (offset - mean * k)
 *   dx = dy * k + x * a + b,   a = -k rstd^2 S2 / N,   b = -k S1 / N - a * mean
 *   dscale = rstd * S2,        doffset = S1
 * which is one pass for the sums (simd/channel_sums.ts) and one for dx (channelAffine2).
 *
 * It applies only where the statistics are the ones fastMoments computed from this very x
 * (areChannelMomentsOf); any other batchNorm call (population statistics in inference, frozen
 * statistics, statistics of another tensor) runs tfjs's own. tfjs-layers reads batchNorm2d/3d/4d
 * off tfjs-core's CommonJS exports at call time, as it does moments (moments.ts).
 */
import { createRequire } from 'node:module';
import { tf } from '../tf.js';
import { channelAffine, channelAffine2, channelSums } from '../simd/ops.js';
import { nestedGradients } from '../kernels/util.js';
import { areChannelMomentsOf } from './moments.js';

type BatchNormOp = (
  x: tf.Tensor | tf.TensorLike,
  mean: tf.Tensor | tf.TensorLike,
  variance: tf.Tensor | tf.TensorLike,
  offset?: tf.Tensor | tf.TensorLike,
  scale?: tf.Tensor | tf.TensorLike,
  varianceEpsilon?: number,
) => tf.Tensor;

const NAMES = ['batchNorm2d', 'batchNorm3d', 'batchNorm4d'] as const;
const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as Record<
  (typeof NAMES)[number],
  BatchNormOp
>;
const originals = Object.fromEntries(NAMES.map((n) => [n, core[n]])) as Record<
  (typeof NAMES)[number],
  BatchNormOp
>;

/** One value per channel of x's last axis. */
function perChannel(t: unknown, channels: number): t is tf.Tensor {
  return t instanceof tf.Tensor && t.dtype === 'float32' && t.rank === 1 && t.shape[0] === channels;
}

/** Batch norm of x by its own batch statistics, with the gradient of the module comment. */
function batchNormTraining(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  offset: tf.Tensor,
  scale: tf.Tensor,
  eps: number,
): tf.Tensor {
  const n = x.size / mean.size;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, s, o] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [rstd, k, c] = tf.tidy(() => {
      const rstd = tf.rsqrt(tf.add(variance, tf.scalar(eps))); // (C)
      const k = tf.mul(s, rstd);
      return [rstd, k, tf.sub(o, tf.mul(mean, k))];
    });
    const y = channelAffine(tf.backend(), t, k, c) ?? tf.tidy(() => tf.add(tf.mul(t, k), c));
    save([t, mean, rstd, k]); // kept as clones by the tape
    tf.dispose([rstd, k, c]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [t, m, rstd, k]: tf.Tensor[]) => {
        const axes = t.shape.slice(0, -1).map((_, i) => i);
        const sums = channelSums(dy, t, m);
        const s1 = sums?.sumG ?? tf.sum(dy, axes);
        const s2 = sums?.sumGXc ?? tf.sum(tf.mul(dy, tf.sub(t, m)), axes);
        const a = tf.mul(tf.mul(k, tf.square(rstd)), tf.mul(s2, tf.scalar(-1 / n)));
        const b = tf.sub(tf.mul(k, tf.mul(s1, tf.scalar(-1 / n))), tf.mul(a, m));
        const dx =
          channelAffine2(tf.backend(), dy, t, k, a, b) ??
          tf.add(tf.add(tf.mul(dy, k), tf.mul(t, a)), b);
        return [dx, tf.mul(rstd, s2), s1];
      },
    };
  });
  return op(x, scale, offset);
}

function fused(name: (typeof NAMES)[number], rank: number): BatchNormOp {
  const original = originals[name];
  return (x, mean, variance, offset, scale, varianceEpsilon = 0.001) => {
    const channels = x instanceof tf.Tensor ? x.shape[x.rank - 1] : -1;
    // tfjs's own for anything else, including its errors (a rank-4 x to batchNorm2d), and for
    // a gradient of a gradient, which the hand-written gradient does not carry.
    const applies =
      x instanceof tf.Tensor &&
      x.rank === rank &&
      x.dtype === 'float32' &&
      !nestedGradients() &&
      areChannelMomentsOf(x, mean, variance) &&
      perChannel(mean, channels) &&
      perChannel(offset, channels) &&
      perChannel(scale, channels);
    if (!applies) return original(x, mean, variance, offset, scale, varianceEpsilon);
    return batchNormTraining(
      x as tf.Tensor,
      mean as tf.Tensor,
      variance as tf.Tensor,
      offset as tf.Tensor,
      scale as tf.Tensor,
      varianceEpsilon,
    );
  };
}

const replacements = Object.fromEntries(NAMES.map((n, i) => [n, fused(n, i + 2)])) as Record<
  (typeof NAMES)[number],
  BatchNormOp
>;

/** Puts the fused training batch norm in tfjs-core's exports (true), or tfjs's own back. */
export function useFusedBatchNorm(on: boolean): void {
  for (const name of NAMES) core[name] = on ? replacements[name] : originals[name];
}
