/**
 * BatchMatMul for wasm with a fast path for transposed operands. Stock wasm handles
 * transposeA/transposeB inside its kernel at 45-75 ms for a dense layer's gradients; an
 * explicit Transpose followed by the plain matmul takes 3-8 ms (design.md §4).
 */
import { tf } from '../tf.js';
import { projectKernel, type KernelArgs, type ProjectKernel } from './types.js';
import { adopt, asTensor } from './util.js';

/** Wraps stock wasm's BatchMatMul; it must be looked up before this kernel replaces it. */
export function batchMatMulKernel(stock: tf.KernelConfig): ProjectKernel {
  return projectKernel(
    tf.BatchMatMul,
    (args: KernelArgs) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return stock.kernelFunc(args) as tf.TensorInfo;
      // Swap the last two axes of a transposed operand; the batch axes stay.
      const swap = (t: tf.TensorInfo) => {
        const perm = t.shape.map((_, i) => i);
        [perm[perm.length - 2], perm[perm.length - 1]] = [
          perm[perm.length - 1],
          perm[perm.length - 2],
        ];
        return tf.transpose(asTensor(t), perm);
      };
      return tf.tidy(() => {
        const a = transposeA ? swap(args.inputs.a) : args.inputs.a;
        const b = transposeB ? swap(args.inputs.b) : args.inputs.b;
        const attrs = { ...args.attrs, transposeA: false, transposeB: false };
        const out = stock.kernelFunc({ ...args, inputs: { a, b }, attrs }) as tf.TensorInfo;
        return adopt(out);
      });
    },
    stock.setupFunc,
  );
}
