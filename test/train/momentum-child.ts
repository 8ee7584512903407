/** Child process for the resume test: one SGD step and a checkpoint, or a resume and a step. */
import * as path from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

await tf.setBackend('cpu');
const [mode, dir] = process.argv.slice(2);
const file = path.join(dir, 'last.ckpt');
const w = tf.variable(tf.scalar(1));
const opt = new Optimizer({ name: 'sgd', momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, [
  { name: 'student', variables: [w], lr: 0.1, weightDecay: 0 },
]);
if (mode === 'resume') {
  const ckpt = loadCheckpoint(file);
  w.assign(tf.tensor(ckpt.tensors[0].data, []));
  opt.setState({
    step: ckpt.meta.step as number,
    slots: [{ group: 'student', index: 0, m: ckpt.tensors[1].data }],
  });
}
opt.apply({ [w.name]: tf.onesLike(w) });
if (mode === 'first') {
  const state = opt.getState();
  saveCheckpoint(file, {
    epoch: 0,
    meta: { step: state.step },
    tensors: [
      { name: 'w', shape: [], data: w.dataSync() as Float32Array },
      { name: 'm', shape: [], data: state.slots[0].m },
    ],
  });
}
process.stdout.write(`${w.dataSync()[0]}\n`);
