/**
 * The soft-label cache: exact crop replay, keying by sample (case 11), top-k
 * files, refusal of a mismatched file, and pre-flight of truncated or corrupt
 * parts. Labels are made by real (freshly initialised) TF.js teachers on the
 * bundled Fashion-MNIST subset.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { loadTeachers } from '../../src/api.js';
import { loadSplit } from '../../src/data/dataset.js';
import { epochBatches, makeBatch } from '../../src/data/loader.js';
import { LiveEnsemble } from '../../src/distill/soft-labels.js';
import { classHash, datasetHash, LabelCache } from '../../src/labels/cache.js';
import {
  emptyPart,
  encodeLabelFile,
  encodePart,
  type LabelHeader,
} from '../../src/labels/format.js';
import { teacherFingerprint } from '../../src/teachers/fingerprint.js';
import { close, onCpu, tinyDataset } from '../helpers.js';
import { labelsFile, saveTeacher, SUBSET, tempDir } from './helpers.js';

let root: string;
let teachers: string[];
let full: string;

before(async () => {
  await onCpu();
  root = tempDir('labels');
  teachers = [
    await saveTeacher(path.join(root, 'mlp'), 'mlp'),
    await saveTeacher(path.join(root, 'cnn'), 'cnn-tiny'),
  ];
  full = await labelsFile(path.join(root, 'full.labels'), teachers);
});

test('exact crop replay: the student sees the pixels the teachers saw, flips included', async () => {
  const cache = LabelCache.open(full);
  // The run is told its own crop settings do not apply: the stored views are what it replays.
  assert.match(
    cache.describe()[1],
    /^stored views: pad crops of up to \d+ pixels, with flips; the run's crop and flip settings are not used$/,
  );
  const ds = loadSplit(SUBSET, 'train', 48);
  const live = await loadTeachers(teachers);
  const ensemble = new LiveEnsemble(live);
  const shown = new Map<number, Set<number>>();
  let flips = 0;
  let shifted = 0;
  for (let epoch = 0; epoch < 3; epoch++) {
    const opts = { batchSize: 16, shuffle: true, seed: 7, replay: cache };
    for await (const batch of epochBatches(ds, epoch, opts)) {
      batch.ids.forEach((id, i) => {
        const crop = batch.crops![i];
        assert.deepEqual(batch.views[i], cache.view(id, crop));
        if (!shown.has(id)) shown.set(id, new Set());
        shown.get(id)!.add(crop);
        flips += batch.views[i].flip ? 1 : 0;
        shifted += batch.views[i].top !== 0 || batch.views[i].left !== 0 ? 1 : 0;
      });
      // The teachers, run now on the replayed pixels, give what the file stored.
      const x = tf.tensor4d(batch.x, [batch.size, 28, 28, 1]);
      const now = ensemble.score(x);
      const stored = cache.labels(batch).probs;
      close(stored.dataSync(), now.dataSync(), 1e-6, `epoch ${epoch} labels`);
      tf.dispose([x, now, stored]);
    }
  }
  live.forEach((t) => t.dispose());
  assert.ok(flips > 0 && shifted > 0, `the stored crops vary (${flips} flips, ${shifted} shifts)`);
  for (const [id, crops] of shown) {
    assert.deepEqual([...crops].sort(), [0, 1, 2], `sample ${id} showed each of its 3 crops once`);
  }
});

/** A label file written directly: sample i's every crop is labelled one-hot(i). */
function oneHotFile(file: string, n: number): void {
  const ds = tinyDataset(n);
  const header: Omit<LabelHeader, 'parts'> = {
    format: 'meal-labels',
    version: 1,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    classHash: classHash(ds.classNames),
    teachers: [{ name: 'id', path: 'id', sha256: 'x', output: 'probabilities' }],
    data: { name: ds.name, n, shape: ds.shape, sha256: datasetHash(ds) },
    crops: { perSample: 2, augment: { crop: 'pad', cropPadding: 1, flip: true } },
    compression: { kind: 'full', k: 0, rule: 'marginal_smoothing', dtype: 'float32' },
    seed: 0,
    partSize: 2,
    range: [0, n],
  };
  const bodies = [0, 2].map((start, index) => {
    const part = emptyPart(header, 2);
    for (let r = 0; r < 4; r++) {
      const id = start + Math.floor(r / 2);
      part.boxes.set([0, 0, 1, 1], r * 4);
      part.values[r * ds.numClasses + id] = 1;
    }
    return { index, start, count: 2, bytes: encodePart(header, 2, part) };
  });
  fs.writeFileSync(file, Buffer.concat(encodeLabelFile(header, bodies)));
}

test('case 11: stored labels are keyed by (sample, crop), never by batch position', () => {
  const file = path.join(root, 'onehot.labels');
  oneHotFile(file, 4);
  const cache = LabelCache.open(file);
  const ds = tinyDataset(4);
  for (const order of [
    [2, 0, 3, 1],
    [1, 3, 0, 2],
  ]) {
    for (let b = 0; b < 2; b++) {
      const ids = Int32Array.from(order.slice(2 * b, 2 * b + 2));
      const crops = Int32Array.from(ids, (id) => (id + b) % 2);
      const views = Array.from(ids, (id, i) => cache.view(id, crops[i]));
      const { probs } = cache.labels(makeBatch(ds, ids, views, crops));
      assert.deepEqual(Array.from(tf.argMax(probs, -1).dataSync()), Array.from(ids));
      probs.dispose();
    }
  }
});

