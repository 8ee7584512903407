/** Teacher descriptors: validation, per-teacher preprocessing, TF.js teachers fed through one. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { loadTeachers } from '../../src/api.js';
import { saveModel } from '../../src/models/io.js';
import {
  DescribedTfjsTeacher,
  loadDescribedTeacher,
  preprocess,
  readDescriptor,
  validateDescriptor,
  type TeacherDescriptor,
} from '../../src/teachers/descriptor.js';
import { TfjsTeacher } from '../../src/teachers/teacher.js';
import { close, onCpu, tinyNet } from '../helpers.js';

before(onCpu);

const FIXTURE = 'test/fixtures/onnx-fashion/descriptor.json';

const valid = (): TeacherDescriptor => ({
  model: 'model.onnx',
  layout: 'NCHW',
  inputSize: [28, 28, 1],
  scale: 1,
  mean: [0.286],
  std: [0.353],
  output: 'logits',
  numClasses: 10,
});

function writeJson(value: unknown, name = 'teacher.json'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-desc-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

test('the committed fixture descriptor reads, named after its folder, model path resolved', () => {
  const d = readDescriptor(FIXTURE);
  assert.equal(d.name, 'onnx-fashion');
  assert.equal(d.model, path.resolve('test/fixtures/onnx-fashion/model.onnx'));
  assert.deepEqual(d.inputSize, [28, 28, 1]);
});

test('a descriptor missing fields names each one, with what to put there', () => {
  const d: Partial<TeacherDescriptor> = valid();
  delete d.layout;
  delete d.numClasses;
  assert.throws(
    () => validateDescriptor(d, 'x.json'),
    (e: Error) =>
      /x\.json has 2 problems/.test(e.message) &&
      /missing field "layout": "NCHW" \(PyTorch exports\) or "NHWC"/.test(e.message) &&
      /missing field "numClasses"/.test(e.message),
  );
});

test('wrong values are refused: layout, per-channel lengths, class names, unknown fields', () => {
  const bad = { ...valid(), layout: 'CHW', mean: [0.1, 0.2], extra: 1 };
  assert.throws(
    () => validateDescriptor(bad, 'x.json'),
    (e: Error) =>
      /layout: must be one of NCHW, NHWC/.test(e.message) &&
      /unknown field "extra"/.test(e.message),
  );
  assert.throws(
    () => validateDescriptor({ ...valid(), mean: [0.1, 0.2] }, 'x.json'),
    /mean: expected 1 value or one per channel \(1, from inputSize\), found 2/,
  );
  assert.throws(
    () => validateDescriptor({ ...valid(), classNames: ['a', 'b'] }, 'x.json'),
    /classNames: expected 10 names \(numClasses\), found 2/,
  );
  assert.doesNotThrow(() => validateDescriptor(valid(), 'x.json'));
});

test('a missing or unparsable descriptor file says which and what was expected', () => {
  assert.throws(() => readDescriptor('/nonexistent/teacher.json'), /does not exist/);
  const file = writeJson({});
  fs.writeFileSync(file, '{ not json');
  assert.throws(() => readDescriptor(file), /is not valid JSON/);
});

test('preprocessing: scale, then per-channel mean and std, then NCHW when asked', () => {
  const x = tf.tensor4d([0, 0.5, 1, 1, 0.5, 0], [1, 1, 2, 3]); // (B, H, W, C)
  const d = { ...valid(), inputSize: [1, 2, 3], scale: 255, mean: [0, 100, 255], std: [1, 2, 5] };
  const nhwc = preprocess(x, { ...d, layout: 'NHWC' } as TeacherDescriptor);
  close(nhwc.dataSync(), [0, 13.75, 0, 255, 13.75, -51], 1e-4, 'NHWC');
  const nchw = preprocess(x, d as TeacherDescriptor);
  assert.deepEqual(nchw.shape, [1, 3, 1, 2]);
  close(nchw.dataSync(), [0, 255, 13.75, 13.75, 0, -51], 1e-4, 'NCHW');
  tf.dispose([x, nhwc, nchw]);
});

async function savedTinyNet(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-tfjs-teacher-'));
  const model = tinyNet(4, 'described');
  await saveModel(model, dir, {
    format: 'meal-model/1',
    arch: 'tiny',
    inputShape: [8, 8, 1],
    numClasses: 4,
    output: 'logits',
    params: model.countParams(),
  });
  model.dispose();
  return dir;
}

test('a TF.js model through a descriptor gets that descriptor preprocessing', async () => {
  const dir = await savedTinyNet();
  const base = { ...valid(), inputSize: [8, 8, 1], numClasses: 4, layout: 'NHWC' };
  const file = writeJson({ ...base, model: dir, mean: [0.5], std: [0.25] });
  const teacher = await loadDescribedTeacher(file);
  assert.ok(teacher instanceof DescribedTfjsTeacher);
  const x = tf.randomUniform([3, 8, 8, 1]) as tf.Tensor4D;
  const got = teacher.predict(x);
  const want = (teacher as DescribedTfjsTeacher).model.predict(
    tf.div(tf.sub(x, 0.5), 0.25),
  ) as tf.Tensor;
  close(got.dataSync(), want.dataSync(), 1e-5, 'described teacher outputs');
  teacher.dispose();

  // Both kinds through loadTeachers: a .json is a descriptor, a folder a meal model.
  const both = await loadTeachers([file, dir]);
  assert.ok(both[0] instanceof DescribedTfjsTeacher);
  assert.ok(both[1] instanceof TfjsTeacher);
  both.forEach((t) => t.dispose());
});

test('a TF.js descriptor with the wrong layout or class count fails with both shapes', async () => {
  const dir = await savedTinyNet();
  const base = { ...valid(), model: dir, inputSize: [8, 8, 1], numClasses: 4 };
  await assert.rejects(
    loadDescribedTeacher(writeJson({ ...base, inputSize: [8, 8, 3], layout: 'NHWC' })),
    /input \[N, 8,8,3\], but .* takes \[N, 8,8,1\]/,
  );
  await assert.rejects(
    loadDescribedTeacher(writeJson({ ...base, layout: 'NHWC', numClasses: 10 })),
    /descriptor says 10 classes, .* outputs \[N,4\]. Set "numClasses"/,
  );
  await assert.rejects(
    loadDescribedTeacher(writeJson({ ...base, model: path.join(dir, 'nope') })),
    /does not exist/,
  );
});
