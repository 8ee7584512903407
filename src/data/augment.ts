/**
 * Seeded training transforms on uint8 images, producing float pixels in
 * [0, 1]. Normalisation to mean/std lives in the models (a Standardize layer),
 * so every consumer of a model feeds it plain [0, 1] pixels.
 *
 * A view is a box in fractions of the image plus a flip flag, the form the
 * soft-label cache stores (FKD): the same numbers render the same pixels in
 * `meal labels` and in `meal distill --labels`, so the student sees exactly
 * what the teachers saw.
 */
import type { Rng } from '../util/rng.js';
import { MealError } from '../util/errors.js';

export type CropKind = 'pad' | 'resized';

export interface AugmentOptions {
  /**
   * 'pad': shift by up to `cropPadding` pixels with zero fill (the CIFAR-style crop);
   * 'resized': a random box of `scale` x the area and `ratio` aspect, resized to the image
   * size (RandomResizedCrop, as the paper trains on ImageNet).
   */
  crop?: CropKind;
  /** Zero padding for the 'pad' crop, in pixels; 0 turns it off. */
  cropPadding: number;
  /** Area fraction range of the 'resized' crop. */
  scale?: [number, number];
  /** Aspect ratio (width / height) range of the 'resized' crop, drawn log-uniformly. */
  ratio?: [number, number];
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
}

/** Where one sample's view came from: a box in fractions of the image, then a mirror flag. */
export interface View {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: boolean;
}

export const IDENTITY_VIEW: View = { top: 0, left: 0, height: 1, width: 1, flip: false };

export const DEFAULT_SCALE: [number, number] = [0.35, 1];
export const DEFAULT_RATIO: [number, number] = [3 / 4, 4 / 3];

/** A random 'resized' box: up to ten tries at the drawn area and aspect, else the whole image. */
function resizedBox(rng: Rng, h: number, w: number, scale: number[], ratio: number[]) {
  const area = h * w;
  const [lo, hi] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let i = 0; i < 10; i++) {
    const target = area * (scale[0] + rng.next() * (scale[1] - scale[0]));
    const aspect = Math.exp(lo + rng.next() * (hi - lo));
    const bw = Math.round(Math.sqrt(target * aspect));
    const bh = Math.round(Math.sqrt(target / aspect));
    if (bw > 0 && bh > 0 && bw <= w && bh <= h) {
      const top = rng.int(0, h - bh);
      const left = rng.int(0, w - bw);
      return { top: top / h, left: left / w, height: bh / h, width: bw / w };
    }
  }
  return { top: 0, left: 0, height: 1, width: 1 };
}

/** One seeded view of an (h, w) image. Boxes sit on whole pixels, so replays are exact. */
export function drawView(rng: Rng, opts: AugmentOptions, h: number, w: number): View {
  let box = { top: 0, left: 0, height: 1, width: 1 };
  if ((opts.crop ?? 'pad') === 'pad') {
    const p = opts.cropPadding;
    if (p > 0) box = { ...box, top: rng.int(-p, p) / h, left: rng.int(-p, p) / w };
  } else {
    box = resizedBox(rng, h, w, opts.scale ?? DEFAULT_SCALE, opts.ratio ?? DEFAULT_RATIO);
  }
  return { ...box, flip: opts.flip ? rng.next() < 0.5 : false };
}

/** An integer when `v` is one up to rounding of the fraction, else undefined. */
function whole(v: number): number | undefined {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-4 ? r : undefined;
}

/**
 * Writes one (H, W, C) uint8 image as seen through `view` into `out` at `offset`
 * as [0, 1] pixels of the same size: the box is resized to (H, W) bilinearly
 * (half-pixel centres, as torchvision's resize), zeros where it leaves the
 * image, then mirrored if asked. A box of the image's size on whole pixels
 * is an exact copy.
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
  if (!(view.height > 0 && view.width > 0)) {
    throw new MealError(
      'BAD_VIEW',
      `a view box needs a positive height and width (fractions of the image); found ` +
        `${view.height} x ${view.width}.`,
    );
  }
  const dy = whole(view.top * h);
  const dx = whole(view.left * w);
  if (
    dy !== undefined &&
    dx !== undefined &&
    whole(view.height * h) === h &&
    whole(view.width * w) === w
  ) {
    shiftView(src, srcOffset, h, w, c, dy, dx, view.flip, out, offset);
    return;
  }
  const sy = view.height; // source pixels per output pixel, as fractions times h / h
  const sx = view.width;
  for (let y = 0; y < h; y++) {
    const fy = view.top * h + (y + 0.5) * sy - 0.5; // source row of this output row
    for (let x = 0; x < w; x++) {
      const xo = view.flip ? w - 1 - x : x;
      const fx = view.left * w + (x + 0.5) * sx - 0.5;
      const o = offset + (y * w + xo) * c;
      if (fy < -0.5 || fy > h - 0.5 || fx < -0.5 || fx > w - 0.5) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
        continue;
      }
      const y0 = Math.max(0, Math.floor(fy));
      const x0 = Math.max(0, Math.floor(fx));
      const y1 = Math.min(h - 1, y0 + 1);
      const x1 = Math.min(w - 1, x0 + 1);
      const ay = Math.min(1, Math.max(0, fy - y0));
      const ax = Math.min(1, Math.max(0, fx - x0));
      for (let k = 0; k < c; k++) {
        const p = (yy: number, xx: number) => src[srcOffset + (yy * w + xx) * c + k];
        const top = p(y0, x0) * (1 - ax) + p(y0, x1) * ax;
        const bottom = p(y1, x0) * (1 - ax) + p(y1, x1) * ax;
        out[o + k] = (top * (1 - ay) + bottom * ay) / 255;
      }
    }
  }
}

/** The exact path: a whole-pixel shift with zero fill, then optionally mirrored. */
function shiftView(
  src: Uint8Array,
  srcOffset: number,
  h: number,
  w: number,
  c: number,
  dy: number,
  dx: number,
  flip: boolean,
  out: Float32Array,
  offset: number,
): void {
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    for (let x = 0; x < w; x++) {
      const sx = x + dx;
      const o = offset + (y * w + (flip ? w - 1 - x : x)) * c;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
      } else {
        const s = srcOffset + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) out[o + k] = src[s + k] / 255;
      }
    }
  }
}
