/**
 * Identity, and Cast to the dtype a tensor already has, without a copy. Stock wasm copies the
 * whole tensor for both, and training runs hundreds of them per step: tf.moments casts every
 * BatchNorm input to float32, Adam and the gradient tape clone tensors. Tensors are immutable,
 * so the output can share the input's data; the backend's reference count keeps it alive
 * until both are disposed (what the cpu backend does for Identity).
 */
import { tf } from '../tf.js';
import { projectKernel, type KernelArgs } from './types.js';

function share({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const x = inputs.x;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityKernel = projectKernel(tf.Identity, share);

export function castKernel(stock: tf.KernelConfig) {
  return projectKernel(
    tf.Cast,
    (args: KernelArgs) =>
      args.inputs.x.dtype === (args.attrs.dtype as tf.DataType)
        ? share(args)
        : (stock.kernelFunc(args) as tf.TensorInfo),
    stock.setupFunc,
  );
}
