import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerGradients, restoreGradients } from '../../src/engine/gradients/index.js';
import { createRequire } from 'node:module';
import { tf, tfl } from '../../src/engine/tf.js';

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

test('fast moments: values and gradient equal tfjs own moments, and tfjs-layers uses them', async () => {
  await tf.setBackend('cpu');
  const { fastMoments, useFastMoments } = await import('../../src/engine/gradients/moments.js');
  const x = tf.randomNormal([3, 5, 4, 6], 0.5, 2, 'float32', 11);
  const cases: [number[] | undefined, boolean][] = [
    [[0, 1, 2], false],
    [[0], true],
    [[1, 3], false],
    [undefined, false],
  ];
  for (const [axes, keepDims] of cases) {
    const run = (moments: typeof tf.moments) =>
      tf.tidy(() => {
        const f = (t: tf.Tensor) => {
          const { mean, variance } = moments(t, axes, keepDims);
          const wm = tf.reshape(tf.linspace(-1, 2, mean.size), mean.shape);
          const wv = tf.reshape(tf.linspace(3, 0.5, variance.size), variance.shape);
          return tf.add(tf.sum(tf.mul(mean, wm)), tf.sum(tf.mul(variance, wv)));
        };
        const { mean, variance } = moments(x, axes, keepDims);
        return [mean, variance, tf.grad(f)(x)].map((t) => ({ shape: t.shape, v: t.dataSync() }));
      });
    const want = run(tf.moments);
    const got = run(fastMoments as typeof tf.moments);
    for (const [i, w] of want.entries()) {
      assert.deepEqual(got[i].shape, w.shape, `axes ${axes} output ${i}: shape`);
      const scale = Math.max(...Array.from(w.v, Math.abs));
      const err = Math.max(...Array.from(got[i].v, (v, j) => Math.abs(v - w.v[j]))) / scale;
      assert.ok(err < 1e-5, `axes ${axes} keepDims ${keepDims} output ${i}: error ${err}`);
    }
  }
  const count = tf.memory().numTensors;
  tf.tidy(() => {
    tf.grad((t: tf.Tensor) => tf.sum(fastMoments(t, [0, 1, 2]).variance))(x);
  });
  assert.equal(tf.memory().numTensors, count);

  // A BatchNormalization layer in training reaches moments through tfjs-core's exports.
  const layer = tfl.layers.batchNormalization({ axis: -1 });
  layer.build(x.shape);
  const layerGrad = () =>
    tf.tidy(() => {
      // Weighted: the plain sum of squares of a normalised tensor has a near-zero gradient.
      const w = tf.reshape(tf.linspace(-1, 3, x.size), x.shape);
      const f = (t: tf.Tensor) =>
        tf.sum(tf.mul(tf.square(layer.apply(t, { training: true }) as tf.Tensor), w));
      return Array.from(tf.grad(f)(x).dataSync());
    });
  useFastMoments(false);
  const wantGrad = layerGrad();
  useFastMoments(true);
  const require = createRequire(import.meta.url);
  assert.equal(require('@tensorflow/tfjs-core').moments, fastMoments);
  const gotGrad = layerGrad();
  const scale = Math.max(...wantGrad.map(Math.abs));
  assert.ok(Math.max(...gotGrad.map((v, j) => Math.abs(v - wantGrad[j]))) / scale < 1e-5);
  x.dispose();
});

/** Gradients of sum(w * fused.conv2d(x, f, b)) as tfjs-layers calls it (tfjs-core's exports). */
function fusedConvGrads(
  x: tf.Tensor4D,
  f: tf.Tensor4D,
  b: tf.Tensor1D | undefined,
  stride: number,
  pad: 'same' | 'valid',
  activation: 'linear' | 'relu',
): number[][] {
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
  return tf.tidy(() => {
    const loss = (...t: tf.Tensor[]) => {
      const [xt, ft, bt] = t as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D | undefined];
      const y = core.fused.conv2d({
        x: xt,
        filter: ft,
        bias: bt,
        strides: stride,
        pad,
        activation,
      });
      return tf.sum(tf.mul(y, tf.reshape(tf.linspace(-1, 2, y.size), y.shape)));
    };
    const args = b ? [x, f, b] : [x, f];
    return tf
      .grads(loss)(args)
      .map((g) => Array.from(g.dataSync()));
  });
}

test('fused conv2d gradient equals tfjs own; the unused input gradient is not computed', async () => {
  await tf.setBackend('cpu');
  const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  const f = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 12) as tf.Tensor4D;
  const b = tf.randomNormal([4], 0, 1, 'float32', 13) as tf.Tensor1D;
  const cases: [tf.Tensor1D | undefined, number, 'same' | 'valid', 'linear' | 'relu'][] = [
    [undefined, 1, 'same', 'linear'],
    [b, 2, 'same', 'relu'],
    [b, 1, 'valid', 'linear'],
    [undefined, 2, 'valid', 'relu'],
    [null as unknown as undefined, 1, 'same', 'relu'], // tfjs-layers passes null for no bias
  ];
  for (const [bias, stride, pad, activation] of cases) {
    restoreGradients();
    const want = fusedConvGrads(x, f, bias, stride, pad, activation);
    registerGradients();
    const got = fusedConvGrads(x, f, bias, stride, pad, activation);
    for (const [i, w] of want.entries()) {
      const scale = Math.max(...w.map(Math.abs));
      const err = Math.max(...got[i].map((v, j) => Math.abs(v - w[j]))) / scale;
      assert.ok(err < 1e-5, `${activation} stride ${stride} ${pad}: input ${i} error ${err}`);
    }
  }
  // Gradients for the filter alone: the images' gradient never runs (bias or none, as null).
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
  for (const bias of [b, null as unknown as undefined]) {
    const profile = await tf.profile(() =>
      tf.grad((ft: tf.Tensor) =>
        tf.sum(core.fused.conv2d({ x, filter: ft as tf.Tensor4D, bias, strides: 1, pad: 'same' })),
      )(f),
    );
    const kernels = profile.kernels.map((k) => k.name);
    assert.ok(kernels.includes(tf.Conv2DBackpropFilter), kernels.join(' '));
    assert.ok(!kernels.includes(tf.Conv2DBackpropInput), kernels.join(' '));
  }
  tf.dispose([x, f, b]);
});
