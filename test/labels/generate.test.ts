/**
 * Making the soft-label file: a killed generation resumes to the same bytes,
 * shards merge to the same bytes, and `meal distill --labels` trains from it
 * without building or running a teacher.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distill, makeLabels } from '../../src/api.js';
import { decodeHeader } from '../../src/labels/format.js';
import { onCpu } from '../helpers.js';
import { labelConfig, labelsFile, saveTeacher, SUBSET, tempDir } from './helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** The part bytes of a label file: everything after its header (the header records timings). */
function body(file: string): Buffer {
  const buf = fs.readFileSync(file);
  return buf.subarray(decodeHeader(buf, file).bodyStart);
}

let root: string;
let teachers: string[];

before(async () => {
  await onCpu();
  root = tempDir('labelgen');
  teachers = [
    await saveTeacher(path.join(root, 'a'), 'cnn-small'),
    await saveTeacher(path.join(root, 'b'), 'mlp'),
  ];
});

test('a killed generation resumes from its whole parts, remakes a broken one, and ends byte-identical', async () => {
  const args = (file: string) => [
    CLI,
    'labels',
    '--data',
    SUBSET,
    '--train-limit',
    '480',
    '--test-limit',
    '50',
    '--crops',
    '4',
    '--part-size',
    '40',
    '--threads',
    '1',
    ...teachers.flatMap((t) => ['--teacher', t]),
    '--out',
    file,
  ];
  const whole = path.join(root, 'whole.labels');
  const ok = spawnSync(process.execPath, args(whole), { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);

  // Kill the second run once two parts are on disk.
  const file = path.join(root, 'killed.labels');
  const work = `${file}.parts`;
  const child = spawn(process.execPath, args(file), { stdio: 'ignore' });
  const parts = () =>
    fs.existsSync(work) ? fs.readdirSync(work).filter((f) => f.startsWith('part-')) : [];
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (parts().length >= 2) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the generation ended before it could be killed'));
    });
  });
  await new Promise((r) => child.once('exit', r));
  assert.ok(!fs.existsSync(file), 'no final file after the kill');
  const done = parts().sort();
  assert.ok(done.length >= 2 && done.length < 12, `${done.length} of 12 parts were done`);

  // A half-written part and a stray temporary file are never trusted.
  const first = path.join(work, done[0]);
  fs.truncateSync(first, fs.statSync(first).size - 10);
  fs.writeFileSync(path.join(work, '.part-000011.bin.999.tmp'), 'partial');

  const resumed = spawnSync(process.execPath, args(file), { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming: \d+ of 12 parts already made/);
  assert.match(
    resumed.stderr,
    new RegExp(`${done[0]} \\(part 0 \\(samples 0-39\\)\\) is unusable: expected`),
  );
  assert.ok(!fs.existsSync(work), 'the work folder is removed once the file is whole');
  assert.ok(
    body(file).equals(body(whole)),
    'the resumed file holds the same parts as the uninterrupted one',
  );

  // Asking again for the same settings finds it done; other settings never overwrite it.
  const again = spawnSync(process.execPath, args(file), { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already complete/);
  const other = spawnSync(process.execPath, [...args(file), '--crops', '2'], { encoding: 'utf8' });
  assert.equal(other.status, 1);
  assert.match(other.stderr, /other settings \(crops: /);
});

test('shards made apart merge into the file one process makes', async () => {
  const one = await labelsFile(path.join(root, 'one.labels'), teachers);
  const file = path.join(root, 'sharded.labels');
  await assert.rejects(makeLabels(labelConfig(file, teachers), { merge: true }), /no shard files/);
  for (const shard of ['0/2', '1/2']) {
    await makeLabels(
      labelConfig(file, teachers, { labels: { shard, compression: 'full', dtype: 'float32' } }),
    );
  }
  assert.ok(fs.existsSync(`${file}.shard-0-of-2`) && fs.existsSync(`${file}.shard-1-of-2`));
  fs.renameSync(`${file}.shard-1-of-2`, `${file}.held`);
  await assert.rejects(
    makeLabels(labelConfig(file, teachers), { merge: true }),
    /shard 1 of 2 is missing/,
  );
  fs.renameSync(`${file}.held`, `${file}.shard-1-of-2`);
  const merged = await makeLabels(labelConfig(file, teachers), { merge: true });
  assert.equal(merged.samples, 48);
  assert.ok(body(file).equals(body(one)), 'merged parts equal the single-process parts');
});

test('distill --labels trains from the file alone: no teacher is built or run', async () => {
  const dir = path.join(root, 'gone');
  const t = await saveTeacher(path.join(dir, 't'), 'mlp');
  const file = await labelsFile(path.join(root, 'alone.labels'), [t], {
    labels: { compression: 'topk', k: 2, dtype: 'float16' },
  });
  fs.rmSync(dir, { recursive: true }); // the teacher no longer exists
  const init = await saveTeacher(path.join(root, 'init'), 'cnn-tiny');
  const config = labelConfig(file, [], {
    student: { arch: 'cnn-tiny', init },
    epochs: 2,
    batchSize: 16,
    out: path.join(root, 'run'),
  });
  const summary = await distill(config);
  assert.equal(summary.labels?.file, file);
  assert.deepEqual(summary.labels?.compression, {
    kind: 'topk',
    k: 2,
    rule: 'marginal_smoothing',
    dtype: 'float16',
  });
  assert.deepEqual(
    summary.table.map((r) => r.role),
    ['teacher', 'student (init)', 'student (distilled)'],
  );
  assert.match(summary.table[0].model, /\(recorded\)/);
  const metrics = fs
    .readFileSync(path.join(root, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(metrics.length, 2);

  // Named teachers that did not make the file stop the run before any step.
  const wrong = await saveTeacher(path.join(root, 'wrong'), 'mlp');
  await assert.rejects(
    distill({ ...config, teachers: [wrong], out: path.join(root, 'run2') }),
    /was made by other teachers/,
  );
  assert.ok(!fs.existsSync(path.join(root, 'run2', 'metrics.jsonl')));
});

test('meal distill --labels names a truncated part and stops before any step', async () => {
  const file = await labelsFile(path.join(root, 'cli.labels'), teachers);
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 50));
  const out = path.join(root, 'cli-run');
  const init = await saveTeacher(path.join(root, 'cli-init'), 'cnn-tiny');
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      'distill',
      '--data',
      SUBSET,
      '--train-limit',
      '48',
      '--labels',
      file,
      '--init',
      init,
      '--out',
      out,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /part 2 \(samples 32-47\) is truncated: expected \d+ bytes, found \d+/);
  assert.doesNotMatch(r.stderr, /epoch 1\//);
  assert.ok(!fs.existsSync(path.join(out, 'metrics.jsonl')));
});
