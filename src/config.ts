/**
 * One typed config for every command. Defaults live here and only here;
 * precedence is defaults < recipe file < flags. The whole config is validated
 * against a JSON schema before any tensor is made, and every problem is
 * reported at once.
 */
import * as fs from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import type { Schedule } from './train/schedule.js';
import type { OptimizerName } from './train/optimizer.js';
import type { DiscriminatorMode, StudentGradient } from './distill/discriminator.js';
import type { AugmentOptions, CropKind } from './data/augment.js';
import type { Compression, RecoveryRule, ValueType } from './labels/compress.js';
import { MealError } from './util/errors.js';

export interface MealConfig {
  seed: number;
  backend: 'auto' | 'wasm' | 'cpu' | 'tensorflow';
  /** Threads for the wasm backend; 0 means one per core. */
  threads: number;
  /**
   * On wasm, run convolutions on onnxruntime's native CPU kernels when onnxruntime-node loads
   * (3-10x faster than wasm's; see README "Performance"). false keeps everything in wasm.
   */
  nativeKernels: boolean;
  data: {
    /** Folder of IDX files; empty means ./data/fashion-mnist, then Debian's. */
    dir: string;
    /** Use only the first N training / test images (0 = all). */
    trainLimit: number;
    testLimit: number;
    /** 'pad': shift with zero padding; 'resized': RandomResizedCrop of scale x the area. */
    crop: CropKind;
    /** Zero padding of the 'pad' crop in pixels (0 = no crop). */
    cropPadding: number;
    /** Area fraction and aspect ranges of the 'resized' crop. */
    cropScale: [number, number];
    cropRatio: [number, number];
    flip: boolean;
    /** Per-channel normalisation baked into new models. */
    mean: number[];
    std: number[];
  };
  student: {
    arch: string;
    /** A saved model to start from (MEAL V2 needs a pre-trained student, §2.6). */
    init: string;
  };
  /** Teacher model folders (meal distill, meal eval). */
  teachers: string[];
  distill: {
    /** w_sim in L = w_sim L_sim + w_D L_D. */
    similarityWeight: number;
    /** Which value of the similarity loss is logged: KL(p||q) or the soft cross-entropy. */
    report: 'kl' | 'soft_ce';
    discriminator: {
      enabled: boolean;
      mode: DiscriminatorMode;
      /** Hidden sizes; empty means the official C/8, C/64 with a floor of 16. */
      hidden: number[];
      lr: number;
      weight: number;
      /**
       * What the student gets from the discriminator loss: 'joint' (the authors' code: the same
       * gradient as the discriminator, so it helps it), 'reversed' (it learns to fool it), or
       * 'auto': joint in faithful mode, reversed in corrected mode.
       */
      studentGradient: StudentGradient;
    };
  };
  /** The soft-label cache (FKD): `meal labels` writes it, `meal distill` replays it. */
  labels: {
    /** The label file; empty for distill means live teachers. */
    file: string;
    /** Stored crops per training sample (M). */
    crops: number;
    compression: Compression;
    /** Classes kept per row when compression is topk. */
    k: number;
    rule: RecoveryRule;
    dtype: ValueType;
    /** Samples per part: the unit of checking, resuming and sharding. */
    partSize: number;
    /** "i/n": make only shard i of n (0-based); empty for the whole set. */
    shard: string;
  };
  optim: {
    name: OptimizerName;
    lr: number;
    momentum: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    epsilon: number;
    schedule: Schedule;
  };
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  /** Plain progress lines every N steps when stdout is not a terminal. */
  logEvery: number;
  /** The run folder. */
  out: string;
  /** Continue the run in `out` from its last checkpoint. */
  resume: boolean;
}

