/** Fixtures for the soft-label tests: saved teachers and label files made the real way. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeLabels } from '../../src/api.js';
import { buildModel, parameterCount } from '../../src/models/registry.js';
import { saveModel } from '../../src/models/io.js';
import type { DeepPartial, MealConfig } from '../../src/config.js';
import { testConfig } from '../helpers.js';

export const SUBSET = 'assets/fashion-mnist-subset';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `meal-${tag}-`));
}

/** A freshly initialised registry model saved as a meal model folder: a real (untrained) teacher. */
export async function saveTeacher(dir: string, arch: string): Promise<string> {
  const model = buildModel(arch, {
    inputShape: [28, 28, 1],
    numClasses: 10,
    normalize: { mean: [0.286], std: [0.353] },
  });
  await saveModel(model, dir, {
    format: 'meal-model/1',
    arch,
    inputShape: [28, 28, 1],
    numClasses: 10,
    output: 'logits',
    params: parameterCount(model),
  });
  model.dispose();
  return dir;
}

/** A config for label runs on the first images of the bundled subset, on the cpu backend. */
export function labelConfig(
  file: string,
  teachers: string[],
  over: DeepPartial<MealConfig> = {},
): MealConfig {
  return testConfig({
    data: { dir: SUBSET, trainLimit: 48, testLimit: 40 },
    teachers,
    labels: { file, crops: 3, partSize: 16, compression: 'full', dtype: 'float32' },
    evalBatchSize: 32,
    ...over,
    ...(over.labels ? { labels: { file, crops: 3, partSize: 16, ...over.labels } } : {}),
  } as DeepPartial<MealConfig>);
}

export async function labelsFile(
  file: string,
  teachers: string[],
  over: DeepPartial<MealConfig> = {},
): Promise<string> {
  await makeLabels(labelConfig(file, teachers, over));
  return file;
}
