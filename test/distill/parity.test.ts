/** cases.md #6 across backends: the loss values of cases 1-6 are the same on wasm as on cpu. */
import { test } from 'node:test';
import { tf } from '../../src/engine/tf.js';
import { initEngine } from '../../src/engine/backend.js';
import {
  bceWithLogits,
  ensembleSoftLabel,
  klDivergence,
  softCrossEntropy,
} from '../../src/distill/losses.js';
import { close, scalar } from '../helpers.js';

test('case 6: BCE and the similarity losses agree on every backend', async () => {
  const values: Record<string, number[]> = {};
  for (const backend of ['cpu', 'wasm'] as const) {
    await initEngine({ backend });
    values[backend] = [
      scalar(bceWithLogits(tf.tensor1d([1, 0]), tf.tensor1d([2, -1]))),
      scalar(softCrossEntropy(tf.tensor2d([[0.5, 0.5]]), tf.tensor2d([[0, -200]]))),
      scalar(klDivergence(tf.tensor2d([[0.7, 0.1, 0.1, 0.1]]), tf.zeros([1, 4]) as tf.Tensor2D)),
      ...ensembleSoftLabel(
        [tf.tensor2d([[4, 0]]), tf.tensor2d([[0, 0]])],
        ['logits', 'logits'],
      ).dataSync(),
    ];
    close(
      values[backend],
      [0.220095, 100, 0.445846, 0.741007, 0.258993],
      1e-4,
      `${backend} values`,
    );
  }
  close(values.wasm, values.cpu, 1e-6, 'wasm vs cpu');
});