export const DEFAULTS: MealConfig = {
  seed: 0,
  backend: 'auto',
  threads: 0,
  nativeKernels: true,
  data: {
    dir: '',
    trainLimit: 0,
    testLimit: 0,
    crop: 'pad',
    cropPadding: 2,
    cropScale: [0.35, 1],
    cropRatio: [0.75, 1.3333333333333333],
    flip: true,
    mean: [0.286],
    std: [0.353],
  },
  student: { arch: 'cnn-tiny', init: '' },
  teachers: [],
  distill: {
    similarityWeight: 1,
    report: 'kl',
    discriminator: {
      enabled: true,
      mode: 'corrected',
      hidden: [],
      lr: 1e-4,
      weight: 1,
      studentGradient: 'auto',
    },
  },
  labels: {
    file: '',
    crops: 8,
    compression: 'full',
    k: 3,
    rule: 'marginal_smoothing',
    dtype: 'float16',
    partSize: 2048,
    shard: '',
  },
  optim: {
    name: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    schedule: { kind: 'cosine', epochs: 0 },
  },
  epochs: 10,
  batchSize: 128,
  evalBatchSize: 500,
  logEvery: 50,
  out: 'runs/latest',
  resume: false,
};

const num = { type: 'number' };
const posInt = { type: 'integer', minimum: 1 };
const nonNegInt = { type: 'integer', minimum: 0 };
const positive = { type: 'number', exclusiveMinimum: 0 };
const nonNeg = { type: 'number', minimum: 0 };
/** [lo, hi] with lo <= hi checked after the schema (JSON schema cannot compare items). */
const range = (min: number, max: number) => ({
  type: 'array',
  items: { type: 'number', exclusiveMinimum: min, maximum: max },
  minItems: 2,
  maxItems: 2,
});
const obj = (properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  properties,
});

