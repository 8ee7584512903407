/**
 * Single 3x3 convolutions of the reference nets' shapes, ours (wasm, XNNPACK) against PyTorch
 * in the same run: the floor under a training step, since a step is mostly convolutions.
 *
 *     tsc -p . && node dist/bench/convs.js [--threads 2]
 *
 * Prints GFLOP/s per shape; bench/convs.py is the PyTorch side.
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

const { values } = parseArgs({ options: { threads: { type: 'string' } } });
const engine = await initEngine({
  backend: 'wasm',
  threads: values.threads ? Number(values.threads) : undefined,
});

const ours = SHAPES.map(([h, c, o, s]) => {
  const x = tf.randomNormal([128, h, h, c]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, c, o]) as tf.Tensor4D;
  const ms = medianMs(() => tf.conv2d(x, w, s, 'same'), 10);
  tf.dispose([x, w]);
  return ms;
});
const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/convs.py');
const py = process.env.MEAL_TORCH_PYTHON ?? '/usr/bin/python3';
const r = spawnSync(py, [script, String(engine.threads)], { encoding: 'utf8' });
const torch = r.status === 0 ? (JSON.parse(r.stdout) as number[]) : undefined;

console.log(`batch 128, 3x3 'same', ${engine.backend}/${engine.threads} threads vs PyTorch`);
console.log('| input | out | stride | GFLOP | ours ms | GFLOP/s | torch ms | GFLOP/s | ratio |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
SHAPES.forEach(([h, c, o, s], i) => {
  const oh = Math.ceil(h / s);
  const gf = (128 * oh * oh * o * c * 9 * 2) / 1e9;
  const t = torch?.[i];
  const cells = [`${h}x${h}x${c}`, o, s, gf.toFixed(2), ours[i].toFixed(1)];
  cells.push((gf / (ours[i] / 1000)).toFixed(0));
  if (t !== undefined)
    cells.push(t.toFixed(1), (gf / (t / 1000)).toFixed(0), (ours[i] / t).toFixed(1));
  console.log(`| ${cells.join(' | ')} |`);
});
process.exit(0);
