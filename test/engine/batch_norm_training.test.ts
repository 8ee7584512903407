import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { initEngine } from '../../src/engine/backend.js';
import { registerGradients, restoreGradients } from '../../src/engine/gradients/index.js';
import { tf, tfl } from '../../src/engine/tf.js';

const SHAPE = [3, 5, 4, 8];
const X = Float32Array.from({ length: 480 }, (_, i) => Math.sin(i * 0.7) * 2 + 0.3 * (i % 8));
const GAMMA = Float32Array.from({ length: 8 }, (_, i) => 0.6 + 0.1 * i);
const BETA = Float32Array.from({ length: 8 }, (_, i) => 0.2 * i - 0.5);

before(async () => {
  await initEngine({ backend: 'wasm', threads: 2 });
});

/**
 * A BatchNormalization layer in training on `backend`: its output, the gradients of a weighted
 * sum of its squares (weighted: the plain sum of squares of a normalised tensor has a near-zero
 * gradient) w.r.t. x, gamma and beta, and the kernels that ran.
 */
async function layerInTraining(backend: string) {
  await tf.setBackend(backend);
  const layer = tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-3 });
  layer.build(SHAPE);
  layer.setWeights([tf.tensor(GAMMA), tf.tensor(BETA), tf.zeros([8]), tf.ones([8])]);
  const x = tf.variable(tf.tensor(X, SHAPE), true, `x_${backend}`);
  const w = tf.reshape(tf.linspace(-1, 3, x.size), SHAPE);
  const count = tf.memory().numTensors;
  const loss = () => tf.sum(tf.mul(tf.square(layer.apply(x, { training: true }) as tf.Tensor), w));
  const vars = [x, ...layer.trainableWeights.map((v) => v.read() as tf.Variable)];
  let grads: Float32Array[] = [];
  const profile = await tf.profile(() => {
    const { value, grads: g } = tf.variableGrads(loss as () => tf.Scalar, vars);
    grads = vars.map((v) => g[v.name].dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(g)]);
  });
  const leaked = tf.memory().numTensors - count;
  const y = tf.tidy(
    () => (layer.apply(x, { training: true }) as tf.Tensor).dataSync() as Float32Array,
  );
  tf.dispose([x, w]);
  return { y, grads, kernels: profile.kernels.map((k) => k.name), leaked };
}

function relativeError(got: Float32Array, want: Float32Array): number {
  const scale = Math.max(...Array.from(want, Math.abs));
  return Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]))) / scale;
}

test('training batch norm as one op: output and gradients equal tfjs own on cpu and wasm', async () => {
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
  restoreGradients();
  const want = await layerInTraining('cpu');
  assert.ok(want.kernels.includes(tf.FusedBatchNorm), 'tfjs own: a FusedBatchNorm kernel');
  registerGradients();
  assert.notEqual(core.batchNorm4d, tf.batchNorm4d, 'the layers see the fused batch norm');
  for (const backend of ['cpu', 'wasm']) {
    const got = await layerInTraining(backend);
    // The fused op normalises without the FusedBatchNorm kernel, and differentiates in one go.
    assert.ok(!got.kernels.includes(tf.FusedBatchNorm), `${backend}: ${got.kernels.join(' ')}`);
    assert.ok(relativeError(got.y, want.y) < 1e-5, `${backend}: output`);
    for (const [i, name] of ['x', 'gamma', 'beta'].entries()) {
      const err = relativeError(got.grads[i], want.grads[i]);
      assert.ok(err < 1e-4, `${backend}: d${name} relative error ${err}`);
    }
    assert.equal(got.leaked, 0, `${backend}: tensors left after a step`);
  }
});

