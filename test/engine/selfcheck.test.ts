import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { selfCheck } from '../../src/engine/selfcheck.js';
import { tf } from '../../src/engine/tf.js';

before(async () => {
  await initEngine({ backend: 'wasm', threads: 2 });
});

test('self-check passes on wasm with the project kernels, leaving no tensor behind', async () => {
  await tf.setBackend('wasm');
  const count = tf.memory().numTensors;
  selfCheck('wasm');
  assert.equal(tf.memory().numTensors, count);
});

test('self-check passes on cpu', async () => {
  await tf.setBackend('cpu');
  selfCheck('cpu');
});

test('a missing kernel is named, with its backend and the fix', async () => {
  await tf.setBackend('wasm');
  const kernel = tf.getKernel(tf.Conv2DBackpropFilter, 'wasm');
  tf.unregisterKernel(tf.Conv2DBackpropFilter, 'wasm');
  try {
    // (tfjs keeps the tensors its tape saved when a backward pass throws; the check is fatal.)
    assert.throws(
      () => selfCheck('wasm'),
      (e: Error) => {
        assert.match(e.message, /backend "wasm" has no kernel "Conv2DBackpropFilter"/);
        assert.match(e.message, /--backend cpu/);
        return true;
      },
    );
  } finally {
    tf.registerKernel(kernel);
  }
  selfCheck('wasm');
});

test('asking to check a backend that is not active is an error', async () => {
  await tf.setBackend('cpu');
  assert.throws(() => selfCheck('wasm'), /asked for backend "wasm", but "cpu" is active/);
});
