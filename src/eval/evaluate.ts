/**
 * Top-1 and top-5 accuracy of anything that maps a batch of [0, 1] pixels to
 * class scores: a student model, one teacher, or a teacher ensemble.
 */
import { tf, type tfl } from '../engine/tf.js';
import { InferenceModel } from '../engine/inference.js';
import { epochBatches } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';

export interface Accuracy {
  top1: number; // percent
  top5: number; // percent
  n: number;
}

/** (B, H, W, C) -> (B, C) scores; any monotone score (logits or probabilities) works. */
export type Scorer = (x: tf.Tensor4D) => tf.Tensor2D;

export async function evaluate(score: Scorer, ds: Dataset, batchSize = 500): Promise<Accuracy> {
  let top1 = 0;
  let top5 = 0;
  const k = Math.min(5, ds.numClasses);
  for await (const batch of epochBatches(ds, 0, { batchSize, shuffle: false, seed: 0 })) {
    const [c1, c5] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, ...ds.shape]); // (B, H, W, C)
      const scores = score(x); // (B, C)
      const labels = tf.tensor1d(batch.y, 'int32');
      const hit1 = tf.sum(tf.cast(tf.equal(tf.argMax(scores, -1), labels), 'int32'));
      const hit5 = tf.sum(tf.cast(topKHits(scores, labels, k), 'int32'));
      return [hit1.dataSync()[0], hit5.dataSync()[0]];
    });
    top1 += c1;
    top5 += c5;
  }
  return { top1: (100 * top1) / ds.n, top5: (100 * top5) / ds.n, n: ds.n };
}

/** A model's accuracy in inference mode, BatchNorm folded into its convolutions (engine/inference.ts). */
export async function evaluateModel(
  model: tfl.LayersModel,
  ds: Dataset,
  batchSize = 500,
): Promise<Accuracy> {
  const inference = new InferenceModel(model);
  try {
    return await evaluate((x) => inference.predict(x) as tf.Tensor2D, ds, batchSize);
  } finally {
    inference.dispose();
  }
}

/** A scorer on an asynchronous runtime (an ONNX teacher); it disposes its own intermediates. */
export type AsyncScorer = (x: tf.Tensor4D) => Promise<tf.Tensor2D>;

/** As `evaluate`, for scorers that may await (teachers on ONNX Runtime). */
export async function evaluateAsync(
  score: AsyncScorer,
  ds: Dataset,
  batchSize = 500,
): Promise<Accuracy> {
  let top1 = 0;
  let top5 = 0;
  const k = Math.min(5, ds.numClasses);
  for await (const batch of epochBatches(ds, 0, { batchSize, shuffle: false, seed: 0 })) {
    // Outside tidy: a tidy scope would dispose tensors the scorer still awaits on.
    const x = tf.tensor4d(batch.x, [batch.size, ...ds.shape]); // (B, H, W, C)
    let scores: tf.Tensor2D | undefined;
    try {
      scores = await score(x); // (B, C)
      const [c1, c5] = tf.tidy(() => {
        const labels = tf.tensor1d(batch.y, 'int32');
        const hit1 = tf.sum(tf.cast(tf.equal(tf.argMax(scores!, -1), labels), 'int32'));
        const hit5 = tf.sum(tf.cast(topKHits(scores!, labels, k), 'int32'));
        return [hit1.dataSync()[0], hit5.dataSync()[0]];
      });
      top1 += c1;
      top5 += c5;
    } finally {
      tf.dispose([x, ...(scores ? [scores] : [])]);
    }
  }
  return { top1: (100 * top1) / ds.n, top5: (100 * top5) / ds.n, n: ds.n };
}

/** Whether each label is among the k highest scores of its row: (B,) booleans. */
function topKHits(scores: tf.Tensor2D, labels: tf.Tensor1D, k: number): tf.Tensor1D {
  const { indices } = tf.topk(scores, k); // (B, k)
  return tf.any(tf.equal(indices, tf.expandDims(labels, 1)), 1) as tf.Tensor1D;
}
