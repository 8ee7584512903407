/**
 * ClipByValue's gradient without boolean tensors. tfjs's own (ClipByValue_grad) is
 * where(logicalAnd(x >= lo, x <= hi), dy, 0): on wasm its comparisons, LogicalAnd and Select are
 * scalar loops over bytes, ~190 ms per [128, 28, 28, 32] tensor, and every ReLU6 of
 * mobilenet-mini pays it (tfjs-layers' ReLU with maxValue is relu then clipByValue). The same
 * mask from float ops XNNPACK runs fast: x >= lo  <=>  step(lo - x) = 0, and x <= hi  <=>
 * step(x - hi) = 0 (for floats, a - b > 0 exactly when a > b); at most one of them is 1.
 * Only NaN inputs differ: their gradient is NaN here instead of 0. On wasm, one SIMD pass
 * instead (mask_grad.ts), which also gives 0 for NaN.
 */
import { tf } from '../tf.js';
import { simdMaskGrad } from './mask_grad.js';

export const clipByValueGrad: tf.GradConfig = {
  kernelName: tf.ClipByValue,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { clipValueMin: lo, clipValueMax: hi } = attrs as {
      clipValueMin: number;
      clipValueMax: number;
    };
    return {
      x: () => {
        const fast = simdMaskGrad(x, dy as tf.Tensor, { kind: 'clip', lo, hi });
        if (fast) return fast;
        const outside = tf.add(tf.step(tf.sub(lo, x)), tf.step(tf.sub(x, hi))); // 1 where clipped
        return tf.mul(dy as tf.Tensor, tf.sub(1, outside));
      },
    };
  },
};
