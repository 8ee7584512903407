/** cases.md #9 and #5: teachers stay in inference mode; a softmax declared as logits is flagged. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl } from '../../src/engine/tf.js';
import { checkCompatible, outputKindWarning, TfjsTeacher } from '../../src/teachers/teacher.js';
import { close, onCpu } from '../helpers.js';

before(onCpu);

test('case 9: a teacher uses moving statistics and never updates them, even inside a training step', () => {
  const input = tfl.input({ shape: [1] });
  const bn = tfl.layers.batchNormalization({ epsilon: 1e-5, name: 'teacher_bn' });
  const model = tfl.model({ inputs: input, outputs: bn.apply(input) as tfl.SymbolicTensor });
  const teacher = new TfjsTeacher('bn', model, 1, [1, 1, 1], 'logits');
  const before = model.weights.map((w) => Float32Array.from(w.read().dataSync()));
  const x = tf.tensor2d([[1], [3]]) as unknown as tf.Tensor4D;
  const w = tf.variable(tf.scalar(1));
  for (let step = 0; step < 100; step++) {
    // The teacher runs inside a gradient computation, as it does in a distillation step.
    const { grads } = tf.variableGrads(() => {
      const out = teacher.predict(x);
      close(out.dataSync(), [0.999995, 2.999985], 1e-6, `teacher output at step ${step}`);
      return tf.sum(tf.mul(out, w)) as tf.Scalar;
    }, [w]);
    tf.dispose(grads);
  }
  const after = model.weights.map((v) => Float32Array.from(v.read().dataSync()));
  before.forEach((b, i) =>
    assert.deepEqual(after[i], b, `weight ${model.weights[i].name} bitwise unchanged`),
  );
});

test('case 5: a logits teacher whose rows look like probabilities gets a warning', () => {
  const input = tfl.input({ shape: [3] });
  const model = tfl.model({
    inputs: input,
    outputs: tfl.layers.softmax().apply(input) as tfl.SymbolicTensor,
  });
  const declaredLogits = new TfjsTeacher('softmaxed', model, 3, [3, 1, 1], 'logits');
  const probs = tf.tensor2d([[0.7, 0.2, 0.1]]);
  assert.match(outputKindWarning(declaredLogits, probs) ?? '', /declare output "probabilities"/);
  assert.equal(outputKindWarning(declaredLogits, tf.tensor2d([[2, -1, 0.5]])), undefined);
  const declaredProbs = new TfjsTeacher('ok', model, 3, [3, 1, 1], 'probabilities');
  assert.equal(outputKindWarning(declaredProbs, probs), undefined);
});

test('a teacher with another class count or input size is refused with both numbers', () => {
  const input = tfl.input({ shape: [3] });
  const model = tfl.model({
    inputs: input,
    outputs: tfl.layers.dense({ units: 5 }).apply(input) as tfl.SymbolicTensor,
  });
  const t = new TfjsTeacher('five', model, 5, [28, 28, 1], 'logits');
  assert.throws(() => checkCompatible([t], 10, [28, 28, 1]), /five has 5 classes, expected 10/);
  assert.throws(
    () => checkCompatible([t], 5, [32, 32, 3]),
    /takes input 28x28x1, expected 32x32x3/,
  );
});
