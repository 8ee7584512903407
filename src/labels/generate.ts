/**
 * `meal labels`: the FKD soft-label cache (Shen & Xing, "A Fast Knowledge
 * Distillation Framework for Visual Recognition"). For every training sample,
 * M seeded crops; the teacher ensemble runs once per crop and its averaged
 * probabilities (eq. 1) are stored, so `meal distill --labels` never runs a
 * teacher.
 *
 * Work is cut into parts of `partSize` samples. Each finished part is written
 * atomically into `<out>.parts/`, so a killed generation resumes from its
 * finished parts and recomputes the rest; a part that fails its check is
 * recomputed, never trusted. The crops of a sample depend only on (seed,
 * sample id), so shards (`--shard i/n`), resumed runs and one uninterrupted
 * run write the same bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { tf } from '../engine/tf.js';
import { drawView, renderView, type AugmentOptions, type View } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import type { SoftLabelSource } from '../distill/soft-labels.js';
import { isTempFile, writeChunksAtomic, writeFileAtomic } from '../util/atomic.js';
import { MealError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { Rng } from '../util/rng.js';
import { encodeValue, storedPerRow, topK } from './compress.js';
import {
  decodeHeader,
  decodeLabelFile,
  emptyPart,
  encodeLabelFile,
  encodePart,
  partLayout,
  partName,
  type LabelHeader,
  type PartData,
} from './format.js';

/** Everything that decides the stored bytes; resumed runs and shards must agree on it. */
export type LabelSettings = Pick<
  LabelHeader,
  'numClasses' | 'classHash' | 'data' | 'crops' | 'compression' | 'seed' | 'partSize'
> & { teachers: { sha256: string; output: string }[] };

export function settingsOf(
  h: Omit<LabelHeader, 'parts' | 'range' | 'shard' | 'made'>,
): LabelSettings {
  return {
    numClasses: h.numClasses,
    classHash: h.classHash,
    teachers: h.teachers.map((t) => ({ sha256: t.sha256, output: t.output })),
    data: h.data,
    crops: h.crops,
    compression: h.compression,
    seed: h.seed,
    partSize: h.partSize,
  };
}

/** Field-by-field differences between two settings, for error messages. */
export function settingsDiff(a: LabelSettings, b: LabelSettings): string[] {
  return (Object.keys(a) as (keyof LabelSettings)[])
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
}

/** The M views of one sample, as float32 (the precision they are stored in). */
export function sampleViews(
  seed: number,
  id: number,
  m: number,
  aug: AugmentOptions,
  h: number,
  w: number,
): View[] {
  const rng = Rng.derive(seed, 'fkd-crops', id);
  return Array.from({ length: m }, () => {
    const v = drawView(rng, aug, h, w);
    const f = Math.fround;
    return { top: f(v.top), left: f(v.left), height: f(v.height), width: f(v.width), flip: v.flip };
  });
}

/** The parts of the whole set, and which of them shard i of n makes. */
export function partsFor(n: number, partSize: number, shard?: { index: number; count: number }) {
  const total = Math.ceil(n / partSize);
  const [from, to] = shard
    ? [
        Math.floor((shard.index * total) / shard.count),
        Math.floor(((shard.index + 1) * total) / shard.count),
      ]
    : [0, total];
  return Array.from({ length: to - from }, (_, i) => {
    const index = from + i;
    const start = index * partSize;
    return { index, start, count: Math.min(partSize, n - start) };
  });
}

/** Where shard i of n is written: beside the final file, merged by `mergeLabelShards`. */
export function shardFile(file: string, shard: { index: number; count: number }): string {
  return `${file}.shard-${shard.index}-of-${shard.count}`;
}

const PART_MAGIC = Buffer.from('MEALPART');

/** A finished part in the work folder: a small self-checking prefix, then its bytes. */
function encodePartFile(index: number, start: number, count: number, body: Uint8Array): Buffer {
  const pre = Buffer.alloc(28);
  PART_MAGIC.copy(pre, 0);
  pre.writeUInt32LE(index, 8);
  pre.writeUInt32LE(start, 12);
  pre.writeUInt32LE(count, 16);
  pre.writeUInt32LE(body.length, 20);
  pre.writeUInt32LE(zlib.crc32(body), 24);
  return Buffer.concat([pre, body]);
}

