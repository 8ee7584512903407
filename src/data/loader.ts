/**
 * Batches of a data set: a seeded order per epoch, seeded views per sample,
 * float pixels ready for a tensor. The order and the views of epoch e depend
 * only on (seed, e), so a run resumed at an epoch boundary sees exactly the
 * batches the uninterrupted run saw.
 */
import { Rng } from '../util/rng.js';
import { drawView, IDENTITY_VIEW, renderView, type AugmentOptions, type View } from './augment.js';
import type { Dataset } from './dataset.js';

export interface Batch {
  ids: Int32Array; // (B,) sample ids, the key for anything stored per sample
  x: Float32Array; // (B, H, W, C) in [0, 1]
  y: Uint8Array; // (B,) hard labels, for metrics and supervised training
  views: View[];
  size: number;
}

export interface LoaderOptions {
  batchSize: number;
  shuffle: boolean;
  augment?: AugmentOptions;
  seed: number;
  /** Keep the last, smaller batch (evaluation) or drop it (training). */
  dropLast?: boolean;
}

export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  if (!shuffle) return Int32Array.from({ length: n }, (_, i) => i);
  return Rng.derive(seed, 'order', epoch).permutation(n);
}

export function batchCount(n: number, opts: LoaderOptions): number {
  return opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
}

export function makeBatch(ds: Dataset, ids: Int32Array, views: View[]): Batch {
  const [h, w, c] = ds.shape;
  const per = h * w * c;
  const x = new Float32Array(ids.length * per);
  const y = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    renderView(ds.images, ids[i] * per, h, w, c, views[i], x, i * per);
    y[i] = ds.labels[ids[i]];
  }
  return { ids, x, y, views, size: ids.length };
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
  const build = (b: number): Batch => {
    const ids = order.subarray(b * opts.batchSize, Math.min(ds.n, (b + 1) * opts.batchSize));
    const views = Array.from(ids, () =>
      opts.augment ? drawView(viewRng, opts.augment) : IDENTITY_VIEW,
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
