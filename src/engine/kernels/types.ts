import type { tf } from '../tf.js';

/** A kernel the project registers for the `wasm` backend (replacing stock wasm's if any). */
export interface ProjectKernel {
  kernelName: string;
  kernelFunc: tf.KernelFunc;
  /** Runs when the backend starts: a wrapped stock kernel needs its own setup (its cwraps). */
  setupFunc?: tf.KernelConfig['setupFunc'];
}

/** What a kernel receives, with the inputs its op always passes (tfjs checks them first). */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  attrs: tf.NamedAttrMap;
  backend: tf.KernelBackend;
}

/** A kernel may return a Tensor made by tf ops: the engine keeps it as the output. */
export function projectKernel(
  kernelName: string,
  fn: (args: KernelArgs) => tf.Tensor | tf.TensorInfo,
  setupFunc?: tf.KernelConfig['setupFunc'],
): ProjectKernel {
  return { kernelName, kernelFunc: fn as unknown as tf.KernelFunc, setupFunc };
}
