/** cases.md #10: SGD momentum survives a checkpoint and a process restart; Adam matches PyTorch. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { lrAt } from '../../src/train/schedule.js';
import { close, onCpu } from '../helpers.js';

before(onCpu);

const SGD = { name: 'sgd' as const, momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

function sgdStep(opt: Optimizer, w: tf.Variable) {
  opt.apply({ [w.name]: tf.onesLike(w) }); // gradient always 1
}

test('case 10: uninterrupted SGD with momentum gives 0.9 then 0.71', () => {
  const w = tf.variable(tf.scalar(1));
  const opt = new Optimizer(SGD, [{ name: 'student', variables: [w], lr: 0.1, weightDecay: 0 }]);
  sgdStep(opt, w);
  close(w.dataSync(), [0.9], 1e-7);
  sgdStep(opt, w);
  close(w.dataSync(), [0.71], 1e-7);
});

test('case 10: resumed in a new process after step 1, the next step gives 0.71, not 0.80', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-momentum-'));
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'momentum-child.js');
  execFileSync(process.execPath, [script, 'first', dir]);
  const out = execFileSync(process.execPath, [script, 'resume', dir]).toString().trim();
  close([Number(out)], [0.71], 1e-6, 'w after the resumed step');
});

test('Adam follows PyTorch: first step moves each weight by lr', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Optimizer({ ...SGD, name: 'adam' }, [
    { name: 'g', variables: [w], lr: 0.01, weightDecay: 0 },
  ]);
  opt.apply({ [w.name]: tf.tensor1d([0.5, -3]) });
  close(w.dataSync(), [0.99, -1.99], 1e-6);
});

test('a gradient of another shape than its weight is refused before anything moves', () => {
  const w = tf.variable(tf.tensor1d([1, 2, 3]));
  const opt = new Optimizer({ ...SGD, name: 'adam' }, [
    { name: 'g', variables: [w], lr: 0.01, weightDecay: 0 },
  ]);
  // [1] would broadcast in tf ops, and the one-pass wasm kernel would read past its end.
  for (const shape of [[1], [2], [3, 1]]) {
    assert.throws(
      () => opt.apply({ [w.name]: tf.ones(shape) }),
      /gradient for weight '.*' has shape \[[0-9,]+\], expected \[3\]/,
    );
  }
  assert.deepEqual(Array.from(w.dataSync()), [1, 2, 3]);
  opt.apply({ [w.name]: tf.tensor1d([0.5, -3, 1]) });
  close(w.dataSync(), [0.99, 2.01, 2.99], 1e-6, 'the first step after the refusals is step 1');
});

test('schedules: step milestones and cosine', () => {
  const step = { kind: 'step' as const, milestones: [100], gamma: 0.1 };
  assert.deepEqual(
    [0, 99, 100, 300].map((e) => lrAt(step, 0.01, e)),
    [0.01, 0.01, 0.01 * 0.1, 0.01 * 0.1],
  );
  const cos = { kind: 'cosine' as const, epochs: 10 };
  close([lrAt(cos, 1, 0), lrAt(cos, 1, 5), lrAt(cos, 1, 10)], [1, 0.5, 0], 1e-12);
});
