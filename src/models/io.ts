/**
 * Saving and loading models in TensorFlow.js layers format (model.json plus
 * weights.bin) on the local file system, with a meal.json beside them that
 * says how to feed the model and what it scored. `file://` paths are
 * accepted, as with tfjs-node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, tfl } from '../engine/tf.js';
import { ensureEngine } from '../engine/backend.js';
import { writeFileAtomic } from '../util/atomic.js';
import { MealError } from '../util/errors.js';
import { CUSTOM_LAYERS } from './layers.js';
import type { OutputKind } from '../distill/losses.js';

/** What meal records beside a saved model; a teacher is described by the same fields. */
export interface ModelMeta {
  format: 'meal-model/1';
  arch: string;
  inputShape: [number, number, number];
  numClasses: number;
  classNames?: string[];
  output: OutputKind;
  params: number;
  /** Top-1 on the test split it was evaluated on, in percent, and how many images that was. */
  top1?: number;
  testN?: number;
}

/** A model's display name: its folder, or the run folder above a run's model/ folder. */
export function modelName(dir: string): string {
  const abs = path.resolve(stripFileScheme(dir));
  return path.basename(abs) === 'model' ? path.basename(path.dirname(abs)) : path.basename(abs);
}

export function stripFileScheme(p: string): string {
  return p.startsWith('file://') ? p.slice('file://'.length) : p;
}

export async function saveModel(
  model: tfl.LayersModel,
  dir: string,
  meta: ModelMeta,
): Promise<void> {
  dir = stripFileScheme(dir);
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
      writeFileAtomic(path.join(dir, 'weights.bin'), weights);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: 'meal',
        convertedBy: null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  writeFileAtomic(path.join(dir, 'meal.json'), JSON.stringify(meta, null, 2) + '\n');
}

function readJson<T>(file: string, what: string): T {
  if (!fs.existsSync(file)) {
    throw new MealError('MISSING_FILE', `${what}: expected ${file}, but it does not exist.`);
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new MealError(
      'CORRUPT_FILE',
      `${file} is not valid JSON (${(e as Error).message}); ${what}.`,
    );
  }
}

export function readModelMeta(dir: string): ModelMeta {
  dir = stripFileScheme(dir);
  if (!fs.existsSync(dir)) {
    throw new MealError(
      'MISSING_FILE',
      `model folder ${dir} does not exist; check the path (a meal model folder holds meal.json, model.json and its weights).`,
    );
  }
  return readJson<ModelMeta>(path.join(dir, 'meal.json'), `a meal model folder needs meal.json`);
}

/** Loads a layers model from a folder (or its model.json), naming any file that is missing or corrupt. */
export async function loadModel(location: string): Promise<tfl.LayersModel> {
  let p = stripFileScheme(location);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'model.json');
  const dir = path.dirname(p);
  const json = readJson<{
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  }>(p, 'a TensorFlow.js layers model needs model.json');
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new MealError(
      'CORRUPT_FILE',
      `${p} has no modelTopology or weightsManifest: expected a TensorFlow.js layers model.`,
    );
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest
    .flatMap((g) => g.paths)
    .map((w) => {
      const wp = path.join(dir, w);
      if (!fs.existsSync(wp))
        throw new MealError('MISSING_FILE', `${p} lists ${wp}, which does not exist.`);
      return fs.readFileSync(wp);
    });
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (weightData.byteLength !== expected) {
    throw new MealError(
      'CORRUPT_FILE',
      `weights for ${p} hold ${weightData.byteLength} bytes, the manifest needs ${expected}; ` +
        'the weights file is truncated or from another model.',
    );
  }
  await ensureEngine();
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }),
    );
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /Unknown layer: (\w+)/.exec(msg);
    if (unknown) {
      throw new MealError(
        'UNKNOWN_LAYER',
        `${p} uses the layer "${unknown[1]}", which is not registered. Layers meal registers: ` +
          `${CUSTOM_LAYERS.join(', ')}. Import 'meal' (or its models/layers module) before loading.`,
      );
    }
    throw new MealError('CORRUPT_FILE', `cannot load ${p}: ${msg}`);
  }
}
