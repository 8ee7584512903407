/**
 * One Adam update of one weight (PyTorch's rule, as src/train/optimizer.ts composes it) in one
 * pass over the wasm heap, instead of about twelve tf ops per weight, each a kernel call with its
 * own overhead and its own pass: 47 weights of resnet-mini took ~40 ms a step that way.
 *
 *     d  = g + λ w
 *     m' = β1 m + (1 − β1) d
 *     v' = β2 v + (1 − β2) d²
 *     w' = w − (lr / (1 − β1ᵗ)) · m' / (√(v' / (1 − β2ᵗ)) + ε)
 *
 * Inputs w, m, v, g (float32, one shape); attrs lr (already divided by 1 − β1ᵗ), beta1, beta2,
 * bias2 (1 − β2ᵗ), epsilon, weightDecay. Outputs w', m', v'. In float32 SIMD (simd/adam.ts) four
 * at a time, the rest in double precision rounded once: results may differ from the composed ops
 * in the last bits.
 */
import { tf } from '../tf.js';
import { floatBits, simdKernels } from '../simd/index.js';
import { heapF32, wasmBackend } from './heap.js';
import { projectKernel } from './types.js';

export const ADAM_UPDATE = 'MealAdamUpdate';

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  bias2: number;
  epsilon: number;
  weightDecay: number;
}

export const adamUpdateKernel = projectKernel(ADAM_UPDATE, ({ inputs, attrs, backend }) => {
  const wasm = wasmBackend(backend);
  const { lr, beta1, beta2, bias2, epsilon, weightDecay } = attrs as unknown as AdamAttrs;
  const shape = inputs.w.shape;
  for (const [name, t] of Object.entries(inputs)) {
    if (!tf.util.arraysEqual(t.shape, shape) || t.dtype !== 'float32') {
      throw new Error(
        `${ADAM_UPDATE}: input ${name} is ${t.dtype} [${t.shape}], expected float32 [${shape}] ` +
          `like w: the weight, its two moments and its gradient must have one shape`,
      );
    }
  }
  const outs = [0, 1, 2].map(() => wasm.makeOutput(shape, 'float32'));
  // Views after the last allocation: allocation may grow (and move) the heap.
  const [w, m, v, g] = [inputs.w, inputs.m, inputs.v, inputs.g].map((t) => heapF32(wasm, t));
  const [w2, m2, v2] = outs.map((t) => heapF32(wasm, t));
  // Four at a time in SIMD where the backend's memory is reachable (~7 -> ~1 ms for resnet-mini's
  // 696k weights), the rest here.
  const simd = simdKernels(backend);
  const vecs = simd ? Math.floor(w.length / 4) : 0;
  if (simd && vecs > 0) {
    const scalars = [lr, beta1, 1 - beta1, beta2, 1 - beta2, 1 / bias2, epsilon, weightDecay];
    const pointers = [w, m, v, g, w2, m2, v2].map((a) => a.byteOffset);
    simd.adam(...pointers, vecs, ...scalars.map(floatBits));
  }
  for (let i = vecs * 4; i < w.length; i++) {
    const d = g[i] + weightDecay * w[i];
    const mi = Math.fround(beta1 * m[i] + (1 - beta1) * d);
    const vi = Math.fround(beta2 * v[i] + (1 - beta2) * d * d);
    m2[i] = mi;
    v2[i] = vi;
    w2[i] = w[i] - (lr * mi) / (Math.sqrt(vi / bias2) + epsilon);
  }
  return outs as unknown as tf.TensorInfo;
});
