/**
 * `meal distill --labels FILE`: stored soft labels replayed exactly. The
 * loader asks this cache for crop `j` of sample `i` and renders the very box
 * and flip the teachers saw; the step asks it for the labels of (sample id,
 * crop id) pairs, never of batch positions (cases.md #11). No teacher is built
 * or run.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tf } from '../engine/tf.js';
import type { View } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import type { Batch, ViewSource } from '../data/loader.js';
import type { SoftLabels, SoftLabelSource } from '../distill/soft-labels.js';
import { MealError } from '../util/errors.js';
import { decodeValue, recoverFull, recoverTopK } from './compress.js';
import { decodeLabelFile, type LabelHeader, type PartData } from './format.js';

export function classHash(classNames: string[]): string {
  return createHash('sha256').update(JSON.stringify(classNames)).digest('hex');
}

/** SHA-256 of a data set's pixels: labels are only valid for the images they were made from. */
export function datasetHash(ds: Dataset): string {
  return createHash('sha256').update(ds.images).digest('hex');
}

export class LabelCache implements SoftLabelSource, ViewSource {
  readonly cropsPerSample: number;
  /** The loader replays this cache's stored views. */
  readonly views: ViewSource = this;

  private constructor(
    readonly file: string,
    readonly header: LabelHeader,
    private readonly parts: PartData[],
  ) {
    this.cropsPerSample = header.crops.perSample;
  }

  /** Reads the file and checks every part against the header (pre-flight) before any step. */
  static open(file: string): LabelCache {
    if (!fs.existsSync(file)) {
      throw new MealError(
        'MISSING_FILE',
        `soft-label file ${file} does not exist. Make it with "meal labels --out ${file} --teacher ...".`,
      );
    }
    const { header, parts } = decodeLabelFile(fs.readFileSync(file), file);
    if (header.shard) {
      throw new MealError(
        'LABELS_SHARD',
        `${file} is shard ${header.shard.index} of ${header.shard.count} (samples ${header.range[0]}-` +
          `${header.range[1] - 1}), not a whole label set. Merge the shards first: meal labels --merge --out FILE.`,
      );
    }
    return new LabelCache(file, header, parts);
  }

  /**
   * Refuses labels made for another data set, class list, image size or teacher set, saying
   * which. `teachers` are the SHA-256 fingerprints of the teachers this run names, if any.
   */
  checkFor(ds: Dataset, teachers: { path: string; sha256: string }[]): void {
    const h = this.header;
    const fail = (what: string, fix: string): never => {
      throw new MealError('LABELS_MISMATCH', `soft-label file ${this.file} ${what}. ${fix}`);
    };
    const remake =
      'Make labels for this run with "meal labels", or use the data and teachers the file was made for.';
    if (h.numClasses !== ds.numClasses || h.classHash !== classHash(ds.classNames)) {
      fail(
        `was made for another class list (${h.numClasses} classes: ${h.classNames.join(', ')}); ` +
          `this data set has ${ds.numClasses}: ${ds.classNames.join(', ')}`,
        remake,
      );
    }
    if (h.data.shape.join('x') !== ds.shape.join('x')) {
      fail(
        `was made for ${h.data.shape.join('x')} images; this data set has ${ds.shape.join('x')}`,
        remake,
      );
    }
    const hash = datasetHash(ds);
    if (h.data.n !== ds.n || h.data.sha256 !== hash) {
      fail(
        `was made for another data set (${h.data.name}: ${h.data.n} images, pixels sha256 ` +
          `${h.data.sha256.slice(0, 12)}); this run's training set is ${ds.name}: ${ds.n} images, ` +
          `sha256 ${hash.slice(0, 12)}`,
        'Use the same --data and --train-limit as "meal labels" did, or make labels for this data.',
      );
    }
    if (teachers.length) {
      const mine = new Set(h.teachers.map((t) => t.sha256));
      const theirs = new Set(teachers.map((t) => t.sha256));
      const extra = teachers.filter((t) => !mine.has(t.sha256)).map((t) => t.path);
      const missing = h.teachers
        .filter((t) => !theirs.has(t.sha256))
        .map((t) => `${t.name} (${t.path})`);
      if (extra.length || missing.length) {
        fail(
          `was made by other teachers: ` +
            [
              extra.length ? `not made by ${extra.join(', ')}` : '',
              missing.length
                ? `made also by ${missing.join(', ')}, which this run does not name`
                : '',
            ]
              .filter(Boolean)
              .join('; '),
          'Name the same teachers (or none: the file says which), or make labels for these teachers.',
        );
      }
    }
  }

