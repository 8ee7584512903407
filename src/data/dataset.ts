/**
 * An image classification data set held in memory as bytes: images
 * [N, H, W, C] uint8 and labels [N]. Sample ids are indices into it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MealError } from '../util/errors.js';
import { readIdx } from './idx.js';

export interface Dataset {
  name: string;
  images: Uint8Array; // (N, H, W, C)
  labels: Uint8Array; // (N,)
  n: number;
  shape: [number, number, number]; // (H, W, C)
  numClasses: number;
  classNames: string[];
}

export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export type Split = 'train' | 'test';

const FILES: Record<Split, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

export const DEBIAN_FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** Where Fashion-MNIST is looked for, in order, when no --data is given. */
export function defaultDataDirs(): string[] {
  return [path.resolve('data/fashion-mnist'), DEBIAN_FASHION_DIR];
}

function findFile(dir: string, base: string): string | undefined {
  for (const name of [base, `${base}.gz`]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Resolves the folder holding the IDX files: the given one, else the defaults. */
export function resolveDataDir(dir: string | undefined): string {
  const candidates = dir ? [path.resolve(dir)] : defaultDataDirs();
  for (const c of candidates) {
    if (findFile(c, FILES.train[0]) || findFile(c, FILES.test[0])) return c;
  }
  throw new MealError(
    'NO_DATA',
    `no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz]) ` +
      `found in ${candidates.join(' or ')}. Pass --data DIR, put the files in ` +
      `./data/fashion-mnist, or on Debian run: apt-get install dataset-fashion-mnist`,
  );
}

export function loadSplit(dir: string, split: Split, limit?: number): Dataset {
  const [imgBase, lblBase] = FILES[split];
  const imgFile = findFile(dir, imgBase);
  const lblFile = findFile(dir, lblBase);
  if (!imgFile || !lblFile) {
    throw new MealError(
      'NO_DATA',
      `the ${split} split needs ${imgBase}[.gz] and ${lblBase}[.gz] in ${dir}; ` +
        `found ${fs.existsSync(dir) ? fs.readdirSync(dir).join(', ') || 'nothing' : 'no such folder'}.`,
    );
  }
  const images = readIdx(imgFile);
  const labels = readIdx(lblFile);
  if (images.shape.length !== 3 || labels.shape.length !== 1) {
    throw new MealError(
      'BAD_IDX_SHAPE',
      `expected images [N, H, W] and labels [N]; found [${images.shape}] in ${imgFile} and ` +
        `[${labels.shape}] in ${lblFile}.`,
    );
  }
  if (images.shape[0] !== labels.shape[0]) {
    throw new MealError(
      'BAD_IDX_SHAPE',
      `${imgFile} has ${images.shape[0]} images but ${lblFile} has ${labels.shape[0]} labels; ` +
        'the two files must come from the same split.',
    );
  }
  const [, h, w] = images.shape;
  let n = images.shape[0];
  if (limit !== undefined && limit > 0 && limit < n) n = limit;
  let maxLabel = 0;
  for (let i = 0; i < n; i++) maxLabel = Math.max(maxLabel, labels.data[i]);
  const numClasses = Math.max(10, maxLabel + 1);
  return {
    name: `${path.basename(dir)}/${split}`,
    images: images.data.subarray(0, n * h * w),
    labels: labels.data.subarray(0, n),
    n,
    shape: [h, w, 1],
    numClasses,
    classNames: numClasses === 10 ? FASHION_CLASSES : [...Array(numClasses).keys()].map(String),
  };
}
