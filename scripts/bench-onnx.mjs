#!/usr/bin/env node
/**
 * Teacher inference speed, images per second at batch 128: the ONNX fixture
 * (test/fixtures/onnx-fashion, a PyTorch export) on onnxruntime-node, against
 * the same network built layer for layer in TensorFlow.js on the wasm backend
 * meal uses. Run after `npm run build`:
 *
 *   node scripts/bench-onnx.mjs [--batch 128] [--runs 20] [--threads 1,2]
 *
 * Runs alternate between the runtimes so background load hits both alike; the
 * median is reported. Teachers only run inference, so this is the cost of one
 * live-ensemble label per training image.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { tf, tfl } from '../dist/src/engine/tf.js';
import { initEngine } from '../dist/src/engine/backend.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '128' },
    runs: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1,2' },
    child: { type: 'boolean', default: false },
  },
});
const B = Number(values.batch);
const RUNS = Number(values.runs);
const THREADS = values.threads.split(',').map(Number);
const MODEL = new URL('../test/fixtures/onnx-fashion/model.onnx', import.meta.url).pathname;

/** The fixture's SmallCNN (scripts/onnx-fixture/make_fixture.py) in NHWC; weights do not matter. */
function smallCnn() {
  const input = tfl.input({ shape: [28, 28, 1] });
  let x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' });
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x.apply(input));
  x = tfl.layers
    .conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' })
    .apply(x);
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = tfl.layers.flatten().apply(x);
  x = tfl.layers.dense({ units: 32, activation: 'relu' }).apply(x);
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 10 }).apply(x) });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** One thread count in this process: wasm's thread pool is fixed once the backend starts. */
async function measure(threads) {
  const engine = await initEngine({ backend: 'wasm', threads });
  const model = smallCnn();
  const xs = tf.randomUniform([B, 28, 28, 1]);
  const session = await ort.InferenceSession.create(MODEL, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feed = { pixels: new ort.Tensor('float32', new Float32Array(B * 28 * 28), [B, 1, 28, 28]) };
  const tfjsRun = async () => {
    const y = model.predict(xs);
    await y.data(); // wait for the result, as a teacher does before its labels are used
    y.dispose();
  };
  const ortRun = () => session.run(feed);
  for (let i = 0; i < 3; i++) await time(tfjsRun).then(() => time(ortRun)); // warm up

  const t = { tfjs: [], ort: [] };
  for (let i = 0; i < RUNS; i++) {
    t.tfjs.push(await time(tfjsRun));
    t.ort.push(await time(ortRun));
  }
  const plural = (n) => `${n} thread${n > 1 ? 's' : ''}`;
  return [
    [`TF.js wasm (${plural(engine.threads)})`, median(t.tfjs)],
    [`onnxruntime-node (${plural(threads)})`, median(t.ort)],
  ].map(([runtime, ms]) => ({
    runtime,
    ms_per_batch: +ms.toFixed(1),
    images_per_s: Math.round((1000 * B) / ms),
  }));
}

if (values.child) {
  process.stdout.write(JSON.stringify(await measure(THREADS[0])) + '\n');
  process.exit(0); // the wasm thread pool would keep Node alive
}
const results = [];
for (const threads of THREADS) {
  const args = [fileURLToPath(import.meta.url), '--child', '--batch', `${B}`, '--runs', `${RUNS}`];
  const r = spawnSync(process.execPath, [...args, '--threads', `${threads}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`benchmark with ${threads} threads failed:\n${r.stderr}`);
  results.push(...JSON.parse(r.stdout.trim().split('\n').pop()));
}
console.log(
  `teacher inference, SmallCNN (55,338 params), batch ${B}, median of ${RUNS}; ` +
    `${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}`,
);
console.table(results);
