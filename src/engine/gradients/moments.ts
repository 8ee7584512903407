/**
 * tf.moments with its gradient written out. BatchNormalization layers in training call
 * tfc.moments(x, axes) (tfjs-layers, normalizeBatchInTraining); autodiff through its mean,
 * subtract, square and mean makes about eleven full passes over the activations per layer
 * (a ones tensor, a multiply and a divide per mean, two multiplies for the square, ...). With
 * mean m and variance v over N values per channel, and upstream gradients dm and dv:
 *   dx = dm / N + dv * 2 (x - m) / N = x * a + b,   a = 2 dv / N,   b = dm / N - a m
 * which is two broadcast passes. The forward pass is three (mean, squared difference, mean).
 *
 * tfjs-layers reads `moments` off tfjs-core's CommonJS exports at call time, so replacing it
 * there is what reaches the layers; the ES-module view our own code imports is unaffected.
 */
import { createRequire } from 'node:module';
import { tf } from '../tf.js';
import { channelAffine, channelMoments } from '../simd/ops.js';
import { nestedGradients, recordingGradients } from '../kernels/util.js';

type Moments = typeof tf.moments;

const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { moments: Moments };
const original: Moments = core.moments;

/** Per-channel statistics fastMoments made, keyed by their mean: see batch_norm_training.ts. */
const momentsOf = new WeakMap<tf.Tensor, { x: tf.Tensor; data: object; variance: tf.Tensor }>();

function fastMoments(
  x: tf.Tensor | tf.TensorLike,
  axis?: number | number[],
  keepDims = false,
): { mean: tf.Tensor; variance: tf.Tensor } {
  if (!(x instanceof tf.Tensor) || x.dtype !== 'float32' || nestedGradients()) {
    return original(x, axis, keepDims);
  }
  const axes = tf.util.parseAxisParam(axis ?? x.shape.map((_, i) => i), x.shape);
  const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
  const n = tf.util.sizeFromShape(reduceShape);
  const allButLast = axes.length === x.rank - 1 && axes.every((a) => a !== x.rank - 1);
  const stats = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    // Over every axis but the last, on wasm: one SIMD read of x (simd/ops.ts).
    const fast = allButLast ? channelMoments(t) : null;
    const mean = fast ? tf.tensor(fast.mean, kept) : tf.mean(t, axes, true);
    const variance = fast
      ? tf.tensor(fast.variance, kept)
      : tf.mean(tf.squaredDifference(t, mean), axes, true);
    save([t, mean]);
    return {
      value: tf.stack([mean, variance]), // (2, ...x's shape with the reduced axes kept as 1)
      gradFunc: (dy: tf.Tensor, [t, mean]: tf.Tensor[]) => {
        const [dm, dv] = tf.unstack(dy);
        const a = tf.mul(dv, tf.scalar(2 / n));
        const b = tf.sub(tf.mul(dm, tf.scalar(1 / n)), tf.mul(a, mean));
        const fast = recordingGradients() ? null : channelAffine(tf.backend(), t, a, b);
        return fast ?? tf.add(tf.mul(t, a), b);
      },
    };
  })(x);
  const [mean, variance] = tf.unstack(stats);
  stats.dispose();
  let out = { mean, variance };
  if (!keepDims) {
    out = { mean: tf.reshape(mean, outShape), variance: tf.reshape(variance, outShape) };
    tf.dispose([mean, variance]);
  }
  if (allButLast) momentsOf.set(out.mean, { x, data: x.dataId, variance: out.variance });
  return out;
}

/**
 * Whether `mean` and `variance` are what fastMoments returned for `x` over every axis but the
 * last, with x's data unchanged since (a Variable may be assigned): per-channel batch statistics
 * of x itself, so that a batch norm of x by them depends on x through them too.
 */
export function areChannelMomentsOf(x: tf.Tensor, mean: unknown, variance: unknown): boolean {
  const m = mean instanceof tf.Tensor ? momentsOf.get(mean) : undefined;
  return m !== undefined && m.x === x && m.data === x.dataId && m.variance === variance;
}

/** Puts fastMoments in tfjs-core's exports (true), or tfjs's own back (false). */
export function useFastMoments(on: boolean): void {
  core.moments = on ? (fastMoments as Moments) : original;
}

export { fastMoments };
