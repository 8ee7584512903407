/**
 * Where a training step's time goes, kernel by kernel:
 *
 *     tsc -p . && node dist/bench/profile.js [--backend wasm] [--threads 2] [--nets a,b] [--batch 128]
 *
 * Times include the kernels a composite kernel calls (they are listed too), so a project kernel
 * built from stock ones appears with its own total and again through its parts.
 */
import { parseArgs } from 'node:util';
import { initEngine, type BackendChoice } from '../src/engine/backend.js';
import { tf } from '../src/engine/tf.js';
import { makeStepBench } from './train_step.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    nets: { type: 'string', default: 'cnn-small,resnet-mini,mobilenet-mini' },
    batch: { type: 'string', default: '128' },
    top: { type: 'string', default: '15' },
  },
});

const engine = await initEngine({
  backend: values.backend as BackendChoice,
  threads: values.threads ? Number(values.threads) : undefined,
  log: (l) => console.log(l),
});
for (const net of values.nets.split(',')) {
  const bench = makeStepBench(net, Number(values.batch));
  for (let i = 0; i < 2; i++) bench.trainStep().dispose(); // warm-up: XNNPACK builds operators
  const t0 = performance.now();
  const info = await tf.profile(() => bench.trainStep());
  const wall = performance.now() - t0;
  const byName = new Map<string, { ms: number; calls: number; shapes: string }>();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, calls: 0, shapes: '' };
    e.ms += k.kernelTimeMs as number;
    e.calls += 1;
    if (!e.shapes) e.shapes = JSON.stringify(k.inputShapes);
    byName.set(k.name, e);
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.log(
    `\n${net} on ${engine.backend}/${engine.threads}: step ${wall.toFixed(0)} ms (profiled)`,
  );
  for (const [name, e] of rows.slice(0, Number(values.top))) {
    const line = `${name.padEnd(36)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)}x`;
    console.log(`${line}  e.g. ${e.shapes.slice(0, 60)}`);
  }
  bench.dispose();
}