export const SCHEMA = obj({
  $schema: { type: 'string' },
  seed: nonNegInt,
  backend: { enum: ['auto', 'wasm', 'cpu', 'tensorflow'] },
  threads: nonNegInt,
  nativeKernels: { type: 'boolean' },
  data: obj({
    dir: { type: 'string' },
    trainLimit: nonNegInt,
    testLimit: nonNegInt,
    crop: { enum: ['pad', 'resized'] },
    cropPadding: nonNegInt,
    cropScale: range(0, 1),
    cropRatio: range(0, 100),
    flip: { type: 'boolean' },
    mean: { type: 'array', items: num, minItems: 1 },
    std: { type: 'array', items: positive, minItems: 1 },
  }),
  student: obj({ arch: { type: 'string' }, init: { type: 'string' } }),
  teachers: { type: 'array', items: { type: 'string' } },
  distill: obj({
    similarityWeight: nonNeg,
    report: { enum: ['kl', 'soft_ce'] },
    discriminator: obj({
      enabled: { type: 'boolean' },
      mode: { enum: ['corrected', 'faithful'] },
      hidden: { type: 'array', items: posInt, maxItems: 2 },
      lr: nonNeg,
      weight: nonNeg,
      studentGradient: { enum: ['auto', 'joint', 'reversed'] },
    }),
  }),
  labels: obj({
    file: { type: 'string' },
    crops: { type: 'integer', minimum: 1, maximum: 65535 },
    compression: { enum: ['full', 'topk'] },
    k: { type: 'integer', minimum: 1, maximum: 65535 },
    rule: { enum: ['marginal_smoothing', 'marginal_renorm'] },
    dtype: { enum: ['float32', 'float16'] },
    partSize: posInt,
    shard: { type: 'string', pattern: '^(\\d+/\\d+)?$' },
  }),
  optim: obj({
    name: { enum: ['sgd', 'adam'] },
    lr: positive,
    momentum: { type: 'number', minimum: 0, maximum: 1 },
    weightDecay: nonNeg,
    beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
    beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
    epsilon: positive,
    schedule: {
      oneOf: [
        obj({ kind: { const: 'constant' } }),
        {
          ...obj({
            kind: { const: 'step' },
            milestones: { type: 'array', items: nonNegInt },
            gamma: positive,
          }),
          required: ['kind', 'milestones', 'gamma'],
        },
        {
          ...obj({ kind: { const: 'cosine' }, epochs: nonNegInt, minLr: nonNeg }),
          required: ['kind'],
        },
      ],
    },
  }),
  epochs: posInt,
  batchSize: posInt,
  evalBatchSize: posInt,
  logEvery: posInt,
  out: { type: 'string', minLength: 1 },
  resume: { type: 'boolean' },
});

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars of `over` replace those of `base`. */
export function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    // A new schedule kind replaces the old object rather than mixing fields of two kinds.
    out[k] = k === 'schedule' ? v : merge((base as Record<string, unknown>)[k], v);
  }
  return out as T;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
  if (e.keyword === 'additionalProperties') {
    const field = (e.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
    return `${where}: unknown field "${field}" (known: ${known.join(', ')})`;
  }
  if (e.keyword === 'enum') {
    return `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  }
  return `${where}: ${e.message}`;
}

const ajv = new Ajv({ allErrors: true, verbose: true }); // verbose: errors carry their schema
const check = ajv.compile(SCHEMA);

/** Checks the schema cannot express: ordered ranges, a shard index below its count. */
function crossChecks(value: DeepPartial<MealConfig>): string[] {
  const out: string[] = [];
  for (const key of ['cropScale', 'cropRatio'] as const) {
    const r = value.data?.[key];
    if (r && r.length === 2 && r[0]! > r[1]!)
      out.push(`data.${key}: [lo, hi] needs lo <= hi, found [${r}]`);
  }
  const shard = value.labels?.shard as unknown;
  if (typeof shard === 'string' && /^\d+\/\d+$/.test(shard)) {
    const [i, n] = shard.split('/').map(Number);
    if (!(n >= 1 && i < n))
      out.push(`labels.shard: "${shard}" needs 0 <= i < n (0-based), e.g. "0/4"`);
  }
  return out;
}

/** Validates a whole config (or recipe) and throws one error listing every problem. */
export function validateConfig(value: unknown, source: string): void {
  check(value);
  const lines = [
    ...new Set((check.errors ?? []).map(describe)),
    ...(typeof value === 'object' && value ? crossChecks(value as DeepPartial<MealConfig>) : []),
  ];
  if (lines.length === 0) return;
  throw new MealError(
    'BAD_CONFIG',
    `${source} has ${lines.length} problem${lines.length > 1 ? 's' : ''}:\n  - ${lines.join('\n  - ')}\n` +
      'See recipes/*.json for complete examples.',
  );
}

export function readRecipe(file: string): DeepPartial<MealConfig> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MealError('MISSING_FILE', `cannot read recipe ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MealError('BAD_CONFIG', `recipe ${file} is not valid JSON: ${(e as Error).message}`);
  }
  validateConfig(value, `recipe ${file}`);
  return value as DeepPartial<MealConfig>;
}

/** defaults < recipe < flags, then the whole result validated. */
export function resolveConfig(
  recipe: DeepPartial<MealConfig> | undefined,
  flags: DeepPartial<MealConfig>,
): MealConfig {
  const config = merge(merge(DEFAULTS, recipe ?? {}), flags);
  validateConfig(config, 'the resolved config (defaults < recipe < flags)');
  return config;
}

/** The training augmentation a config asks for. */
export function augmentOf(config: MealConfig): AugmentOptions {
  const d = config.data;
  return {
    crop: d.crop,
    cropPadding: d.cropPadding,
    scale: d.cropScale,
    ratio: d.cropRatio,
    flip: d.flip,
  };
}

/** "i/n" as numbers, or undefined for the whole set. */
export function parseShard(shard: string): { index: number; count: number } | undefined {
  if (!shard) return undefined;
  const [index, count] = shard.split('/').map(Number);
  return { index, count };
}
