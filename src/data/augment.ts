/**
 * Seeded training transforms on uint8 images, producing float pixels in
 * [0, 1]. Normalisation to mean/std lives in the models (a Standardize layer),
 * so every consumer of a model feeds it plain [0, 1] pixels.
 */
import type { Rng } from '../util/rng.js';

export interface AugmentOptions {
  /** Zero padding for the random crop, in pixels; 0 turns the crop off. */
  cropPadding: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
}

/** Where one sample's view came from: a shift of the padded crop and a flip flag. */
export interface View {
  dy: number;
  dx: number;
  flip: boolean;
}

export function drawView(rng: Rng, opts: AugmentOptions): View {
  const p = opts.cropPadding;
  return {
    dy: p > 0 ? rng.int(-p, p) : 0,
    dx: p > 0 ? rng.int(-p, p) : 0,
    flip: opts.flip ? rng.next() < 0.5 : false,
  };
}

export const IDENTITY_VIEW: View = { dy: 0, dx: 0, flip: false };

/**
 * Writes one (H, W, C) uint8 image, shifted by the view (zeros where the crop
 * leaves the image) and optionally mirrored, into `out` at `offset` as [0, 1].
 */
export function renderView(
  src: Uint8Array,
  srcOffset: number,
  h: number,
  w: number,
  c: number,
  view: View,
  out: Float32Array,
  offset: number,
): void {
  for (let y = 0; y < h; y++) {
    const sy = y + view.dy;
    for (let x = 0; x < w; x++) {
      const sx0 = x + view.dx;
      const sx = view.flip ? w - 1 - sx0 : sx0;
      const o = offset + (y * w + x) * c;
      if (sy < 0 || sy >= h || sx0 < 0 || sx0 >= w) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
      } else {
        const s = srcOffset + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) out[o + k] = src[s + k] / 255;
      }
    }
  }
}
