/**
 * The committed zoo: `meal eval --json` on each model reproduces the top-1 in
 * zoo/fashion-mnist/manifest.json to within 0.05 points on the full test set,
 * and the headline claims hold: the ensemble beats its best teacher, and the
 * MEAL V2 student beats its hard-label baseline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEBIAN_FASHION_DIR } from '../src/data/dataset.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const MANIFEST = 'zoo/fashion-mnist/manifest.json';

interface Entry {
  name: string;
  path: string;
  role: string;
  top1: number;
}

function evalJson(args: string[]): { top1: number; n: number } {
  const r = spawnSync(
    process.execPath,
    [CLI, 'eval', '--data', DEBIAN_FASHION_DIR, ...args, '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test(
  'every committed model reproduces its manifest top-1 on the full test set',
  { timeout: 600_000 },
  () => {
    assert.ok(fs.existsSync(MANIFEST), `${MANIFEST} is committed`);
    assert.ok(
      fs.existsSync(DEBIAN_FASHION_DIR),
      'full Fashion-MNIST needed: apt-get install dataset-fashion-mnist',
    );
    const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) as {
      models: Entry[];
      ensemble: { members: string[]; top1: number };
    };
    for (const m of manifest.models) {
      const got = evalJson(['--model', m.path]);
      assert.equal(got.n, 10000);
      assert.ok(
        Math.abs(got.top1 - m.top1) <= 0.05,
        `${m.name}: eval ${got.top1} vs manifest ${m.top1}`,
      );
    }
    const ens = evalJson(manifest.ensemble.members.flatMap((p) => ['--model', p]));
    assert.ok(
      Math.abs(ens.top1 - manifest.ensemble.top1) <= 0.05,
      `ensemble: eval ${ens.top1} vs manifest ${manifest.ensemble.top1}`,
    );

    const bestTeacher = Math.max(
      ...manifest.models.filter((m) => m.role === 'teacher').map((m) => m.top1),
    );
    assert.ok(
      manifest.ensemble.top1 > bestTeacher,
      `ensemble ${manifest.ensemble.top1} > best teacher ${bestTeacher}`,
    );
  },
);

test(
  'the MEAL V2 student beats its hard-label baseline (same architecture and total epochs)',
  { timeout: 60_000 },
  () => {
    const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) as { models: Entry[] };
    const top1 = (name: string) => manifest.models.find((m) => m.name === name)!.top1;
    assert.ok(
      top1('student-meal') > top1('student-baseline'),
      `student-meal ${top1('student-meal')} > student-baseline ${top1('student-baseline')}`,
    );
  },
);
