/** The loop's guard: a non-finite loss stops the run, names the step and parts, keeps the last good checkpoint. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runLoop } from '../../src/train/loop.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { RunFolder } from '../../src/train/run.js';
import { SupervisedTask } from '../../src/train/supervised.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { NonFiniteLossError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { onCpu, testConfig, tinyDataset, tinyNet } from '../helpers.js';

before(onCpu);

test('a loss that blows up in epoch 2 stops the run; epoch 1 checkpoint stays intact', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-nan-'));
  // Epoch 0 trains normally; from epoch 1 the learning rate is 1e38 and the weights overflow.
  const config = testConfig({
    epochs: 3,
    out: dir,
    optim: { name: 'sgd', lr: 0.01, schedule: { kind: 'step', milestones: [1], gamma: 1e40 } },
  });
  const task = new SupervisedTask(tinyNet(4, 'nan'), config);
  const opt = new Optimizer(
    { name: 'sgd', momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    task.groups,
  );
  task.optimizer = opt;
  const data = { train: tinyDataset(32), test: tinyDataset(8, 4, 2) };
  const run = new RunFolder(dir);
  const before = fs.existsSync(run.lastCheckpoint);
  assert.equal(before, false);
  await assert.rejects(runLoop(task, config, data, run, opt, silentLogger), (e: Error) => {
    assert.ok(e instanceof NonFiniteLossError, e.message);
    assert.match(e.message, /loss is not finite at step (9|1[0-6]) \(ce=(NaN|Infinity)\)/);
    return true;
  });
  const ckpt = loadCheckpoint(run.lastCheckpoint);
  assert.equal(ckpt.epoch, 0, 'the last good checkpoint is epoch 0');
  assert.ok(
    ckpt.tensors.every((t) => t.data.every(Number.isFinite)),
    'its weights are finite',
  );
});
