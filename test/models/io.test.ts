/** cases.md #15: a model with a custom layer loads in a fresh process; without the registration it names the layer. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { buildModel } from '../../src/models/registry.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { onCpu } from '../helpers.js';

before(onCpu);
const here = path.dirname(fileURLToPath(import.meta.url));

function fixedInput(): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => ((i * 37) % 255) / 255),
    [2, 28, 28, 1],
  );
}

async function savedModel(): Promise<{ dir: string; expected: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-model-'));
  const model = buildModel('cnn-tiny', {
    inputShape: [28, 28, 1],
    numClasses: 10,
    normalize: { mean: [0.286], std: [0.353] },
  });
  await saveModel(model, dir, {
    format: 'meal-model/1',
    arch: 'cnn-tiny',
    inputShape: [28, 28, 1],
    numClasses: 10,
    output: 'logits',
    params: 0,
  });
  const expected = Array.from((model.predict(fixedInput()) as tf.Tensor).dataSync());
  return { dir, expected };
}

test('case 15: a saved model with a custom layer gives identical outputs in a fresh process', async () => {
  const { dir, expected } = await savedModel();
  const child = spawnSync(process.execPath, [path.join(here, 'load-child.js'), 'meal', dir], {
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout.trim().split('\n').pop()!), expected);
});

test('case 15: without the registration, loading fails at once naming the layer', async () => {
  const { dir } = await savedModel();
  const child = spawnSync(process.execPath, [path.join(here, 'load-child.js'), 'plain', dir], {
    encoding: 'utf8',
  });
  assert.notEqual(child.status, 0);
  assert.match(child.stderr, /MealStandardize/);
});

test('a missing or truncated weights file is named', async () => {
  const { dir } = await savedModel();
  const weights = path.join(dir, 'weights.bin');
  fs.writeFileSync(weights, fs.readFileSync(weights).subarray(0, 100));
  await assert.rejects(loadModel(dir), /weights for .*model.json hold 100 bytes.*truncated/);
  fs.rmSync(weights);
  await assert.rejects(loadModel(dir), /weights.bin, which does not exist/);
  await assert.rejects(loadModel(path.join(dir, 'nope')), /does not exist/);
});
