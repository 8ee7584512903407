/** The loader: seeded orders and views, exact replay of an epoch, views rendered as described. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochBatches, epochOrder } from '../../src/data/loader.js';
import { drawView, renderView } from '../../src/data/augment.js';
import { Rng } from '../../src/util/rng.js';
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
    a.some((x) => x.views.some((v) => v.flip)) && a.some((x) => x.views.some((v) => v.left !== 0)),
  );
});

test('a view shifts with zero fill and mirrors', () => {
  const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => v * 25)); // 3x3
  const out = new Float32Array(9);
  renderView(src, 0, 3, 3, 1, { top: 1 / 3, left: 0, height: 1, width: 1, flip: false }, out, 0);
  assert.deepEqual(
    Array.from(out, (v) => Math.round((v * 255) / 25)),
    [4, 5, 6, 7, 8, 9, 0, 0, 0],
  );
  renderView(src, 0, 3, 3, 1, { top: 0, left: 0, height: 1, width: 1, flip: true }, out, 0);
  assert.deepEqual(
    Array.from(out, (v) => Math.round((v * 255) / 25)),
    [3, 2, 1, 6, 5, 4, 9, 8, 7],
  );
});

test('a resized crop: a whole-image box is an exact copy; a half box is upsampled bilinearly', () => {
  const src = Uint8Array.from({ length: 16 }, (_, i) => i * 10); // 4x4, value 10 * (4y + x)
  const out = new Float32Array(16);
  const px = (a: Float32Array) => Array.from(a, (v) => Math.round(v * 255 * 100) / 100);
  renderView(src, 0, 4, 4, 1, { top: 0, left: 0, height: 1, width: 1, flip: false }, out, 0);
  assert.deepEqual(px(out), Array.from(src));
  // The 2x2 box at (1, 1): output pixel centres fall at source 0.75 and 1.25 (and 1.75, 2.25).
  renderView(
    src,
    0,
    4,
    4,
    1,
    { top: 0.25, left: 0.25, height: 0.5, width: 0.5, flip: false },
    out,
    0,
  );
  const at = (y: number, x: number) => 10 * (4 * y + x);
  assert.deepEqual(
    px(out).slice(0, 4),
    [0.75, 1.25, 1.75, 2.25].map((x) => at(0.75, x)),
  );
  const mirrored = new Float32Array(16);
  renderView(
    src,
    0,
    4,
    4,
    1,
    { top: 0.25, left: 0.25, height: 0.5, width: 0.5, flip: true },
    mirrored,
    0,
  );
  assert.deepEqual(px(mirrored).slice(0, 4), px(out).slice(0, 4).reverse());
});

test('resized crop boxes lie inside the image, on whole pixels, within the area range', () => {
  const rng = new Rng(4);
  for (let i = 0; i < 500; i++) {
    const v = drawView(
      rng,
      { crop: 'resized', cropPadding: 0, scale: [0.3, 0.9], flip: true },
      28,
      28,
    );
    for (const [f, size] of [
      [v.top, 28],
      [v.left, 28],
      [v.height, 28],
      [v.width, 28],
    ]) {
      assert.ok(
        Math.abs(f * size - Math.round(f * size)) < 1e-9,
        `whole pixels: ${JSON.stringify(v)}`,
      );
    }
    assert.ok(
      v.top >= 0 && v.left >= 0 && v.top + v.height <= 1 + 1e-9 && v.left + v.width <= 1 + 1e-9,
    );
    const area = v.height * v.width;
    assert.ok((area >= 0.25 && area <= 0.95) || area === 1, `area ${area}`);
  }
});
