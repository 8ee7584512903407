import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerGradients, restoreGradients } from '../../src/engine/gradients/index.js';
import { tf } from '../../src/engine/tf.js';

/** d/dx of sum(clip(x, lo, hi) * w), so each element's gradient is its own weight or 0. */
function clipGrad(x: tf.Tensor, lo: number, hi: number): number[] {
  return tf.tidy(() => {
    const w = tf.reshape(tf.linspace(1, 2, x.size), x.shape);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, lo, hi), w)))(x);
    return Array.from(g.dataSync());
  });
}

test('ClipByValue gradient equals tfjs own, boundaries and infinities included', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor([-Infinity, -1, 0, 1e-30, 3, 5.999999, 6, 6.000001, 7, Infinity, -0]);
  restoreGradients();
  const want = [clipGrad(x, 0, 6), clipGrad(x, -1, 1e-30)];
  registerGradients();
  const got = [clipGrad(x, 0, 6), clipGrad(x, -1, 1e-30)];
  assert.deepEqual(got, want);
  const count = tf.memory().numTensors;
  clipGrad(x, 0, 6);
  assert.equal(tf.memory().numTensors, count);
  x.dispose();
});

/** Gradients of a training-mode batch norm (moments, then batchNorm) w.r.t. x, gamma, beta. */
function bnGrads(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, statShape: number[]) {
  return tf.tidy(() => {
    const w = tf.reshape(tf.linspace(-1, 3, x.size), x.shape);
    const f = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      const r = (v: tf.Tensor) => tf.reshape(v, statShape);
      const y = tf.batchNorm(t as tf.Tensor4D, r(mean), r(variance), r(b), r(g), 1e-5);
      return tf.sum(tf.mul(tf.square(y), w));
    };
    return tf
      .grads(f)([x, gamma, beta])
      .map((g) => Array.from(g.dataSync()));
  });
}

test('FusedBatchNorm gradient equals tfjs own, per-channel and broadcast statistics', async () => {
  await tf.setBackend('cpu');
  const x = tf.randomNormal([3, 5, 4, 6], 0.5, 2, 'float32', 7) as tf.Tensor4D;
  const gamma = tf.randomNormal([6], 1, 0.3, 'float32', 8);
  const beta = tf.randomNormal([6], 0, 0.3, 'float32', 9);
  // tfjs's own gradient fails on [1, 1, 1, C] statistics (it reshapes a full-size tensor to
  // the statistics' shape), so both layouts are compared with its per-channel result.
  restoreGradients();
  const want = bnGrads(x, gamma, beta, [6]);
  registerGradients();
  for (const statShape of [[6], [1, 1, 1, 6]]) {
    const got = bnGrads(x, gamma, beta, statShape);
    for (const [i, g] of got.entries()) {
      const scale = Math.max(...want[i].map(Math.abs));
      const err = Math.max(...g.map((v, j) => Math.abs(v - want[i][j]))) / scale;
      assert.ok(err < 1e-5, `input ${i}, stats ${statShape}: relative error ${err}`);
    }
  }
  const count = tf.memory().numTensors;
  bnGrads(x, gamma, beta, [6]);
  assert.equal(tf.memory().numTensors, count);
  tf.dispose([x, gamma, beta]);
});