test('top-k files keep the k largest classes and recover rows that sum to 1', async () => {
  const ref = LabelCache.open(full);
  const ids = Int32Array.from({ length: 48 }, (_, i) => i);
  const crops = Int32Array.from(ids, (i) => i % 3);
  const want = ref.rows(ids, crops);
  const sizes: Record<string, number> = { full: fs.statSync(full).size };
  for (const rule of ['marginal_smoothing', 'marginal_renorm'] as const) {
    const file = await labelsFile(path.join(root, `${rule}.labels`), teachers, {
      labels: { compression: 'topk', k: 3, rule, dtype: 'float16' },
    });
    sizes[rule] = fs.statSync(file).size;
    const got = LabelCache.open(file).rows(ids, crops);
    for (let r = 0; r < 48; r++) {
      const row = want.subarray(r * 10, r * 10 + 10);
      const back = got.subarray(r * 10, r * 10 + 10);
      close([back.reduce((a, b) => a + b)], [1], 1e-5, `${rule} row ${r} sum`);
      const top = Array.from(row.keys())
        .sort((a, b) => row[b] - row[a])
        .slice(0, 3);
      const kept = top.reduce((s, c) => s + row[c], 0);
      for (const c of top) {
        const expected = rule === 'marginal_renorm' ? row[c] / kept : row[c];
        assert.ok(Math.abs(back[c] - expected) < 2e-3, `${rule} row ${r} class ${c}`);
      }
      const rest = rule === 'marginal_renorm' ? 0 : (1 - kept) / 7;
      for (let c = 0; c < 10; c++) {
        if (!top.includes(c))
          assert.ok(Math.abs(back[c] - rest) < 2e-3, `${rule} row ${r} class ${c}`);
      }
    }
  }
  // Per crop: a float32 box and a flip byte (17 bytes), then 10 float32 values (40) or 3 class
  // indices and 3 halves (12).
  assert.ok(
    sizes.marginal_smoothing < 0.6 * sizes.full,
    `top-3 is smaller: ${JSON.stringify(sizes)}`,
  );
});

test('a file made for other teachers, another class list or another data set is refused', async () => {
  const cache = LabelCache.open(full);
  const ds = loadSplit(SUBSET, 'train', 48);
  const ids = teachers.map((p) => ({ path: p, sha256: teacherFingerprint(p) }));
  cache.checkFor(ds, ids); // the right ones pass
  cache.checkFor(ds, []); // none named: the file's own teachers are used

  const other = await saveTeacher(path.join(root, 'other'), 'mlp');
  assert.throws(
    () => cache.checkFor(ds, [ids[0], { path: other, sha256: teacherFingerprint(other) }]),
    (e: Error) =>
      /other teachers/.test(e.message) &&
      e.message.includes(`not made by ${other}`) &&
      e.message.includes('cnn'),
  );
  assert.throws(
    () => cache.checkFor({ ...ds, classNames: ds.classNames.map((c) => c.toUpperCase()) }, ids),
    /another class list/,
  );
  assert.throws(
    () => cache.checkFor(loadSplit(SUBSET, 'train', 40), ids),
    /another data set.*48 images.*40 images/s,
  );
  const shifted = loadSplit(SUBSET, 'train', 48);
  const images = Uint8Array.from(shifted.images);
  images[5] ^= 1;
  assert.throws(() => cache.checkFor({ ...shifted, images }, ids), /another data set/);
});

test('pre-flight names a truncated part and a corrupt part before any step', () => {
  const bytes = fs.readFileSync(full);
  const header = LabelCache.open(full).header;
  const p2 = header.parts[2];
  const bodyStart = bytes.length - header.parts.reduce((s, p) => s + p.bytes, 0);

  const cut = path.join(root, 'cut.labels');
  fs.writeFileSync(cut, bytes.subarray(0, bodyStart + p2.offset + 100));
  assert.throws(
    () => LabelCache.open(cut),
    /part 2 \(samples 32-47\) is truncated: expected \d+ bytes, found 100/,
  );

  const bad = path.join(root, 'bad.labels');
  const flipped = Buffer.from(bytes);
  flipped[bodyStart + header.parts[1].offset + 7] ^= 0x40;
  fs.writeFileSync(bad, flipped);
  assert.throws(() => LabelCache.open(bad), /part 1 \(samples 16-31\) is corrupt/);

  const noHeader = path.join(root, 'noheader.labels');
  fs.writeFileSync(noHeader, bytes.subarray(0, 30));
  assert.throws(() => LabelCache.open(noHeader), /truncated/);
  assert.throws(() => LabelCache.open(path.join(root, 'none.labels')), /does not exist/);
});
