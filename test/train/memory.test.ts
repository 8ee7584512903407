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
import type { Task } from '../../src/train/task.js';
import { TfjsTeacher } from '../../src/teachers/teacher.js';
import { classHash, datasetHash, LabelCache } from '../../src/labels/cache.js';
import { generateLabels } from '../../src/labels/generate.js';
import { silentLogger } from '../../src/util/logger.js';
import type { Dataset } from '../../src/data/dataset.js';
import { onCpu, testConfig, tinyDataset, tinyNet } from '../helpers.js';

before(onCpu);

/** Stored soft labels of `ensemble` for `ds`, replayed from a file. */
async function cached(ensemble: LiveEnsemble, ds: Dataset): Promise<LabelCache> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meal-mem-labels-')), 'l');
  await generateLabels({
    file,
    header: {
      format: 'meal-labels',
      version: 1,
      numClasses: 4,
      classNames: ds.classNames,
      classHash: classHash(ds.classNames),
      teachers: [],
      data: { name: ds.name, n: ds.n, shape: ds.shape, sha256: datasetHash(ds) },
      crops: { perSample: 2, augment: { cropPadding: 1, flip: true } },
      compression: { kind: 'topk', k: 2, rule: 'marginal_smoothing', dtype: 'float16' },
      seed: 0,
      partSize: 64,
    },
    ensemble,
    ds,
    batchSize: 64,
    log: silentLogger,
  });
  return LabelCache.open(file);
}

for (const kind of ['distill', 'distill (stored labels)', 'train'] as const) {
  test(`case 14 (${kind}): tensor count after steps 2, 50, 100 and ten checkpoint saves is the same`, async () => {
    const config = testConfig({ optim: { name: 'adam' } });
    const tag = kind.replace(/\W+/g, '_');
    const student = tinyNet(4, `mem_${tag}_s`);
    const teachers = [0, 1].map(
      (i) => new TfjsTeacher(`t${i}`, tinyNet(4, `mem_${tag}_t${i}`), 4, [8, 8, 1], 'logits'),
    );
    const ds = tinyDataset(400);
    const task: Task =
      kind === 'train'
        ? new SupervisedTask(student, config)
        : new DistillTask(
            student,
            kind === 'distill'
              ? new LiveEnsemble(teachers)
              : await cached(new LiveEnsemble(teachers), ds),
            config,
            4,
          );
    const opt = new Optimizer(
      { name: 'adam', momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      task.groups,
    );
    task.optimizer = opt;
    const counts: Record<number, number> = {};
    let step = 0;
    for await (const batch of epochBatches(ds, 0, {
      batchSize: 4,
      shuffle: true,
      seed: 0,
      augment: { cropPadding: 1, flip: true },
      replay: task.replay,
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
