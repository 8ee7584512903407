/**
 * Gradients the project registers in place of tfjs's own where those are slow on wasm.
 * Gradients are global in tfjs (not per backend): each replacement computes the same values
 * on every backend, and test/engine/gradients.test.ts checks it against the original on cpu.
 */
import { tf } from '../tf.js';
import { clipByValueGrad } from './clip_by_value.js';
import { fusedBatchNormGrad } from './fused_batch_norm.js';
import { reluGrad } from './mask_grad.js';
import { useFastMoments } from './moments.js';
import { useFusedBatchNorm } from './batch_norm_training.js';
import { fusedConv2dGrad, useFusedConvGradient } from './fused_conv.js';

const PROJECT_GRADIENTS: tf.GradConfig[] = [
  clipByValueGrad,
  fusedBatchNormGrad,
  reluGrad,
  fusedConv2dGrad,
];
const original = new Map<string, tf.GradConfig>();

/** Registers the project's gradients. Idempotent. */
export function registerGradients(): void {
  for (const g of PROJECT_GRADIENTS) {
    // tfjs registers none for FusedConv2D (its op uses customGrad): nothing to put back there.
    const own = tf.getGradient(g.kernelName);
    if (own && !original.has(g.kernelName)) original.set(g.kernelName, own);
    tf.registerGradient(g);
  }
  useFastMoments(true);
  useFusedBatchNorm(true);
  useFusedConvGradient(true);
}

/** Puts tfjs's own gradients back: for tests that compare against them. */
export function restoreGradients(): void {
  for (const [, g] of original) tf.registerGradient(g);
  useFastMoments(false);
  useFusedBatchNorm(false);
  useFusedConvGradient(false);
}
