/** Shared fixtures: small real tensors, tiny models and data sets made in memory. */
import assert from 'node:assert/strict';
import { tf, tfl } from '../src/engine/tf.js';
import type { Dataset } from '../src/data/dataset.js';
import { DEFAULTS, merge, type DeepPartial, type MealConfig } from '../src/config.js';

export async function onCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 1e-4,
  what = 'value',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: expected ${expected[i]}, got ${actual[i]} (tolerance ${tol})`,
    );
  }
}

export function scalar(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** A data set of n random 8x8 grey images with labels i mod classes. */
export function tinyDataset(n: number, classes = 4, seed = 1): Dataset {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  return {
    name: 'tiny',
    images: Uint8Array.from({ length: n * 64 }, rand),
    labels: Uint8Array.from({ length: n }, (_, i) => i % classes),
    n,
    shape: [8, 8, 1],
    numClasses: classes,
    classNames: [...Array(classes).keys()].map(String),
  };
}

/** A small conv + BatchNorm + dense net on 8x8x1: every kind of layer the real nets use. */
export function tinyNet(classes = 4, name = 'tiny'): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 1] });
  let x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: `${name}_conv` })
    .apply(input);
  x = tfl.layers.batchNormalization({ name: `${name}_bn` }).apply(x);
  x = tfl.layers.reLU().apply(x);
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = tfl.layers.flatten().apply(x);
  const out = tfl.layers.dense({ units: classes, name: `${name}_fc` }).apply(x);
  return tfl.model({ inputs: input, outputs: out as tfl.SymbolicTensor });
}

export function testConfig(over: DeepPartial<MealConfig> = {}): MealConfig {
  return merge(
    merge(DEFAULTS, { backend: 'cpu', batchSize: 4, epochs: 1, evalBatchSize: 8 }),
    over,
  );
}