/** A part file's bytes if it is whole and is the part expected; otherwise why not. */
function readPartFile(
  file: string,
  want: { index: number; start: number; count: number; bytes: number },
): Buffer | string {
  const buf = fs.readFileSync(file);
  if (buf.length < 28 || !buf.subarray(0, 8).equals(PART_MAGIC)) return 'not a part file';
  if (
    buf.readUInt32LE(8) !== want.index ||
    buf.readUInt32LE(12) !== want.start ||
    buf.readUInt32LE(16) !== want.count
  ) {
    return 'it holds another sample range';
  }
  const body = buf.subarray(28);
  if (buf.readUInt32LE(20) !== want.bytes || body.length !== want.bytes) {
    return `expected ${want.bytes} bytes, found ${body.length}`;
  }
  if (zlib.crc32(body) !== buf.readUInt32LE(24)) return 'its CRC-32 does not match';
  return body;
}

export interface LabelJob {
  /** The final file; a shard writes `shardFile(file, shard)`. */
  file: string;
  header: Omit<LabelHeader, 'parts' | 'range' | 'shard' | 'made'>;
  shard?: { index: number; count: number };
  ensemble: SoftLabelSource & { scoreAsync(x: tf.Tensor4D): Promise<tf.Tensor2D> };
  ds: Dataset;
  /** Crops per teacher batch. */
  batchSize: number;
  log: Logger;
  /** Called after each teacher batch with crops done and crops in all. */
  onProgress?: (done: number, total: number) => void;
}

export interface LabelResult {
  file: string;
  header: LabelHeader;
  bytes: number;
  madeParts: number;
  reusedParts: number;
  seconds: number;
}

/** Runs the ensemble on every crop of one part and compresses its labels. */
async function makePart(
  job: LabelJob,
  start: number,
  count: number,
  tick: (crops: number) => void,
): Promise<PartData> {
  const { header: h, ds } = job;
  const [ih, iw, ic] = ds.shape;
  const m = h.crops.perSample;
  const part = emptyPart(h, count);
  const per = storedPerRow(h.compression, h.numClasses);
  const c = h.numClasses;
  const pixels = ih * iw * ic;
  const rows = count * m;
  const views: View[] = [];
  for (let i = 0; i < count; i++)
    views.push(...sampleViews(h.seed, start + i, m, h.crops.augment, ih, iw));
  views.forEach((v, r) => {
    part.boxes.set([v.top, v.left, v.height, v.width], r * 4);
    part.flips[r] = v.flip ? 1 : 0;
  });

  for (let r0 = 0; r0 < rows; r0 += job.batchSize) {
    // A turn of the event loop per batch, so Ctrl-C (the CLI's SIGINT handler) stops the run
    // within a batch: resolved awaits alone never reach the loop.
    await new Promise((resolve) => setImmediate(resolve));
    const b = Math.min(job.batchSize, rows - r0);
    const xs = new Float32Array(b * pixels);
    for (let j = 0; j < b; j++) {
      const r = r0 + j;
      const id = start + Math.floor(r / m);
      renderView(ds.images, id * pixels, ih, iw, ic, views[r], xs, j * pixels);
    }
    const x = tf.tensor4d(xs, [b, ih, iw, ic]); // (b, H, W, C)
    let probs: Float32Array;
    try {
      const p = await job.ensemble.scoreAsync(x); // (b, classes)
      probs = (await p.data()) as Float32Array;
      p.dispose();
    } finally {
      x.dispose();
    }
    for (let j = 0; j < b; j++) {
      const r = r0 + j;
      const row = probs.subarray(j * c, (j + 1) * c);
      if (h.compression.kind === 'full') {
        for (let k = 0; k < c; k++)
          part.values[r * per + k] = encodeValue(row[k], h.compression.dtype);
      } else {
        topK(row, per, part.indices!, r * per);
        for (let k = 0; k < per; k++) {
          part.values[r * per + k] = encodeValue(
            row[part.indices![r * per + k]],
            h.compression.dtype,
          );
        }
      }
    }
    tick(b);
  }
  return part;
}

