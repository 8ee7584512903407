/**
 * dy where a condition on x holds, else 0: the gradient of ReLU (x > 0) and of ClipByValue
 * (lo <= x <= hi). On wasm it is one SIMD pass (simd/masks.ts); elsewhere, or for sizes that
 * are not whole vectors, the callers compose it from tf ops.
 */
import { tf } from '../tf.js';
import { heapF32, wasmBackend } from '../kernels/heap.js';
import { adopt, recordingGradients } from '../kernels/util.js';
import { floatBits, simdKernels } from '../simd/index.js';

export type Mask = { kind: 'relu' } | { kind: 'clip'; lo: number; hi: number };

export function simdMaskGrad(x: tf.Tensor, dy: tf.Tensor, mask: Mask): tf.Tensor | null {
  if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  if (recordingGradients()) return null;
  if (x.size === 0 || x.size % 4 !== 0 || !tf.util.arraysEqual(x.shape, dy.shape)) return null;
  const backend = tf.backend();
  const simd = simdKernels(backend);
  if (!simd) return null;
  const wasm = wasmBackend(backend);
  const out = wasm.makeOutput(x.shape, 'float32');
  const [xp, dyp, dxp] = [x, dy, out].map((t) => heapF32(wasm, t).byteOffset);
  if (mask.kind === 'relu') simd.reluGrad(xp, dyp, dxp, x.size / 4);
  else simd.clipGrad(xp, dyp, dxp, x.size / 4, floatBits(mask.lo), floatBits(mask.hi));
  return adopt(out);
}

/** ReLU's gradient: tfjs's own is step(x) then a multiply, two passes. */
export const reluGrad: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    const g = dy as tf.Tensor;
    return {
      x: () => simdMaskGrad(x, g, { kind: 'relu' }) ?? tf.mul(g, tf.cast(tf.step(x), 'float32')),
    };
  },
};
