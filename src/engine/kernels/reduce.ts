/**
 * Sum and Mean for wasm over a contiguous block of axes. Stock wasm transposes the reduced axes
 * innermost and loops: ~17 ms to reduce [128, 28, 28, 32] over [0, 1, 2], which BatchNorm does
 * several times per layer and step (moments forward, four sums in its gradient). Viewing x as
 * [outer, reduced, 1, inner] makes the mean one XNNPACK average pooling (~1 ms); the sum is
 * that mean times the count. Other reductions, and integer ones, go to the stock kernels.
 */
import { tf } from '../tf.js';
import { asTensor } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

// Below this many elements the stock kernel's simplicity wins; the pooling has setup costs.
const MIN_SIZE = 4096;

/** [outer, reduced, inner] sizes when `axes` are one contiguous block of x's axes, else null. */
function blockShape(shape: number[], axes: number[]): [number, number, number] | null {
  const sorted = [...axes].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1] + 1) return null;
  const prod = (a: number[]) => a.reduce((p, d) => p * d, 1);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  return [
    prod(shape.slice(0, first)),
    prod(shape.slice(first, last + 1)),
    prod(shape.slice(last + 1)),
  ];
}

function reduceKernel(kernelName: string, stock: tf.KernelConfig, scaleBySize: boolean) {
  return projectKernel(
    kernelName,
    (args: KernelArgs) => {
      const x = args.inputs.x;
      const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const size = tf.util.sizeFromShape(x.shape);
      const block = axes.length > 0 ? blockShape(x.shape, axes) : null;
      if (x.dtype !== 'float32' || size < MIN_SIZE || !block) {
        return stock.kernelFunc(args) as tf.TensorInfo;
      }
      const [outer, reduced, inner] = block;
      const outShape = keepDims
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      return tf.tidy(() => {
        const view = tf.reshape<tf.Rank.R4>(asTensor(x), [outer, reduced, 1, inner]);
        const mean = tf.avgPool(view, [reduced, 1], 1, 'valid'); // (outer, 1, 1, inner)
        const out = scaleBySize ? tf.mul(mean, tf.scalar(reduced)) : mean;
        return tf.reshape(out, outShape);
      });
    },
    stock.setupFunc,
  );
}

export const sumKernel = (stock: tf.KernelConfig) => reduceKernel(tf.Sum, stock, true);
export const meanKernel = (stock: tf.KernelConfig) => reduceKernel(tf.Mean, stock, false);
