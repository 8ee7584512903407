/** Top-k soft labels and half precision (cases.md #12). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recoverFull, recoverTopK, topK } from '../../src/labels/compress.js';
import { fromHalf, toHalf } from '../../src/util/half.js';
import { close } from '../helpers.js';

test('case 12: marginal smoothing spreads the missing mass over the other classes', () => {
  const out = new Float32Array(10);
  recoverTopK([3, 1, 7, 0, 9], [0.5, 0.2, 0.1, 0.05, 0.05], 10, 'marginal_smoothing', out, 0);
  close(out, [0.05, 0.2, 0.02, 0.5, 0.02, 0.02, 0.02, 0.1, 0.02, 0.05], 1e-6, 'smoothed');
});

test('marginal renorm divides the kept values by their sum and zeroes the rest', () => {
  const out = new Float32Array(10);
  recoverTopK([3, 1, 7, 0, 9], [0.5, 0.2, 0.1, 0.05, 0.05], 10, 'marginal_renorm', out, 0);
  const s = 0.9;
  close(out, [0.05 / s, 0.2 / s, 0, 0.5 / s, 0, 0, 0, 0.1 / s, 0, 0.05 / s], 1e-6, 'renormed');
});

test('case 12: half-precision values that sum past 1 never go negative and still sum to 1', () => {
  // 0.3334 rounds up in half precision: three of them sum to 1.0005.
  const halves = [0.3334, 0.3334, 0.3334].map((v) => fromHalf(toHalf(v)));
  assert.ok(halves.reduce((a, b) => a + b) > 1, 'the rounded values sum past 1');
  for (const rule of ['marginal_smoothing', 'marginal_renorm'] as const) {
    const out = new Float32Array(5);
    recoverTopK([0, 2, 4], halves, 5, rule, out, 0);
    assert.ok(
      out.every((v) => v >= 0),
      `${rule}: ${Array.from(out)}`,
    );
    close([out.reduce((a, b) => a + b)], [1], 1e-6, `${rule} row sum`);
  }
  const full = new Float32Array(3);
  recoverFull(halves, 'float16', full, 0);
  close([full.reduce((a, b) => a + b)], [1], 1e-6, 'full float16 row sum');
});

test('case 12: class indices round-trip exactly past 2048 (stored as integers, not halves)', () => {
  const c = 3000;
  const row = new Float32Array(c).fill(1e-5);
  row[2049] = 0.5;
  row[2999] = 0.3;
  row[7] = 0.1;
  const idx = new Uint16Array(3);
  topK(row, 3, idx, 0);
  assert.deepEqual(Array.from(idx), [2049, 2999, 7]);
  assert.notEqual(fromHalf(toHalf(2049)), 2049, 'half precision itself would lose 2049');
});

test('half precision: known bit patterns, round to nearest even, subnormals, overflow', () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(0.1), 0x2e66);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1e6), 0x7c00);
  assert.equal(toHalf(2 ** -24), 0x0001);
  assert.equal(toHalf(2 ** -26), 0x0000);
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to even');
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even, upwards');
  for (const v of [0, 1, 0.5, 0.25, 2 ** -14, 2 ** -24, 1024, 0.333251953125]) {
    assert.equal(fromHalf(toHalf(v)), v, `${v} is a half and round-trips`);
  }
  for (let i = 0; i < 1000; i++) {
    const v = Math.random();
    assert.ok(Math.abs(fromHalf(toHalf(v)) - v) <= v * 2 ** -11 + 2 ** -25, `${v}`);
  }
});
