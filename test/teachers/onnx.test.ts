/**
 * ONNX teachers (onnxruntime-node) against the committed PyTorch fixture made by
 * scripts/onnx-fixture/make_fixture.py: logits, top-1, each load error, and a
 * distillation whose ensemble mixes an ONNX and a TF.js teacher.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { evaluateModels } from '../../src/api.js';
import { resolveConfig } from '../../src/config.js';
import { DEBIAN_FASHION_DIR, loadSplit } from '../../src/data/dataset.js';
import type { Batch } from '../../src/data/loader.js';
import { LiveEnsemble } from '../../src/distill/soft-labels.js';
import { buildModel } from '../../src/models/registry.js';
import { loadDescribedTeacher } from '../../src/teachers/descriptor.js';
import { OnnxTeacher } from '../../src/teachers/onnx.js';
import { checkCompatible, TfjsTeacher, type Teacher } from '../../src/teachers/teacher.js';
import { close, onCpu } from '../helpers.js';

before(onCpu);

const FIXTURE_DIR = path.resolve('test/fixtures/onnx-fashion');
const DESCRIPTOR = path.join(FIXTURE_DIR, 'descriptor.json');
const REFERENCE = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'reference.json'), 'utf8')) as {
  test_top1: number;
  test_n: number;
  indices: number[];
  logits: number[][];
};

/** A descriptor file like the fixture's, with some fields changed. */
function variant(changes: Record<string, unknown>): string {
  const d = {
    ...JSON.parse(fs.readFileSync(DESCRIPTOR, 'utf8')),
    model: path.join(FIXTURE_DIR, 'model.onnx'),
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meal-onnx-')), 'teacher.json');
  fs.writeFileSync(file, JSON.stringify({ ...d, ...changes }));
  return file;
}

test('ONNX logits match the PyTorch reference within 1e-4', async () => {
  const ds = loadSplit(DEBIAN_FASHION_DIR, 'test', REFERENCE.indices.length);
  const teacher = await loadDescribedTeacher(DESCRIPTOR);
  assert.ok(teacher instanceof OnnxTeacher);
  const x = tf.tensor4d(
    Float32Array.from(ds.images, (v) => v / 255),
    [ds.n, ...ds.shape],
  );
  const logits = await teacher.predictAsync!(x);
  assert.deepEqual(logits.shape, [REFERENCE.indices.length, 10]);
  close(logits.dataSync(), REFERENCE.logits.flat(), 1e-4, 'ONNX vs PyTorch logits');
  tf.dispose([x, logits]);
  teacher.dispose();
});

test('meal eval of the ONNX teacher reproduces the PyTorch top-1 within 0.05 points', async () => {
  const config = resolveConfig(undefined, { backend: 'cpu', data: { dir: DEBIAN_FASHION_DIR } });
  const { rows } = await evaluateModels(config, [DESCRIPTOR]);
  assert.equal(rows[0].model, 'onnx-fashion');
  assert.ok(
    Math.abs(rows[0].top1 - REFERENCE.test_top1) <= 0.05,
    `meal top-1 ${rows[0].top1}, PyTorch ${REFERENCE.test_top1} on ${REFERENCE.test_n} images`,
  );
});

test('a wrong layout or input size is refused, naming both shapes and the fix', async () => {
  await assert.rejects(
    loadDescribedTeacher(variant({ layout: 'NHWC' })),
    new RegExp(
      'descriptor says NHWC .* input \\[N, 28, 28, 1\\], but .* takes \\[N, 1, 28, 28\\]\\. ' +
        'That is the NCHW layout: set "layout": "NCHW"',
    ),
  );
  await assert.rejects(
    loadDescribedTeacher(variant({ inputSize: [32, 32, 1] })),
    /input \[N, 1, 32, 32\], but .* takes \[N, 1, 28, 28\]\. Set "inputSize"/,
  );
});

test('a class count unlike the model, the data or the other teachers is refused', async () => {
  await assert.rejects(
    loadDescribedTeacher(variant({ numClasses: 5, classNames: undefined })),
    /expected output \[2, 5\] \(batch, numClasses\), found \[2, 10\].* Set "numClasses"/,
  );
  const teacher = await loadDescribedTeacher(DESCRIPTOR);
  assert.throws(() => checkCompatible([teacher], 5, [28, 28, 1]), /has 10 classes, expected 5/);
  teacher.dispose();
});

test('a missing or corrupt model file is named, with what was expected', async () => {
  await assert.rejects(
    loadDescribedTeacher(variant({ model: '/nonexistent/model.onnx' })),
    /expected an ONNX model at \/nonexistent\/model\.onnx .* does not exist/,
  );
  const corrupt = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meal-onnx-')), 'bad.onnx');
  fs.writeFileSync(corrupt, Buffer.from('this is not a protobuf'));
  await assert.rejects(
    loadDescribedTeacher(variant({ model: corrupt })),
    /bad\.onnx is not a loadable ONNX model .* export it again/,
  );
});

test('a mixed ONNX + TF.js ensemble: prepare, then labels; no tensor leaks', async () => {
  const onnx = await loadDescribedTeacher(DESCRIPTOR);
  const model = buildModel('cnn-tiny', { inputShape: [28, 28, 1], numClasses: 10 });
  const teachers: Teacher[] = [onnx, new TfjsTeacher('tiny', model, 10, [28, 28, 1], 'logits')];
  const ensemble = new LiveEnsemble(teachers);
  const x = tf.randomUniform([4, 28, 28, 1]) as tf.Tensor4D;
  const batch = { size: 4 } as Batch;

  assert.throws(() => onnx.predict(x), /runs on ONNX Runtime, which is asynchronous/);
  assert.throws(() => ensemble.labels(batch, x, false), /await ensemble.prepare/);

  const before = tf.memory().numTensors;
  await ensemble.prepare(batch, x);
  const soft = ensemble.labels(batch, x, true);
  const scored = await ensemble.scoreAsync(x);
  close(soft.probs.dataSync(), scored.dataSync(), 1e-6, 'labels vs scoreAsync');
  const sums = tf.sum(soft.probs, -1);
  close(sums.dataSync(), [1, 1, 1, 1], 1e-5, 'rows sum to 1');
  assert.deepEqual(soft.logits!.shape, [4, 10]);
  tf.dispose([soft.probs, soft.logits!, scored, sums]);
  assert.equal(tf.memory().numTensors, before, 'tensor count after prepare + labels + score');

  // Prepared outputs are used once: the next batch needs its own prepare.
  assert.throws(() => ensemble.labels(batch, x, false), /has no outputs for this batch/);
  x.dispose();
  teachers.forEach((t) => t.dispose());
});

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const SMALL = [
  '--data',
  'assets/fashion-mnist-subset',
  '--train-limit',
  '320',
  '--test-limit',
  '200',
];

function meal(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args, '--batch-size', '32'], { encoding: 'utf8' });
}

