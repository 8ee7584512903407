/** The IDX reader: real Fashion-MNIST files, and every kind of broken file named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { encodeIdx, parseIdx, readIdx } from '../../src/data/idx.js';
import { loadSplit, resolveDataDir } from '../../src/data/dataset.js';

test('reads an IDX file, raw and gzipped', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-idx-'));
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  fs.writeFileSync(path.join(dir, 'a'), encodeIdx([2, 3, 4], data));
  fs.writeFileSync(path.join(dir, 'a.gz'), zlib.gzipSync(encodeIdx([2, 3, 4], data)));
  for (const f of ['a', 'a.gz']) {
    const idx = readIdx(path.join(dir, f));
    assert.deepEqual(idx.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(idx.data), Array.from(data));
  }
});

test('bad magic, truncation and corrupt gzip are named', () => {
  const good = encodeIdx([10], new Uint8Array(10));
  assert.throws(
    () => parseIdx(good.subarray(0, 12), 'short.idx'),
    /short.idx.*needs 10 data bytes, found 4 \(truncated\)/,
  );
  const bad = Uint8Array.from(good);
  bad[2] = 0x0d;
  assert.throws(() => parseIdx(bad, 'float.idx'), /float.idx.*type code 0x08.*found 0x0d/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meal-idx-'));
  const gz = zlib.gzipSync(good);
  fs.writeFileSync(path.join(dir, 'cut.gz'), gz.subarray(0, gz.length - 8));
  assert.throws(() => readIdx(path.join(dir, 'cut.gz')), /cut.gz.*truncated or corrupt/);
});

test('loads the bundled Fashion-MNIST subset', () => {
  const dir = resolveDataDir('assets/fashion-mnist-subset');
  const test = loadSplit(dir, 'test');
  assert.deepEqual(test.shape, [28, 28, 1]);
  assert.equal(test.numClasses, 10);
  assert.equal(test.labels.length, test.n);
  assert.throws(
    () => resolveDataDir('/nonexistent/folder'),
    /apt-get install dataset-fashion-mnist/,
  );
});
