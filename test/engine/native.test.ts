/**
 * The wasm engine with native convolutions and SIMD kernels, end to end: a small net with every
 * native path (channel-blocked convolutions, depthwise, pointwise, strided, 2x2 pooling) trains
 * for 100 Adam steps with a flat tensor count and a falling loss, and gives the same loss and
 * gradients as the cpu backend.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { registerGradients, restoreGradients } from '../../src/engine/gradients/index.js';
import { nativeGraph, nativeKernelsAvailable } from '../../src/engine/native/session.js';
import { tf, tfl } from '../../src/engine/tf.js';

let engineLine = '';

before(async () => {
  await initEngine({ backend: 'wasm', threads: 2, log: (l) => (engineLine = l) });
});

function net(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  // (no bias before BatchNorm: its gradient is zero up to rounding, so not comparable)
  let x = tfl.layers
    .conv2d({ filters: 16, kernelSize: 3, padding: 'same', useBias: false })
    .apply(input);
  x = tfl.layers.batchNormalization().apply(x);
  x = tfl.layers.reLU().apply(x);
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x); // (4, 4, 16)
  x = tfl.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', strides: 2, useBias: false })
    .apply(x); // (2, 2, 16)
  x = tfl.layers.conv2d({ filters: 32, kernelSize: 1, activation: 'relu' }).apply(x);
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same' }).apply(x);
  x = tfl.layers.globalAveragePooling2d({}).apply(x);
  const out = tfl.layers.dense({ units: 4 }).apply(x);
  return tfl.model({ inputs: input, outputs: out as tfl.SymbolicTensor });
}

function data() {
  const x = tf.randomUniform([16, 8, 8, 3], -1, 1, 'float32', 3);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4);
  return { x, y };
}

test('native kernels are in use on this machine', () => {
  assert.ok(nativeKernelsAvailable(), 'onnxruntime-node should load where npm ci ran');
  assert.match(engineLine, /convolutions native \(onnxruntime/);
});

test('100 Adam steps: tensor count flat from step 2, loss falls', () => {
  const model = net();
  const { x, y } = data();
  const optimizer = tf.train.adam(1e-2);
  const loss = () =>
    tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const losses: number[] = [];
  let after2 = 0;
  for (let step = 1; step <= 100; step++) {
    const l = optimizer.minimize(loss, true)!;
    losses.push(l.dataSync()[0]);
    l.dispose();
    if (step === 2) after2 = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, after2, 'tensors leaked between step 2 and step 100');
  assert.ok(losses[99] < losses[0] * 0.5, `loss ${losses[0]} -> ${losses[99]}`);
  optimizer.dispose();
  tf.dispose([x, y]);
});

test('loss and gradients match the cpu backend', async () => {
  const model = net();
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const { x, y } = data();
    const f = () =>
      tf.losses.softmaxCrossEntropy(
        y,
        model.apply(x, { training: true }) as tf.Tensor,
      ) as tf.Scalar;
    const { value, grads } = tf.variableGrads(f);
    const out = [value, ...Object.values(grads)].map((t) => Array.from(t.dataSync()));
    tf.dispose([value, ...Object.values(grads), x, y]);
    return out;
  };
  const got = await run('wasm');
  const want = await run('cpu');
  await tf.setBackend('wasm');
  for (const [i, w] of want.entries()) {
    const scale = Math.max(1e-6, ...w.map(Math.abs));
    const err = Math.max(...got[i].map((v, j) => Math.abs(v - w[j]))) / scale;
    assert.ok(err < 1e-4, `output ${i}: relative error ${err}`);
  }
});

test('ReLU and ClipByValue gradients on wasm (SIMD) equal tfjs own on cpu, boundaries included', async () => {
  const edges = [-Infinity, -1, -0, 0, 1e-30, 3, 5.999999, 6, 6.000001, 7, Infinity, -2.5];
  const values = Float32Array.from({ length: 4096 }, (_, i) => edges[i % 12] * (1 + (i % 5)));
  const grads = async (backend: string, restore: boolean) => {
    await tf.setBackend(backend);
    if (restore) restoreGradients();
    const x = tf.tensor(values, [4, 16, 16, 4]);
    const w = tf.reshape(tf.linspace(1, 2, x.size), x.shape);
    const out = [
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), w)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, 0, 6), w)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, -1, 1e-30), w)))(x),
    ].map((g) => Array.from(g.dataSync()));
    tf.dispose([x, w]);
    registerGradients();
    return out;
  };
  const want = await grads('cpu', true);
  const got = await grads('wasm', false);
  assert.deepEqual(got, want);
});

test('moments on wasm (one SIMD read, shifted sums) match cpu, large means included', async () => {
  const { fastMoments } = await import('../../src/engine/gradients/moments.js');
  for (const [mu, sigma] of [
    [0, 1],
    [100, 0.5],
    [-3, 1e-3],
  ]) {
    const values = tf.tidy(() =>
      tf.randomNormal([16, 9, 7, 8], mu, sigma, 'float32', 5).dataSync(),
    ) as Float32Array;
    const stats = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values, [16, 9, 7, 8]);
      const { mean, variance } = fastMoments(x, [0, 1, 2]);
      const out = [mean, variance].map((t) => Array.from(t.dataSync()));
      tf.dispose([x, mean, variance]);
      return out;
    };
    const want = await stats('cpu');
    const got = await stats('wasm');
    for (const [i, w] of want.entries()) {
      for (const [c, v] of w.entries()) {
        const err = Math.abs(got[i][c] - v) / Math.max(Math.abs(v), 1e-12);
        assert.ok(
          err < 1e-4,
          `mean ${mu} std ${sigma}: output ${i} channel ${c}: ${got[i][c]} vs ${v}`,
        );
      }
    }
  }
});

test('native graphs write outputs in place and still report onnxruntime errors', () => {
  const graph = nativeGraph({
    inputs: [{ name: 'x', shape: [2, 3] }],
    outputs: [{ name: 'y', shape: [3, 2] }],
    nodes: [{ op: 'Transpose', inputs: ['x'], outputs: ['y'], attrs: { perm: [1, 0] } }],
  });
  const y = new Float32Array(6);
  graph.run(
    [{ data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] }],
    [{ data: y, shape: [3, 2] }],
  );
  assert.deepEqual(Array.from(y), [1, 4, 2, 5, 3, 6]);
  // The run's own failures are not mistaken for the expected stop after it (session.ts).
  assert.throws(
    () => graph.run([{ data: new Float32Array(4), shape: [2, 2] }], [{ data: y, shape: [3, 2] }]),
    (e: Error) => !/Tensor type \(16\)/.test(e.message) && /dim|shape|index/i.test(e.message),
  );
});