test(
  'meal distill with an ONNX and a TF.js teacher reports every accuracy',
  { timeout: 300_000 },
  () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-onnx-e2e-'));
    const tfjs = path.join(root, 'tfjs-teacher');
    const trained = meal(['train', ...SMALL, '--arch', 'cnn-tiny', '--epochs', '1', '--out', tfjs]);
    assert.equal(trained.status, 0, trained.stderr);

    const out = path.join(root, 'distill');
    const common = ['--teacher', path.join(tfjs, 'model'), '--init', path.join(tfjs, 'model')];
    const run = meal([
      'distill',
      ...SMALL,
      '--teacher',
      DESCRIPTOR,
      ...common,
      '--epochs',
      '1',
      '--out',
      out,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    const roles = summary.table.map((r: { model: string; role: string }) => `${r.model}/${r.role}`);
    assert.deepEqual(roles, [
      'onnx-fashion/teacher',
      'tfjs-teacher/teacher',
      'ensemble of 2/ensemble',
      'tfjs-teacher/student (init)',
      'distill/student (distilled)',
    ]);
    for (const r of summary.table) assert.ok(r.top1 >= 0 && r.top1 <= 100, JSON.stringify(r));
    assert.ok(summary.table[0].top1 > 80, `ONNX teacher top-1 ${summary.table[0].top1}`);

    // A descriptor error stops the run before any training step: no checkpoint is written.
    const bad = path.join(root, 'bad');
    const refused = meal([
      'distill',
      ...SMALL,
      '--teacher',
      variant({ numClasses: 5, classNames: undefined }),
      ...common,
      '--out',
      bad,
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /expected output \[2, 5\]/);
    assert.ok(
      !fs.existsSync(path.join(bad, 'checkpoints')),
      'no checkpoint after a refused teacher',
    );
  },
);
