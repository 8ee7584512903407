/**
 * One supervised training step of a reference net, shared by the benchmark and the profiler so
 * that both time exactly what training does: forward in training mode, softmax cross-entropy,
 * gradients of every trainable weight, one Adam update by the product's optimizer.
 */
import { tf, tfl } from '../src/engine/tf.js';
import { buildModel } from '../src/models/registry.js';
import { Optimizer } from '../src/train/optimizer.js';
import { InferenceModel } from '../src/engine/inference.js';

export interface StepBench {
  model: tfl.LayersModel;
  x: tf.Tensor4D;
  /**
   * Inference forward pass as the product runs it (evaluation, teachers): BatchNorm folded into
   * the convolutions (src/engine/inference.ts); returns the logits (caller disposes).
   */
  forward(): tf.Tensor;
  /** One Adam step; returns the loss (caller disposes). */
  trainStep(): tf.Scalar;
  dispose(): void;
}

export function makeStepBench(net: string, batch: number, seed = 0): StepBench {
  const model = buildModel(net, { inputShape: [28, 28, 1], numClasses: 10 });
  const x = tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', seed + 1) as tf.Tensor1D, 10);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // The product's optimizer (PyTorch's Adam rule, like torch.optim.Adam in torch_step.py).
  const optimizer = new Optimizer(
    { name: 'adam', momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    [
      {
        name: net,
        variables: vars,
        lr: 1e-3,
        weightDecay: 0,
      },
    ],
  );
  const inference = new InferenceModel(model);
  return {
    model,
    x,
    forward: () => inference.predict(x),
    trainStep: () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const logits = model.apply(x, { training: true }) as tf.Tensor; // (B, 10)
          return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
        }, vars);
        optimizer.apply(grads);
        return value;
      }),
    dispose: () => {
      tf.dispose([x, labels]);
      optimizer.dispose();
      inference.dispose();
      model.dispose();
    },
  };
}
