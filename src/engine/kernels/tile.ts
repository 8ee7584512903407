/**
 * Tile for wasm. Stock wasm's is a per-element index loop: ~290 ms to tile [1, 1, 1, 32] into
 * [128, 28, 28, 32], which BatchNorm's gradient does once per layer (FusedBatchNorm_grad).
 * Tiling is a broadcast: give every axis a repeat factor and a data factor, reshape x to the
 * data factors and add zeros shaped as the repeat factors; XNNPACK's broadcasting add does the
 * copy (~6 ms for the case above).
 */
import { tf } from '../tf.js';
import { asTensor } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

// XNNPACK's binary operators take at most 6 dimensions.
const MAX_BROADCAST_RANK = 6;

/** Factors of the output, outermost first, with equal neighbours merged. */
function factors(shape: number[], reps: number[]): { size: number; repeat: boolean }[] {
  const out: { size: number; repeat: boolean }[] = [];
  const push = (size: number, repeat: boolean) => {
    if (size === 1) return;
    const last = out[out.length - 1];
    if (last && last.repeat === repeat) last.size *= size;
    else out.push({ size, repeat });
  };
  shape.forEach((d, i) => {
    push(reps[i], true); // the whole array repeats outside its own axis i
    push(d, false);
  });
  return out;
}

export function tileKernel(stock: tf.KernelConfig) {
  return projectKernel(
    tf.Tile,
    (args: KernelArgs) => {
      const x = args.inputs.x;
      const reps = (args.attrs as { reps: number[] }).reps;
      const f = factors(x.shape, reps);
      if (x.dtype === 'bool' || f.length > MAX_BROADCAST_RANK || !f.some((v) => v.repeat)) {
        return stock.kernelFunc(args) as tf.TensorInfo;
      }
      const outShape = x.shape.map((d, i) => d * reps[i]);
      return tf.tidy(() => {
        const data = tf.reshape(
          asTensor(x),
          f.map((v) => (v.repeat ? 1 : v.size)),
        );
        const zeros = tf.zeros(
          f.map((v) => (v.repeat ? v.size : 1)),
          x.dtype,
        );
        return tf.reshape(tf.add(data, zeros), outShape);
      });
    },
    stock.setupFunc,
  );
}
