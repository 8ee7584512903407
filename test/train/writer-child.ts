/** Child process for the crash test: writes checkpoints of epoch 0, 1, 2, ... until killed. */
import { saveCheckpoint } from '../../src/train/checkpoint.js';

const file = process.argv[2];
saveCheckpoint(file, {
  epoch: 0,
  meta: {},
  tensors: [{ name: 'w', shape: [4_000_000], data: new Float32Array(4_000_000) }],
});
process.stdout.write('ready\n');
for (let epoch = 1; ; epoch++) {
  const data = new Float32Array(4_000_000).fill(epoch);
  saveCheckpoint(file, { epoch, meta: {}, tensors: [{ name: 'w', shape: [4_000_000], data }] });
}
