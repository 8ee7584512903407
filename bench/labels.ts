/**
 * Seconds per epoch of `meal distill` with live teachers and with the soft-label cache, same
 * student, batch and machine, in one run (issue: soft-label cache):
 *
 *     npm run bench:labels -- [--recipe recipes/labels-experiment.json] [--data DIR] [--crops 4]
 *                             [--labels FILE] [--train-limit N] [--repeat N] [--json]
 *
 * It makes (or reuses, when complete for the same settings) the label file first, then runs one
 * epoch each way through the library, reading each epoch's training seconds from the run's
 * metrics. It also times the teachers alone over the same epoch of batches: removing them can
 * at best turn live seconds L into L - T, so the expected speed-up is L / (L - T).
 * With --json the last line is {"live_epoch_s", "cached_epoch_s", "speedup", "label_bytes",
 * "teacher_epoch_s", "expected_speedup", "label_seconds"}.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, loadTeachers, makeLabels } from '../src/api.js';
import { augmentOf, readRecipe, resolveConfig, type MealConfig } from '../src/config.js';
import { loadSplit, resolveDataDir, DEBIAN_FASHION_DIR } from '../src/data/dataset.js';
import { epochBatches } from '../src/data/loader.js';
import { LiveEnsemble } from '../src/distill/soft-labels.js';
import { tf } from '../src/engine/tf.js';
import { teeLogger } from '../src/util/logger.js';
import { median } from './timing.js';

const { values: args } = parseArgs({
  options: {
    recipe: { type: 'string', default: 'recipes/labels-experiment.json' },
    data: { type: 'string', default: DEBIAN_FASHION_DIR },
    crops: { type: 'string', default: '4' },
    labels: { type: 'string', default: 'runs/labels/bench-m4-full16.labels' },
    'train-limit': { type: 'string', default: '0' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

const log = teeLogger((l) => process.stderr.write(l + '\n'));
const base = resolveConfig(readRecipe(args.recipe!), {
  data: { dir: args.data, trainLimit: Number(args['train-limit']) },
  epochs: 1,
  labels: { file: args.labels, crops: Number(args.crops), compression: 'full', dtype: 'float16' },
});
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-bench-labels-'));

/** Training seconds of the one epoch a run made. */
async function epochSeconds(config: MealConfig, out: string): Promise<number> {
  await distill({ ...config, out: path.join(root, out) }, { log });
  const line = fs
    .readFileSync(path.join(root, out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')[0];
  return (JSON.parse(line) as { epoch_s: number }).epoch_s;
}

/** The teachers alone over one epoch of the same batches: what the cache removes. */
async function teacherSeconds(config: MealConfig): Promise<number> {
  const teachers = await loadTeachers(config.teachers);
  const ensemble = new LiveEnsemble(teachers);
  const ds = loadSplit(resolveDataDir(config.data.dir), 'train', config.data.trainLimit);
  const opts = {
    batchSize: config.batchSize,
    shuffle: true,
    dropLast: true,
    seed: config.seed,
    augment: augmentOf(config),
  };
  let seconds = 0;
  for await (const batch of epochBatches(ds, 0, opts)) {
    const t0 = performance.now();
    const x = tf.tensor4d(batch.x, [batch.size, ...ds.shape]);
    await ensemble.prepare(batch, x);
    const { probs } = ensemble.labels(batch, x, false);
    probs.dataSync();
    tf.dispose([x, probs]);
    seconds += (performance.now() - t0) / 1000;
  }
  teachers.forEach((t) => t.dispose());
  return seconds;
}

const made = await makeLabels(base, { log });
const labelSeconds = made.seconds;
// Epoch times vary by a few percent; --repeat N interleaves N rounds and keeps the medians.
const rounds: { live: number; cached: number; teacher: number }[] = [];
for (let r = 0; r < Number(args.repeat); r++) {
  rounds.push({
    live: await epochSeconds({ ...base, labels: { ...base.labels, file: '' } }, `live-${r}`),
    cached: await epochSeconds(base, `cached-${r}`),
    teacher: await teacherSeconds(base),
  });
}
const live = median(rounds.map((r) => r.live));
const cached = median(rounds.map((r) => r.cached));
const teacher = median(rounds.map((r) => r.teacher));
const range = (k: 'live' | 'cached' | 'teacher') =>
  rounds.length > 1 ? `  (${rounds.map((r) => r[k].toFixed(1)).join(', ')})` : '';
const result = {
  live_epoch_s: live,
  cached_epoch_s: cached,
  speedup: live / cached,
  label_bytes: made.bytes,
  teacher_epoch_s: teacher,
  expected_speedup: live / Math.max(1e-9, live - teacher),
  label_seconds: labelSeconds,
};
const f = (v: number) => v.toFixed(1);
process.stdout.write(
  [
    `distill, one epoch of ${base.data.trainLimit || 'all'} training images, batch ${base.batchSize}, ` +
      `${base.teachers.length} teachers:`,
    `  live teachers     ${f(live)} s${range('live')}`,
    `  stored labels     ${f(cached)} s   (${made.bytes.toLocaleString('en-US')} bytes, ` +
      `${base.labels.crops} crops per image, made in ${f(labelSeconds)} s)${range('cached')}`,
    `  speed-up          ${result.speedup.toFixed(2)}x`,
    `  teachers alone    ${f(teacher)} s of the live epoch: expected speed-up ` +
      `${result.expected_speedup.toFixed(2)}x${range('teacher')}`,
    '',
  ].join('\n'),
);
if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
fs.rmSync(root, { recursive: true, force: true });
process.exit(0);
