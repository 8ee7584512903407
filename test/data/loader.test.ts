/** The loader: seeded orders and views, exact replay of an epoch, views rendered as described. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochBatches, epochOrder } from '../../src/data/loader.js';
import { renderView } from '../../src/data/augment.js';
import { tinyDataset } from '../helpers.js';

async function collect(seed: number, epoch: number) {
  const ds = tinyDataset(50);
  const out = [];
  for await (const b of epochBatches(ds, epoch, {
    batchSize: 8,
    shuffle: true,
    dropLast: true,
    seed,
    augment: { cropPadding: 2, flip: true },
  })) {
    out.push(b);
  }
  return out;
}

test('an epoch is a seeded permutation, the same every time it is replayed', async () => {
  const a = await collect(3, 1);
  const b = await collect(3, 1);
  assert.equal(a.length, 6); // 50 / 8, last partial batch dropped
  assert.deepEqual(
    a.map((x) => Array.from(x.ids)),
    b.map((x) => Array.from(x.ids)),
  );
  assert.deepEqual(
    a.map((x) => x.views),
    b.map((x) => x.views),
  );
  assert.deepEqual(a[0].x, b[0].x);
  const other = await collect(3, 2);
  assert.notDeepEqual(
    a.map((x) => Array.from(x.ids)),
    other.map((x) => Array.from(x.ids)),
  );
  const order = Array.from(epochOrder(50, 3, 1, true)).sort((p, q) => p - q);
  assert.deepEqual(order, [...Array(50).keys()]);
  assert.ok(
    a.some((x) => x.views.some((v) => v.flip)) && a.some((x) => x.views.some((v) => v.dx !== 0)),
  );
});

test('a view shifts with zero fill and mirrors', () => {
  const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => v * 25)); // 3x3
  const out = new Float32Array(9);
  renderView(src, 0, 3, 3, 1, { dy: 1, dx: 0, flip: false }, out, 0);
  assert.deepEqual(
    Array.from(out, (v) => Math.round((v * 255) / 25)),
    [4, 5, 6, 7, 8, 9, 0, 0, 0],
  );
  renderView(src, 0, 3, 3, 1, { dy: 0, dx: 0, flip: true }, out, 0);
  assert.deepEqual(
    Array.from(out, (v) => Math.round((v * 255) / 25)),
    [3, 2, 1, 6, 5, 4, 9, 8, 7],
  );
});
