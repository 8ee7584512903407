/**
 * Inference with BatchNorm folded into convolutions (src/engine/inference.ts): the same logits
 * as the model in inference mode, on wasm (where the convolutions chain into one native kernel)
 * and on cpu, before and after training has changed every weight, with a flat tensor count.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { InferenceModel } from '../../src/engine/inference.js';
import { CONV_CHAIN } from '../../src/engine/native/chain.js';
import { tf, tfl } from '../../src/engine/tf.js';

before(async () => {
  await initEngine({ backend: 'wasm', threads: 2 });
});

type Sym = tfl.SymbolicTensor;

function bn(x: Sym): Sym {
  return tfl.layers.batchNormalization({ epsilon: 1e-3 }).apply(x) as Sym;
}

/** Every pattern the folding handles, and a residual sum and a head that it leaves alone. */
function net(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  let x = tfl.layers
    .conv2d({ filters: 16, kernelSize: 3, padding: 'same', useBias: false })
    .apply(input) as Sym;
  x = tfl.layers.reLU({ maxValue: 6 }).apply(bn(x)) as Sym;
  x = tfl.layers
    .depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false })
    .apply(x) as Sym;
  x = tfl.layers.activation({ activation: 'relu' }).apply(bn(x)) as Sym; // (5, 5, 16)
  x = tfl.layers.conv2d({ filters: 32, kernelSize: 1 }).apply(x) as Sym; // bias, then BN
  x = tfl.layers.reLU({ maxValue: 6 }).apply(bn(x)) as Sym;
  const y = bn(tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same' }).apply(x) as Sym);
  x = tfl.layers.add().apply([x, y]) as Sym; // x has two readers: no chain across it
  x = tfl.layers.reLU().apply(x) as Sym;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as Sym;
  const out = tfl.layers.dense({ units: 4 }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: out });
}

/** Moving statistics and affine weights far from their initial values. */
function randomizeBatchNorms(model: tfl.LayersModel): void {
  for (const w of model.weights) {
    const name = w.originalName;
    if (!/gamma|beta|moving_/.test(name)) continue;
    const v = w.read() as tf.Variable;
    const lo = /variance|gamma/.test(name) ? 0.5 : -1;
    tf.tidy(() => v.assign(tf.randomUniform(v.shape, lo, lo + 1.5, 'float32', name.length)));
  }
}

function relativeError(got: tf.Tensor, want: tf.Tensor): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
    return diff / tf.max(tf.abs(want)).dataSync()[0];
  });
}

function assertSameAsModel(model: tfl.LayersModel, inference: InferenceModel, x: tf.Tensor) {
  const want = model.apply(x, { training: false }) as tf.Tensor;
  const got = inference.predict(x);
  const err = relativeError(got, want);
  tf.dispose([want, got]);
  assert.ok(err <= 1e-4, `relative error ${err.toExponential(2)} against model.apply`);
}

for (const backend of ['wasm', 'cpu']) {
  test(`${backend}: folded logits equal the model's, before and after training`, async () => {
    await tf.setBackend(backend);
    const model = net();
    randomizeBatchNorms(model);
    const x = tf.randomUniform([4, 9, 9, 3], -2, 2, 'float32', 7);
    const inference = new InferenceModel(model);
    assert.equal(inference.foldedBatchNorms, 4);
    assertSameAsModel(model, inference, x);

    // Training moves every weight and the moving statistics: the folded weights follow.
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const optimizer = tf.train.adam(0.05);
    for (let i = 0; i < 3; i++) {
      const loss = () => {
        const logits = model.apply(x, { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      };
      optimizer.minimize(loss, true)?.dispose();
    }
    assertSameAsModel(model, inference, x);

    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) inference.predict(x).dispose();
    assert.equal(tf.memory().numTensors, start, 'predict leaves no tensor behind');
    inference.dispose();
    tf.dispose([x, labels]);
    optimizer.dispose();
    model.dispose();
  });
}

test('wasm: the first three convolutions run as one chained kernel', async () => {
  await tf.setBackend('wasm');
  const model = net();
  const inference = new InferenceModel(model);
  const x = tf.zeros([2, 9, 9, 3]);
  const info = await tf.profile(() => inference.predict(x));
  const names = info.kernels.map((k) => k.name);
  assert.equal(names.filter((n) => n === CONV_CHAIN).length, 1, names.join(' '));
  // the chain (3 convolutions) and the residual branch's convolution
  assert.equal(names.filter((n) => /Conv2D|Depthwise/.test(n)).length, 1, names.join(' '));
  assert.ok(!names.includes(tf.FusedBatchNorm), 'no BatchNorm kernel runs');
  inference.dispose();
  x.dispose();
  model.dispose();
});

test('a model the walk does not cover (a layer applied twice) runs unchanged', async () => {
  await tf.setBackend('cpu');
  const input = tfl.input({ shape: [6, 6, 2] });
  const shared = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' });
  const twice = shared.apply(shared.apply(input)) as Sym;
  const out = tfl.layers.dense({ units: 3 }).apply(tfl.layers.flatten().apply(twice)) as Sym;
  const model = tfl.model({ inputs: input, outputs: out });
  const inference = new InferenceModel(model);
  assert.equal(inference.foldedBatchNorms, 0);
  const x = tf.randomUniform([2, 6, 6, 2]);
  assertSameAsModel(model, inference, x);
  x.dispose();
  model.dispose();
});

test('a failure inside the folded pass falls back to the model as it is, with a warning', async () => {
  await tf.setBackend('cpu');
  const model = net();
  randomizeBatchNorms(model);
  const inference = new InferenceModel(model);
  const conv = model.layers.find((l) => l.getClassName() === 'Conv2D')!;
  conv.getConfig = () => {
    throw new Error('a layer the walk cannot read');
  };
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const x = tf.randomUniform([2, 9, 9, 3], -2, 2, 'float32', 3);
  assertSameAsModel(model, inference, x);
  await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  process.off('warning', onWarning);
  assert.ok(warnings.some((w) => /without folding .*a layer the walk cannot read/.test(w)));
  assert.equal(inference.foldedBatchNorms, 0);
  x.dispose();
  model.dispose();
});
