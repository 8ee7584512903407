/** The config: defaults < recipe < flags, and every problem of a bad recipe reported at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULTS, readRecipe, resolveConfig } from '../src/config.js';

function recipe(value: unknown): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meal-recipe-')), 'r.json');
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

test('defaults < recipe < flags', () => {
  const r = readRecipe(
    recipe({ epochs: 5, optim: { lr: 0.1, name: 'adam' }, data: { flip: false } }),
  );
  const c = resolveConfig(r, { optim: { lr: 0.5 } });
  assert.equal(c.epochs, 5);
  assert.equal(c.optim.lr, 0.5);
  assert.equal(c.optim.name, 'adam');
  assert.equal(c.optim.momentum, DEFAULTS.optim.momentum);
  assert.equal(c.data.flip, false);
  assert.equal(c.data.cropPadding, DEFAULTS.data.cropPadding);
});

test('every problem in a recipe is reported at once, by path', () => {
  const file = recipe({
    epochs: 0,
    optim: { lr: -1, nme: 'sgd' },
    distill: { discriminator: { mode: 'loyal' } },
  });
  assert.throws(
    () => readRecipe(file),
    (e: Error) =>
      /4 problems/.test(e.message) &&
      /epochs: must be >= 1/.test(e.message) &&
      /optim: unknown field "nme" \(known: [a-z, ]*\bname\b/.test(e.message) &&
      /optim.lr: must be > 0/.test(e.message) &&
      /distill.discriminator.mode: must be one of corrected, faithful/.test(e.message),
  );
  assert.throws(() => readRecipe(recipe('{ "epochs": 3,')), /not valid JSON/);
  assert.throws(() => readRecipe('/no/such/recipe.json'), /cannot read recipe/);
});

test('a schedule given in a recipe replaces the default one whole', () => {
  const c = resolveConfig(
    { optim: { schedule: { kind: 'step', milestones: [3], gamma: 0.1 } } },
    {},
  );
  assert.deepEqual(c.optim.schedule, { kind: 'step', milestones: [3], gamma: 0.1 });
});

test('label and crop settings: shards, ranges and enums are checked with the rest', () => {
  const c = resolveConfig(
    readRecipe(recipe({ labels: { shard: '1/4', compression: 'topk', k: 5 } })),
    {},
  );
  assert.equal(c.labels.shard, '1/4');
  assert.equal(c.labels.rule, DEFAULTS.labels.rule);
  assert.throws(
    () =>
      readRecipe(
        recipe({
          labels: { shard: '4/4', rule: 'smooth' },
          data: { cropScale: [0.9, 0.2], crop: 'random' },
        }),
      ),
    (e: Error) =>
      /4 problems/.test(e.message) &&
      /labels.rule: must be one of marginal_smoothing, marginal_renorm/.test(e.message) &&
      /data.crop: must be one of pad, resized/.test(e.message) &&
      /data.cropScale: \[lo, hi\] needs lo <= hi/.test(e.message) &&
      /labels.shard: "4\/4" needs 0 <= i < n/.test(e.message),
  );
});
