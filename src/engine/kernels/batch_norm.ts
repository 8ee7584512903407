/**
 * FusedBatchNorm for wasm as two broadcast passes over x: y = x * k + c with k = scale /
 * sqrt(variance + eps) and c = offset - mean * k computed on the small per-channel vectors.
 * Stock wasm's kernel takes ~11 ms on [128, 28, 28, 32]; these two XNNPACK passes ~2.5 ms.
 */
import { tf } from '../tf.js';
import { asTensor } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

function batchNorm({ inputs, attrs }: KernelArgs): tf.Tensor {
  const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  return tf.tidy(() => {
    const x = asTensor(inputs.x);
    const mean = asTensor(inputs.mean);
    const rstd = tf.rsqrt(tf.add(asTensor(inputs.variance), tf.scalar(eps)));
    const k = inputs.scale != null ? tf.mul(rstd, asTensor(inputs.scale)) : rstd;
    const mk = tf.mul(mean, k);
    const c = inputs.offset != null ? tf.sub(asTensor(inputs.offset), mk) : tf.neg(mk);
    return tf.add(tf.mul(x, k), c);
  });
}

export const batchNormKernel = projectKernel(tf.FusedBatchNorm, batchNorm);