/** Generates (or resumes, or finds finished) the labels of one whole set or one shard. */
export async function generateLabels(job: LabelJob): Promise<LabelResult> {
  const t0 = performance.now();
  const { header: h, ds, log } = job;
  const target = job.shard ? shardFile(job.file, job.shard) : job.file;
  const parts = partsFor(ds.n, h.partSize, job.shard);
  const range: [number, number] = parts.length
    ? [parts[0].start, parts[parts.length - 1].start + parts[parts.length - 1].count]
    : [0, 0];
  const want = settingsOf(h);

  // A finished file for the same settings is kept; one for other settings is never overwritten.
  if (fs.existsSync(target)) {
    const { header: old } = decodeHeader(fs.readFileSync(target), target);
    const diff = settingsDiff(settingsOf(old), want);
    if (diff.length) {
      throw new MealError(
        'LABELS_EXIST',
        `${target} already holds soft labels made with other settings (${diff.join('; ')}). ` +
          'Delete it or write to another --out.',
      );
    }
    decodeLabelFile(fs.readFileSync(target), target);
    log.info(`${target} is already complete for these settings; nothing to do.`);
    const bytes = fs.statSync(target).size;
    return {
      file: target,
      header: old,
      bytes,
      madeParts: 0,
      reusedParts: old.parts.length,
      seconds: 0,
    };
  }

  // The work folder: its settings must be ours, then every whole part in it is reused.
  const work = `${target}.parts`;
  const settingsFile = path.join(work, 'settings.json');
  if (fs.existsSync(settingsFile)) {
    const old = JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as LabelSettings;
    const diff = settingsDiff(old, want);
    if (diff.length) {
      throw new MealError(
        'LABELS_RESUME_MISMATCH',
        `${work} holds an unfinished generation with other settings (${diff.join('; ')}). ` +
          'Rerun with the same settings to finish it, or delete the folder to start over.',
      );
    }
  } else {
    fs.mkdirSync(work, { recursive: true });
    writeFileAtomic(settingsFile, JSON.stringify(want, null, 2) + '\n');
  }
  for (const f of fs.readdirSync(work)) if (isTempFile(f)) fs.rmSync(path.join(work, f));

  const partFile = (index: number) => path.join(work, `part-${String(index).padStart(6, '0')}.bin`);
  const expected = (p: (typeof parts)[number]) => ({ ...p, bytes: partLayout(h, p.count).bytes });
  const todo = parts.filter((p) => {
    const f = partFile(p.index);
    if (!fs.existsSync(f)) return true;
    const got = readPartFile(f, expected(p));
    if (typeof got !== 'string') return false;
    log.warn(`${f} (${partName(p)}) is unusable: ${got}; making it again.`);
    fs.rmSync(f);
    return true;
  });
  const reused = parts.length - todo.length;
  if (reused) log.info(`resuming: ${reused} of ${parts.length} parts already made in ${work}`);

  // Make the missing parts, each written atomically the moment it is done.
  const totalCrops = parts.reduce((s, p) => s + p.count, 0) * h.crops.perSample;
  let done =
    (parts.reduce((s, p) => s + p.count, 0) - todo.reduce((s, p) => s + p.count, 0)) *
    h.crops.perSample;
  for (const p of todo) {
    const data = await makePart(job, p.start, p.count, (crops) => {
      done += crops;
      job.onProgress?.(done, totalCrops);
    });
    writeFileAtomic(
      partFile(p.index),
      encodePartFile(p.index, p.start, p.count, encodePart(h, p.count, data)),
    );
  }

  // Assemble the file from the checked parts, then drop the work folder.
  const bodies = parts.map((p) => {
    const got = readPartFile(partFile(p.index), expected(p));
    if (typeof got === 'string') {
      throw new MealError(
        'CORRUPT_LABELS',
        `${partFile(p.index)} (${partName(p)}) changed on disk while assembling: ${got}. Run again.`,
      );
    }
    return { ...p, bytes: got };
  });
  const seconds = (performance.now() - t0) / 1000;
  const header = {
    ...h,
    range,
    ...(job.shard ? { shard: job.shard } : {}),
    made: { seconds, date: new Date().toISOString() },
  };
  const chunks = encodeLabelFile(header, bodies);
  writeChunksAtomic(target, chunks);
  fs.rmSync(work, { recursive: true, force: true });
  return {
    file: target,
    header: decodeHeader(Buffer.from(chunks[0]), target).header,
    bytes: chunks.reduce((s, c) => s + c.length, 0),
    madeParts: todo.length,
    reusedParts: reused,
    seconds,
  };
}