test('batch norm by statistics that are not the batch own runs tfjs own kernel', async () => {
  await tf.setBackend('wasm');
  registerGradients();
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
  const x = tf.tensor4d(X, SHAPE as [number, number, number, number]);
  const other = tf.add(x, 1);
  const { mean, variance } = core.moments(other, [0, 1, 2]);
  const [gamma, beta] = [tf.tensor1d(GAMMA), tf.tensor1d(BETA)];
  // Statistics of another tensor, and fixed statistics (inference): both tfjs's batchNorm.
  for (const [m, v] of [
    [mean, variance],
    [tf.zeros([8]), tf.ones([8])],
  ] as tf.Tensor1D[][]) {
    const profile = await tf.profile(() => core.batchNorm4d(x, m, v, beta, gamma, 1e-3));
    assert.ok(profile.kernels.some((k) => k.name === tf.FusedBatchNorm));
  }
  // A rank-4 x to batchNorm2d gets tfjs's own error, even with its own statistics.
  const own = core.moments(x, [0, 1, 2]);
  const [m1, v1] = [own.mean, own.variance] as tf.Tensor1D[];
  const asRank2 = x as unknown as tf.Tensor2D;
  assert.throws(() => core.batchNorm2d(asRank2, m1, v1, beta, gamma), /rank 2/);
  // x assigned after its statistics were taken: they are no longer its own.
  const xv = tf.variable(x);
  const stale = core.moments(xv, [0, 1, 2]);
  xv.assign(other as tf.Tensor4D);
  const profile = await tf.profile(() =>
    core.batchNorm4d(xv, stale.mean as tf.Tensor1D, stale.variance as tf.Tensor1D, beta, gamma),
  );
  assert.ok(profile.kernels.some((k) => k.name === tf.FusedBatchNorm));
  tf.dispose([own.mean, own.variance, stale.mean, stale.variance, xv]);
  tf.dispose([x, other, mean, variance, gamma, beta]);
});

test('moments on wasm stay exact when the first pixel is far from the rest', async () => {
  await tf.setBackend('wasm');
  registerGradients();
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
  // Channel c ~ 10 ± 0.01 (a narrow activation) except pixel 0, which is 0 (a padded corner):
  // 1000 standard deviations off, so a shift by that pixel cancels in float32.
  const [n, c] = [16 * 48 * 48, 4];
  const data = Float32Array.from({ length: n * c }, (_, i) => 10 + 0.01 * Math.sin(i * 1.3));
  data.fill(0, 0, c);
  const x = tf.tensor4d(data, [16, 48, 48, c]);
  const { mean, variance } = core.moments(x, [0, 1, 2]);
  const [m, v] = [mean.dataSync(), variance.dataSync()];
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = ch; i < data.length; i += c) sum += data[i];
    const mu = sum / n;
    let sq = 0;
    for (let i = ch; i < data.length; i += c) sq += (data[i] - mu) ** 2;
    assert.ok(Math.abs(m[ch] - mu) / mu < 1e-6, `channel ${ch}: mean ${m[ch]} against ${mu}`);
    const err = Math.abs(v[ch] - sq / n) / (sq / n);
    assert.ok(err < 1e-4, `channel ${ch}: variance relative error ${err}`);
  }
  tf.dispose([x, mean, variance]);
});

test('a gradient of a gradient through batch norm and ReLU equals tfjs own', async () => {
  // The hand-written first-order gradients step aside when tfjs records a gradient's own ops.
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const layer = tfl.layers.batchNormalization({ axis: -1 });
    layer.build(SHAPE);
    layer.setWeights([tf.tensor(GAMMA), tf.tensor(BETA), tf.zeros([8]), tf.ones([8])]);
    const w = tf.reshape(tf.linspace(-1, 3, X.length), SHAPE);
    const f = (t: tf.Tensor) =>
      tf.sum(tf.mul(tf.square(tf.relu(layer.apply(t, { training: true }) as tf.Tensor)), w));
    const x = tf.tensor(X, SHAPE);
    const gg = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.grad(f)(t))))(x);
    return gg.dataSync() as Float32Array;
  };
  restoreGradients();
  const want = await run('cpu');
  registerGradients();
  for (const backend of ['cpu', 'wasm']) {
    const err = relativeError(await run(backend), want);
    assert.ok(err < 1e-4, `${backend}: relative error ${err}`);
  }
});
