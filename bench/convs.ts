/**
 * Single 3x3 convolutions of the reference nets' shapes, forward and both gradients, ours
 * (the engine's kernels: native on wasm unless --no-native-kernels) against PyTorch in the same
 * run: the floor under a training step, since a step is mostly convolutions.
 *
 *     tsc -p . && node dist/bench/convs.js [--threads 2] [--no-native-kernels]
 *
 * Prints ms and GFLOP/s per shape; bench/convs.py is the PyTorch side.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initEngine } from '../src/engine/backend.js';
import { tf } from '../src/engine/tf.js';
import { medianMs } from './timing.js';

export const SHAPES: [number, number, number, number][] = [
  [28, 32, 32, 1],
  [28, 32, 64, 2],
  [14, 32, 64, 1],
  [14, 64, 64, 1],
  [7, 128, 128, 1],
];

const { values } = parseArgs({
  options: { threads: { type: 'string' }, 'no-native-kernels': { type: 'boolean' } },
});
const engine = await initEngine({
  backend: 'wasm',
  threads: values.threads ? Number(values.threads) : undefined,
  nativeKernels: !values['no-native-kernels'],
});

/** [forward, input gradient, filter gradient] ms per shape. */
const ours = SHAPES.map(([h, c, o, s]) => {
  const x = tf.randomNormal([128, h, h, c]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, c, o]) as tf.Tensor4D;
  const oh = Math.ceil(h / s);
  const dy = tf.randomNormal([128, oh, oh, o]) as tf.Tensor4D;
  const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const run = (kernel: string, inputs: tf.NamedTensorMap, extra: object) => () =>
    tf.engine().runKernel(kernel, inputs, { ...attrs, ...extra } as never) as tf.Tensor;
  // The wasm backend and the native kernels are synchronous: the work is done when the kernel
  // returns. Reading the output back would add a copy of it (dataSync: ~8 ms for 12.8 MB).
  const timed = (make: () => tf.Tensor) =>
    medianMs(() => {
      tf.tidy(() => {
        make();
      });
      return tf.scalar(0);
    }, 10);
  const ms = [
    timed(() => tf.conv2d(x, w, s, 'same')),
    timed(run(tf.Conv2DBackpropInput, { dy, filter: w }, { inputShape: x.shape })),
    timed(run(tf.Conv2DBackpropFilter, { x, dy }, { filterShape: w.shape })),
  ];
  tf.dispose([x, w, dy]);
  return ms;
});
const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/convs.py');
const py = process.env.MEAL_TORCH_PYTHON ?? '/usr/bin/python3';
const r = spawnSync(py, [script, String(engine.threads)], { encoding: 'utf8' });
const torch = r.status === 0 ? (JSON.parse(r.stdout) as number[][]) : undefined;

console.log(`batch 128, 3x3 'same', ms (GFLOP/s), ${engine.backend}/${engine.threads} threads`);
console.log(
  '| input | out | stride | forward | torch | input grad | torch | filter grad | torch |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
SHAPES.forEach(([h, c, o, s], i) => {
  const oh = Math.ceil(h / s);
  const gf = (128 * oh * oh * o * c * 9 * 2) / 1e9; // the same for all three
  const cell = (ms: number | undefined) =>
    ms === undefined ? '-' : `${ms.toFixed(1)} (${(gf / (ms / 1000)).toFixed(0)})`;
  const cells = [`${h}x${h}x${c}`, o, s];
  for (let k = 0; k < 3; k++) cells.push(cell(ours[i][k]), cell(torch?.[i][k]));
  console.log(`| ${cells.join(' | ')} |`);
});
process.exit(0);
