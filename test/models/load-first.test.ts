/**
 * The README's library snippet as a program's first call: loadModel starts the engine itself
 * (before this, tfjs refused with "backend 'wasm' has not yet been initialized", reported as a
 * corrupt file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/index.js';
import { tf } from '../../src/engine/tf.js';

test('loadModel before anything else starts the engine and gives a working model', async () => {
  const model = await loadModel('zoo/fashion-mnist/student-meal');
  assert.ok(['wasm', 'tensorflow'].includes(tf.getBackend()), tf.getBackend());
  const logits = model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
  assert.deepEqual(logits.shape, [2, 10]);
  assert.ok(Array.from(logits.dataSync()).every(Number.isFinite));
  tf.dispose(logits);
  model.dispose();
});
