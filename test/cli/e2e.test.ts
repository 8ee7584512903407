/**
 * End to end through the CLI on the bundled subset: train a tiny teacher and a
 * student init, distil, stop the run with Ctrl-C after its first checkpoint, resume, and
 * check the run folder is complete and the resumed run matches an
 * uninterrupted one (cases.md #10, #13).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const DATA = 'assets/fashion-mnist-subset';
const SMALL = ['--data', DATA, '--train-limit', '320', '--test-limit', '200', '--batch-size', '32'];

function meal(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `meal ${args.join(' ')} failed:\n${r.stderr}`);
  return r;
}

/** Runs meal with `args` and sends Ctrl-C as soon as `file` exists; its exit code and stderr. */
async function interruptWhen(args: string[], file: string) {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    const poll = setInterval(() => {
      if (fs.existsSync(file)) {
        proc.kill('SIGINT');
        clearInterval(poll);
      }
    }, 20);
    proc.on('exit', (c) => {
      clearInterval(poll);
      resolve(c);
    });
  });
  return { code, stderr };
}

test(
  'meal train -> distill, killed after the first checkpoint and resumed, leaves a complete run',
  { timeout: 600_000 },
  async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-e2e-'));
    const teacher = path.join(root, 'teacher');
    const init = path.join(root, 'init');
    meal([
      'train',
      ...SMALL,
      '--arch',
      'cnn-tiny',
      '--epochs',
      '1',
      '--seed',
      '5',
      '--out',
      teacher,
    ]);
    meal(['train', ...SMALL, '--arch', 'cnn-tiny', '--epochs', '1', '--seed', '6', '--out', init]);

    const distillArgs = (out: string) => [
      'distill',
      ...SMALL,
      '--teacher',
      path.join(teacher, 'model'),
      '--teacher',
      path.join(teacher, 'model'),
      '--init',
      path.join(init, 'model'),
      '--epochs',
      '3',
      '--optimizer',
      'sgd',
      '--lr',
      '0.01',
      '--out',
      out,
    ];

    // Uninterrupted reference run.
    const whole = path.join(root, 'whole');
    const ref = meal(distillArgs(whole));
    assert.match(ref.stdout, /student \(distilled\)/);
    assert.match(ref.stdout, /ensemble of 2/);

    // Ctrl-C as soon as epoch 1's checkpoint exists (a SIGKILL mid-write is checkpoint.test.ts'),
    // then resumed without saying where.
    const cut = path.join(root, 'cut');
    const ckpt = path.join(cut, 'checkpoints', 'last.ckpt');
    const { code, stderr } = await interruptWhen(distillArgs(cut), ckpt);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: the last checkpoint, .*last\.ckpt, is intact/);
    assert.match(stderr, /meal distill --out .*cut --resume/);
    assert.match(fs.readFileSync(path.join(cut, 'log.txt'), 'utf8'), /interrupted: the last/);
    assert.equal(loadCheckpoint(ckpt).epoch, 0, 'killed after the first checkpoint');
    // Resumed from the run folder alone: its config.json stands in for the flags.
    const resumed = meal(['distill', '--out', cut, '--resume']);
    assert.match(resumed.stderr, /resumed from .*continuing at 2/);
    assert.match(resumed.stdout, /student \(init\)/, 'the resumed table keeps the init row');

    for (const f of [
      'config.json',
      'log.txt',
      'metrics.jsonl',
      'summary.json',
      'checkpoints/last.ckpt',
      'checkpoints/best.ckpt',
      'model/model.json',
      'model/weights.bin',
      'model/meal.json',
    ]) {
      assert.ok(fs.existsSync(path.join(cut, f)), `run folder has ${f}`);
    }
    const epochs = fs
      .readFileSync(path.join(cut, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).epoch);
    assert.deepEqual(epochs, [0, 1, 2]);
    const summary = JSON.parse(fs.readFileSync(path.join(cut, 'summary.json'), 'utf8'));
    assert.equal(summary.resumedFrom, 0);
    assert.equal(summary.discriminatorMode, 'corrected');

    // The resumed run ends where the uninterrupted one does: student, discriminator, optimiser.
    const a = loadCheckpoint(path.join(whole, 'checkpoints', 'last.ckpt'));
    const b = loadCheckpoint(ckpt);
    assert.equal(b.epoch, 2);
    assert.equal(a.tensors.length, b.tensors.length);
    a.tensors.forEach((t, i) => {
      const u = b.tensors[i];
      const maxDiff = t.data.reduce((m, v, j) => Math.max(m, Math.abs(v - u.data[j])), 0);
      assert.ok(maxDiff <= 1e-5, `${t.name}: resumed differs from uninterrupted by ${maxDiff}`);
    });

    // eval --json on the final model reproduces the summary's top-1.
    const ev = meal([
      'eval',
      '--data',
      DATA,
      '--test-limit',
      '200',
      '--model',
      path.join(cut, 'model'),
      '--json',
    ]);
    const last = JSON.parse(ev.stdout.trim().split('\n').pop()!);
    assert.equal(last.n, 200);
    assert.ok(
      Math.abs(last.top1 - summary.table.at(-1).top1) < 1e-9,
      `eval ${last.top1} vs summary ${summary.table.at(-1).top1}`,
    );
  },
);

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meal-bad-'));

test('bad input stops the CLI with a message that says what to do', () => {
  const r = spawnSync(
    process.execPath,
    [CLI, 'distill', '--data', DATA, '--teacher', '/no/such/teacher', '--out', tmp()],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: .*meal.json/);
  assert.match(r.stderr, /model folder \/no\/such\/teacher does not exist/);
  // --resume where no run ever started, and eval with nothing to evaluate.
  const resume = spawnSync(process.execPath, [CLI, 'distill', '--out', tmp(), '--resume'], {
    encoding: 'utf8',
  });
  assert.equal(resume.status, 1);
  assert.match(resume.stderr, /holds no run to continue .* without --resume/);
  const none = spawnSync(process.execPath, [CLI, 'eval', '--data', DATA], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /nothing to evaluate: pass --model DIR/);
  const arch = spawnSync(
    process.execPath,
    [CLI, 'train', '--data', DATA, '--arch', 'vgg-99', '--out', tmp()],
    { encoding: 'utf8' },
  );
  assert.equal(arch.status, 1);
  assert.match(arch.stderr, /unknown architecture "vgg-99": expected one of cnn-small/);
});

test('Ctrl-C while making soft labels stops within a batch and says the parts are kept', async () => {
  const file = path.join(tmp(), 'fashion.labels');
  const args = ['labels', '--recipe', 'recipes/labels-experiment.json', '--data', DATA];
  args.push('--crops', '4', '--part-size', '500', '--out', file);
  const first = path.join(`${file}.parts`, 'part-000000.bin');
  const { code, stderr } = await interruptWhen(args, first);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted: the parts already made are kept/);
  assert.ok(!fs.existsSync(file), 'stopped before the file was assembled');
});
