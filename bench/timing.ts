/** Timing helpers shared by the benchmarks. */
import { tf } from '../src/engine/tf.js';

export const WARMUP = 3;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median wall time of `fn` over `steps` runs after WARMUP; reading one value back makes sure the work has finished. */
export function medianMs(fn: () => tf.Tensor, steps: number): number {
  const once = () => {
    const t0 = performance.now();
    const out = fn();
    out.dataSync();
    out.dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < WARMUP; i++) once();
  return median(Array.from({ length: steps }, once));
}