  private locate(id: number, crop: number): { part: PartData; row: number } {
    const h = this.header;
    if (!(id >= h.range[0] && id < h.range[1]) || !(crop >= 0 && crop < this.cropsPerSample)) {
      throw new MealError(
        'LABELS_RANGE',
        `${this.file} has no crop ${crop} of sample ${id} (it holds samples ${h.range[0]}-${h.range[1] - 1}, ` +
          `${this.cropsPerSample} crops each).`,
      );
    }
    const p = Math.floor((id - h.range[0]) / h.partSize);
    const entry = h.parts[p];
    return { part: this.parts[p], row: (id - entry.start) * this.cropsPerSample + crop };
  }

  view(id: number, crop: number): View {
    const { part, row } = this.locate(id, crop);
    const b = part.boxes;
    return {
      top: b[row * 4],
      left: b[row * 4 + 1],
      height: b[row * 4 + 2],
      width: b[row * 4 + 3],
      flip: part.flips[row] === 1,
    };
  }

  /** (B, C) recovered probabilities of (ids[i], crops[i]), row-major. */
  rows(ids: ArrayLike<number>, crops: ArrayLike<number>): Float32Array {
    const c = this.header.numClasses;
    const spec = this.header.compression;
    const out = new Float32Array(ids.length * c);
    for (let i = 0; i < ids.length; i++) {
      const { part, row } = this.locate(ids[i], crops[i]);
      if (spec.kind === 'full') {
        const stored = part.values.subarray(row * c, (row + 1) * c);
        const values = Array.from(stored, (v) => decodeValue(v, spec.dtype));
        recoverFull(values, spec.dtype, out, i * c);
      } else {
        const k = Math.min(spec.k, c);
        const indices = part.indices!.subarray(row * k, (row + 1) * k);
        for (const j of indices) {
          if (j >= c) {
            throw new MealError(
              'CORRUPT_LABELS',
              `${this.file}: a stored class index ${j} is not below ${c} (sample ${ids[i]}).`,
            );
          }
        }
        const values = Array.from(part.values.subarray(row * k, (row + 1) * k), (v) =>
          decodeValue(v, spec.dtype),
        );
        recoverTopK(indices, values, c, spec.rule, out, i * c);
      }
    }
    return out;
  }

  labels(batch: Batch): SoftLabels {
    if (!batch.crops) {
      throw new MealError(
        'LABELS_NO_CROPS',
        "a batch without crop ids reached the soft-label cache: the loader must replay the cache's views (options.replay).",
      );
    }
    return {
      probs: tf.tensor2d(this.rows(batch.ids, batch.crops), [batch.size, this.header.numClasses]),
    };
  }

  describe(): string[] {
    const h = this.header;
    const comp =
      h.compression.kind === 'full'
        ? `full ${h.compression.dtype}`
        : `top-${h.compression.k} ${h.compression.rule} ${h.compression.dtype}`;
    return [
      `soft labels: ${this.file}, ${h.data.n.toLocaleString('en-US')} samples x ${h.crops.perSample} crops, ${comp}; ` +
        'teachers are not run',
      // The stored views are replayed: a run's own crop and flip settings do not apply.
      `stored views: ${viewSettings(h.crops.augment)}; the run's crop and flip settings are not used`,
      ...h.teachers.map(
        (t) =>
          `teacher ${t.name} (recorded in the labels): output ${t.output}` +
          (t.params ? `, ${t.params.toLocaleString('en-US')} parameters` : '') +
          (t.top1 !== undefined ? `, top-1 ${t.top1.toFixed(2)}%` : ''),
      ),
    ];
  }
}

/** A label file's crop settings in a line. */
function viewSettings(a: LabelHeader['crops']['augment']): string {
  const crop =
    (a.crop ?? 'pad') === 'pad'
      ? `pad crops of up to ${a.cropPadding} pixels`
      : `resized crops (scale ${a.scale?.join('-')}, ratio ${a.ratio?.map((r) => r.toFixed(2)).join('-')})`;
  return `${crop}, ${a.flip ? 'with' : 'without'} flips`;
}
