/** cases.md #14: the tensor count is flat across training steps and checkpoint saves. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { LiveEnsemble } from '../../src/distill/soft-labels.js';
import { DistillTask } from '../../src/distill/task.js';
import { epochBatches } from '../../src/data/loader.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { SupervisedTask } from '../../src/train/supervised.js';
import { TfjsTeacher } from '../../src/teachers/teacher.js';
import { onCpu, testConfig, tinyDataset, tinyNet } from '../helpers.js';

before(onCpu);

for (const kind of ['distill', 'train'] as const) {
  test(`case 14 (${kind}): tensor count after steps 2, 50, 100 and ten checkpoint saves is the same`, async () => {
    const config = testConfig({ optim: { name: 'adam' } });
    const student = tinyNet(4, `mem_${kind}_s`);
    const teachers = [0, 1].map(
      (i) => new TfjsTeacher(`t${i}`, tinyNet(4, `mem_${kind}_t${i}`), 4, [8, 8, 1], 'logits'),
    );
    const task =
      kind === 'distill'
        ? new DistillTask(student, new LiveEnsemble(teachers), config, 4)
        : new SupervisedTask(student, config);
    const opt = new Optimizer(
      { name: 'adam', momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      task.groups,
    );
    task.optimizer = opt;
    const ds = tinyDataset(400);
    const counts: Record<number, number> = {};
    let step = 0;
    for await (const batch of epochBatches(ds, 0, {
      batchSize: 4,
      shuffle: true,
      seed: 0,
      augment: { cropPadding: 1, flip: true },
    })) {
      const out = task.step(batch);
      tf.dispose([...Object.values(out.losses), out.correct]);
      step += 1;
      if ([2, 50, 100].includes(step)) counts[step] = tf.memory().numTensors;
    }
    assert.equal(
      counts[50],
      counts[2],
      `tensors after step 50 (${counts[50]}) vs step 2 (${counts[2]})`,
    );
    assert.equal(
      counts[100],
      counts[2],
      `tensors after step 100 (${counts[100]}) vs step 2 (${counts[2]})`,
    );

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-mem-'));
    for (let i = 0; i < 10; i++) {
      const tensors = [
        ...task.student.weights.map((w, j) => ({
          name: `s${j}`,
          shape: w.shape as number[],
          data: w.read().dataSync() as Float32Array,
        })),
        ...task.extraState(),
      ];
      saveCheckpoint(path.join(dir, 'last.ckpt'), {
        epoch: i,
        meta: { opt: opt.getState().step },
        tensors,
      });
    }
    assert.equal(tf.memory().numTensors, counts[2], 'tensors after ten checkpoint saves');
  });
}
