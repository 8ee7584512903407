/**
 * cases.md #1-#6: soft labels, the similarity loss and BCE, against values
 * computed independently in float64 (the numbers are from cases.md).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import {
  bceWithLogits,
  ensembleSoftLabel,
  klDivergence,
  meanEntropy,
  softCrossEntropy,
  toProbabilities,
} from '../../src/distill/losses.js';
import { close, onCpu, scalar } from '../helpers.js';

before(onCpu);

const t2 = (rows: number[][]) => tf.tensor2d(rows);

test('case 1: the soft label averages probabilities, not logits', () => {
  const p = ensembleSoftLabel([t2([[4, 0]]), t2([[0, 0]])], ['logits', 'logits']);
  close(p.dataSync(), [0.741007, 0.258993], 1e-5, 'soft label');
  const wrong = tf.softmax(t2([[2, 0]])).dataSync(); // softmax of mean logits
  assert.ok(
    Math.abs(p.dataSync()[0] - wrong[0]) > 0.1,
    'must differ from softmax of the mean logits',
  );
  const half = ensembleSoftLabel([t2([[2, 0]]), t2([[0, 2]])], ['logits', 'logits']);
  close(half.dataSync(), [0.5, 0.5], 1e-6);
  close([scalar(softCrossEntropy(half, t2([[0, 0]])))], [Math.LN2], 1e-6, 'soft CE');
});

test('case 2: soft cross-entropy, KL and entropy; the gradient is q - p for both', () => {
  const p = t2([[0.7, 0.1, 0.1, 0.1]]);
  const s = t2([[0, 0, 0, 0]]);
  close([scalar(softCrossEntropy(p, s))], [1.386294], 1e-5, 'soft CE');
  close([scalar(klDivergence(p, s))], [0.445846], 1e-5, 'KL');
  close([scalar(meanEntropy(p))], [0.940448], 1e-5, 'entropy');
  const gCe = tf.grad((z: tf.Tensor) => softCrossEntropy(p, z as tf.Tensor2D))(s);
  const gKl = tf.grad((z: tf.Tensor) => klDivergence(p, z as tf.Tensor2D))(s);
  close(gCe.dataSync(), [-0.45, 0.15, 0.15, 0.15], 1e-6, 'grad CE');
  close(gKl.dataSync(), [-0.45, 0.15, 0.15, 0.15], 1e-6, 'grad KL');
});

test('case 3: the loss is summed over classes and averaged over the batch', () => {
  const p = t2([
    [0.7, 0.1, 0.1, 0.1],
    [0.25, 0.25, 0.25, 0.25],
  ]);
  const s = t2([
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  close([scalar(klDivergence(p, s))], [0.222923], 1e-5, 'batch-mean KL');
  // Ten classes, same per-row KL, same loss: the class count must not rescale it.
  const p10 = tf.concat([p, tf.zeros([2, 6])], 1) as tf.Tensor2D;
  const s10 = tf.concat([s, tf.fill([2, 6], -1e4)], 1) as tf.Tensor2D;
  close([scalar(klDivergence(p10, s10))], [0.222923], 1e-5, 'KL with 10 classes');
});

test('case 4: no NaN or Infinity from underflow', () => {
  const p = toProbabilities(t2([[100, -100]]), 'logits');
  assert.deepEqual(Array.from(p.dataSync()), [1, 0]);
  close([scalar(klDivergence(p, t2([[0, 0]])))], [Math.LN2], 1e-5, 'KL with p = [1, 0]');
  close(
    [scalar(softCrossEntropy(t2([[0.5, 0.5]]), t2([[0, -200]])))],
    [100],
    1e-3,
    'soft CE at -200',
  );
  // A gradient step from there stays finite.
  const w = tf.variable(t2([[0, -200]]));
  const g = tf.grad((z: tf.Tensor) => softCrossEntropy(t2([[0.5, 0.5]]), z as tf.Tensor2D))(w);
  w.assign(tf.sub(w, tf.mul(g, 0.1)));
  assert.ok(Array.from(w.dataSync()).every(Number.isFinite));
});

test('case 5: softmax over the class axis; probability teachers are not softmaxed again', () => {
  const rows = toProbabilities(
    t2([
      [1, 2, 3],
      [1, 2, 3],
    ]),
    'logits',
  ).dataSync();
  close(rows, [0.090031, 0.244728, 0.665241, 0.090031, 0.244728, 0.665241], 1e-5);
  const declared = toProbabilities(t2([[0.7, 0.2, 0.1]]), 'probabilities').dataSync();
  close(declared, [0.7, 0.2, 0.1], 1e-7, 'declared probabilities kept');
  const twice = toProbabilities(t2([[0.7, 0.2, 0.1]]), 'logits').dataSync();
  close(twice, [0.463963, 0.281408, 0.254629], 1e-5, 'what double softmax gives');
});

test('case 6: BCE with logits, per element and mean', () => {
  const labels = tf.tensor1d([1, 0]);
  const logits = tf.tensor1d([2, -1]);
  close([scalar(bceWithLogits(labels, logits))], [0.220095], 1e-5, 'mean BCE');
  close([scalar(bceWithLogits(tf.tensor1d([1]), tf.tensor1d([2])))], [0.126928], 1e-5);
  close([scalar(bceWithLogits(tf.tensor1d([0]), tf.tensor1d([-1])))], [0.313262], 1e-5);
  // Large logits stay finite (the stable form).
  close([scalar(bceWithLogits(tf.tensor1d([0]), tf.tensor1d([200])))], [200], 1e-3);
});