/** Joins the shard files `<file>.shard-i-of-n` (all n of them, checked) into `<file>`. */
export function mergeLabelShards(file: string, log: Logger): LabelResult {
  const t0 = performance.now();
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const pattern = new RegExp(
    `^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.shard-(\\d+)-of-(\\d+)$`,
  );
  const found = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .map((f) => f.match(pattern))
        .filter((m) => m !== null)
    : [];
  if (found.length === 0) {
    throw new MealError(
      'NO_SHARDS',
      `no shard files ${file}.shard-I-of-N to merge. Make them first: meal labels --out ${file} --shard I/N ...`,
    );
  }
  const counts = new Set(found.map((m) => Number(m[2])));
  if (counts.size > 1) {
    throw new MealError(
      'SHARD_MISMATCH',
      `shards of different splits sit beside ${file} (of ${[...counts].join(', ')}); keep one set.`,
    );
  }
  const n = [...counts][0];
  const have = new Set(found.map((m) => Number(m[1])));
  const missing = [...Array(n).keys()].filter((i) => !have.has(i));
  if (missing.length) {
    throw new MealError(
      'SHARD_MISSING',
      `cannot merge ${file}: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${n} ` +
        `${missing.length > 1 ? 'are' : 'is'} missing. Make ${missing.length > 1 ? 'them' : 'it'} with --shard I/${n}.`,
    );
  }
  const shards = [...Array(n).keys()].map((i) => {
    const f = shardFile(file, { index: i, count: n });
    const buf = fs.readFileSync(f);
    decodeLabelFile(buf, f); // every part checked before anything is written
    return { f, buf, ...decodeHeader(buf, f) };
  });
  const first = settingsOf(shards[0].header);
  let next = 0;
  const bodies: { index: number; start: number; count: number; bytes: Uint8Array }[] = [];
  for (const s of shards) {
    const diff = settingsDiff(first, settingsOf(s.header));
    if (diff.length) {
      throw new MealError(
        'SHARD_MISMATCH',
        `${s.f} was made with other settings than ${shards[0].f} (${diff.join('; ')}).`,
      );
    }
    if (s.header.range[0] !== next) {
      throw new MealError(
        'SHARD_MISMATCH',
        `${s.f} starts at sample ${s.header.range[0]}, expected ${next}.`,
      );
    }
    next = s.header.range[1];
    for (const p of s.header.parts) {
      const at = s.bodyStart + p.offset;
      bodies.push({
        index: p.index,
        start: p.start,
        count: p.count,
        bytes: s.buf.subarray(at, at + p.bytes),
      });
    }
  }
  const h = shards[0].header;
  if (next !== h.data.n) {
    throw new MealError(
      'SHARD_MISMATCH',
      `the shards cover samples 0-${next - 1}, the data set has ${h.data.n}.`,
    );
  }
  const { parts: _p, shard: _s, range: _r, made: _m, ...rest } = h;
  const seconds = shards.reduce((t, s) => t + (s.header.made?.seconds ?? 0), 0);
  const header = {
    ...rest,
    range: [0, next] as [number, number],
    made: { seconds, date: new Date().toISOString() },
  };
  const chunks = encodeLabelFile(header, bodies);
  writeChunksAtomic(file, chunks);
  const bytes = chunks.reduce((s, c) => s + c.length, 0);
  log.info(
    `merged ${n} shards into ${file} (${bytes.toLocaleString('en-US')} bytes); the shard files can go.`,
  );
  return {
    file,
    header: decodeHeader(Buffer.from(chunks[0]), file).header,
    bytes,
    madeParts: 0,
    reusedParts: bodies.length,
    seconds: (performance.now() - t0) / 1000,
  };
}
