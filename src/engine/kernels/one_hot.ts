/**
 * OneHot for wasm. Stock wasm's C++ writes int32 values whatever dtype was asked for, so
 * tf.oneHot(i, n, 1, 0, 'float32') returns 1.4e-45 (the bits of int 1) where 1 belongs.
 * Ask it for int32 and cast.
 */
import { tf } from '../tf.js';
import { adopt } from './util.js';
import { projectKernel, type KernelArgs } from './types.js';

export function oneHotKernel(stock: tf.KernelConfig) {
  return projectKernel(
    tf.OneHot,
    (args: KernelArgs) => {
      const dtype = (args.attrs as { dtype: tf.DataType }).dtype;
      if (dtype === 'int32') return stock.kernelFunc(args) as tf.TensorInfo;
      const attrs = { ...args.attrs, dtype: 'int32' };
      return tf.tidy(() => {
        const ints = adopt(stock.kernelFunc({ ...args, attrs }) as tf.TensorInfo);
        return tf.cast(ints, dtype);
      });
    },
    stock.setupFunc,
  );
}
