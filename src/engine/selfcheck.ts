/**
 * A training step of a tiny net that uses every kind of layer the reference nets have
 * (convolution with strides 1 and 2, batch norm, ReLU/ReLU6, max pooling, depthwise
 * convolution, dense), then the optimizer's and inference's own kernels where the backend has
 * them, so that a backend lacking a kernel fails here, in milliseconds and with a clear
 * message, rather than mid-epoch.
 */
import { tf } from './tf.js';
import { ADAM_UPDATE } from './kernels/adam.js';
import { CONV_CHAIN, chainFits, type ChainLinkSpec } from './native/chain.js';

const MISSING_KERNEL = /Kernel '([^']+)' not registered for backend '([^']+)'/;

/** Runs one forward and backward pass on the active backend; throws if any kernel is missing. */
export function selfCheck(backendName: string): void {
  const active = tf.getBackend();
  if (active !== backendName) {
    throw new Error(`self-check asked for backend "${backendName}", but "${active}" is active`);
  }
  const before = tf.memory().numTensors;
  try {
    tf.tidy(() => {
      const { loss, grads, params } = tinyStep();
      for (const [i, g] of grads.entries()) {
        const values = g.dataSync();
        if (!values.every(Number.isFinite)) {
          throw new Error(`gradient ${i} of the check net has non-finite values`);
        }
      }
      if (!Number.isFinite(loss.dataSync()[0])) throw new Error('the check net loss is not finite');
      projectKernelsCheck(backendName, params[6], grads[6]);
    });
  } catch (e) {
    throw explain(e as Error, backendName);
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) {
    throw new Error(
      `engine self-check on "${backendName}": a training step leaked ${leaked} tensors`,
    );
  }
}

function explain(e: Error, backendName: string): Error {
  const missing = MISSING_KERNEL.exec(e.message);
  const fix =
    backendName === 'cpu'
      ? 'This tfjs build is incomplete; reinstall @tensorflow/tfjs-core and -backend-cpu 4.22.0.'
      : 'Use --no-native-kernels (convolutions in wasm), --backend cpu (complete but slow), ' +
        'or --backend tensorflow after "npm install @tensorflow/tfjs-node".';
  if (missing) {
    return new Error(
      `engine self-check: backend "${missing[2]}" has no kernel "${missing[1]}", which a ` +
        `training step needs. ${fix}`,
      { cause: e },
    );
  }
  return new Error(`engine self-check failed on backend "${backendName}": ${e.message}. ${fix}`, {
    cause: e,
  });
}

/** Deterministic small weights, so that the check never depends on a random draw. */
function ramp(shape: number[], scale: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i + 1)),
    shape,
  );
}

function tinyStep(): { loss: tf.Scalar; grads: tf.Tensor[]; params: tf.Tensor[] } {
  const x = ramp([2, 8, 8, 1], 1); // (B, H, W, C)
  const labels = tf.oneHot(tf.tensor1d([1, 2], 'int32'), 3);
  const params = [
    ramp([3, 3, 1, 4], 0.5), // conv1
    ramp([4], 0.1), // bn gamma
    ramp([4], 0.1), // bn beta
    ramp([3, 3, 4, 4], 0.3), // conv2, stride 2
    ramp([3, 3, 4, 1], 0.3), // depthwise
    ramp([2 * 2 * 4, 3], 0.2), // dense
    ramp([1, 1, 4, 16], 0.3), // pointwise to 16 channels: whole channel blocks
    ramp([3, 3, 16, 4], 0.1), // conv3, from 16 channels
  ];
  type T = tf.Tensor;
  const f = (w1: T, gamma: T, beta: T, w2: T, dw: T, wd: T, pw: T, w3: T) => {
    let h: tf.Tensor4D = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'); // (2, 8, 8, 4)
    const { mean, variance } = tf.moments(h, [0, 1, 2]) as {
      mean: tf.Tensor1D;
      variance: tf.Tensor1D;
    };
    h = tf.relu(tf.batchNorm4d(h, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5));
    h = tf.maxPool(h, 2, 2, 'valid'); // (2, 4, 4, 4)
    h = tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same'); // (2, 2, 2, 4)
    h = tf.relu6(tf.depthwiseConv2d(h, dw as tf.Tensor4D, 1, 'same')); // (2, 2, 2, 4)
    h = tf.conv2d(tf.conv2d(h, pw as tf.Tensor4D, 1, 'same'), w3 as tf.Tensor4D, 1, 'same');
    const logits = tf.matMul(tf.reshape(h, [2, 16]), wd as tf.Tensor2D); // (2, 3)
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  };
  const { value, grads } = tf.valueAndGrads(f as (...a: tf.Tensor[]) => tf.Scalar)(params);
  return { loss: value, grads, params };
}

/**
 * The kernels outside the step that training and evaluation use where the backend has them:
 * the optimizer's one-pass Adam update, and chained convolutions (inference).
 */
function projectKernelsCheck(backendName: string, w: tf.Tensor, g: tf.Tensor): void {
  const outputs: [string, tf.Tensor][] = [];
  if (tf.getKernel(ADAM_UPDATE, backendName)) {
    const z = tf.zerosLike(w);
    const attrs = {
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      bias2: 1e-3,
      epsilon: 1e-8,
      weightDecay: 0,
    };
    const updated = tf.engine().runKernel(ADAM_UPDATE, { w, m: z, v: z, g }, attrs as never);
    for (const t of updated as tf.Tensor[]) outputs.push([ADAM_UPDATE, t]);
  }
  // A 1x1 and a 3x3 convolution on 16 channels: whole NCHWc blocks.
  const x = ramp([2, 4, 4, 16], 1);
  const specs: ChainLinkSpec[] = [1, 3].map(() => ({
    depthwise: false,
    strides: [1, 1],
    pad: 'same',
    dilations: [1, 1],
    bias: false,
    activation: 'relu6',
  }));
  const filters = [ramp([1, 1, 16, 16], 0.2), ramp([3, 3, 16, 16], 0.1)];
  if (
    tf.getKernel(CONV_CHAIN, backendName) &&
    chainFits(
      x.shape,
      specs,
      filters.map((f) => f.shape),
    )
  ) {
    const inputs = { x, w0: filters[0], w1: filters[1] };
    const links = JSON.stringify(specs);
    outputs.push([CONV_CHAIN, tf.engine().runKernel(CONV_CHAIN, inputs, { links }) as tf.Tensor]);
  }
  for (const [name, o] of outputs) {
    if (!o.dataSync().every(Number.isFinite))
      throw new Error(`kernel ${name} gave non-finite values`);
  }
}
