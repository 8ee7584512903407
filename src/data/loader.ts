/**
 * Batches of a data set: a seeded order per epoch, seeded views per sample,
 * float pixels ready for a tensor. The order and the views of epoch e depend
 * only on (seed, e), so a run resumed at an epoch boundary sees exactly the
 * batches the uninterrupted run saw. With stored views (the soft-label cache)
 * the loader replays them instead of drawing new ones.
 */
import { Rng } from '../util/rng.js';
import { drawView, IDENTITY_VIEW, renderView, type AugmentOptions, type View } from './augment.js';
import type { Dataset } from './dataset.js';

export interface Batch {
  ids: Int32Array; // (B,) sample ids, the key for anything stored per sample
  x: Float32Array; // (B, H, W, C) in [0, 1]
  y: Uint8Array; // (B,) hard labels, for metrics and supervised training
  views: View[];
  /** (B,) which stored crop of each sample this is, when views are replayed from a cache. */
  crops?: Int32Array;
  size: number;
}

/** Views stored per sample (the soft-label cache): crop `crop` of sample `id`. */
export interface ViewSource {
  cropsPerSample: number;
  view(id: number, crop: number): View;
}

export interface LoaderOptions {
  batchSize: number;
  shuffle: boolean;
  augment?: AugmentOptions;
  seed: number;
  /** Keep the last, smaller batch (evaluation) or drop it (training). */
  dropLast?: boolean;
  /** Replay stored views instead of drawing new ones; `augment` is then ignored. */
  replay?: ViewSource;
}

export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  if (!shuffle) return Int32Array.from({ length: n }, (_, i) => i);
  return Rng.derive(seed, 'order', epoch).permutation(n);
}

export function batchCount(n: number, opts: LoaderOptions): number {
  return opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
}

/**
 * Which stored crop each sample shows at an epoch: a seeded offset per sample, then one step
 * per epoch, so over M epochs every sample shows each of its M crops once (as FKD replays one
 * stored crop set per epoch). Depends only on (seed, epoch): resumed runs replay the same.
 */
export function replayCrops(
  n: number,
  cropsPerSample: number,
  seed: number,
  epoch: number,
): Int32Array {
  const rng = Rng.derive(seed, 'crop-offsets');
  const crops = new Int32Array(n);
  for (let i = 0; i < n; i++) crops[i] = (rng.int(0, cropsPerSample - 1) + epoch) % cropsPerSample;
  return crops;
}

export function makeBatch(ds: Dataset, ids: Int32Array, views: View[], crops?: Int32Array): Batch {
  const [h, w, c] = ds.shape;
  const per = h * w * c;
  const x = new Float32Array(ids.length * per);
  const y = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    renderView(ds.images, ids[i] * per, h, w, c, views[i], x, i * per);
    y[i] = ds.labels[ids[i]];
  }
  return { ids, x, y, views, crops, size: ids.length };
}

/**
 * The batches of one epoch. The next batch is built while the caller works
 * on the current one (a one-batch prefetch across the await).
 */
export async function* epochBatches(
  ds: Dataset,
  epoch: number,
  opts: LoaderOptions,
): AsyncGenerator<Batch> {
  const order = epochOrder(ds.n, opts.seed, epoch, opts.shuffle);
  const viewRng = Rng.derive(opts.seed, 'views', epoch);
  const count = batchCount(ds.n, opts);
  const [h, w] = ds.shape;
  const replay = opts.replay;
  const cropOf = replay && replayCrops(ds.n, replay.cropsPerSample, opts.seed, epoch);
  const build = (b: number): Batch => {
    const ids = order.subarray(b * opts.batchSize, Math.min(ds.n, (b + 1) * opts.batchSize));
    if (replay && cropOf) {
      const crops = Int32Array.from(ids, (id) => cropOf[id]);
      return makeBatch(
        ds,
        ids,
        Array.from(ids, (id, i) => replay.view(id, crops[i])),
        crops,
      );
    }
    const views = Array.from(ids, () =>
      opts.augment ? drawView(viewRng, opts.augment, h, w) : IDENTITY_VIEW,
    );
    return makeBatch(ds, ids, views);
  };
  let next: Promise<Batch> | undefined = count > 0 ? Promise.resolve(build(0)) : undefined;
  for (let b = 0; b < count; b++) {
    const current = await next!;
    next = b + 1 < count ? new Promise((r) => setImmediate(() => r(build(b + 1)))) : undefined;
    yield current;
  }
}
