/**
 * meal: MEAL V2 ensemble knowledge distillation for TensorFlow.js.
 *
 *   import { distill, train, resolveConfig } from 'meal';
 *   const summary = await distill(resolveConfig(recipe, { out: 'runs/mine' }));
 */
export {
  train,
  distill,
  evaluateModels,
  loadTeachers,
  type RunSummary,
  type TableRow,
  type RunOptions,
} from './api.js';
export { DEFAULTS, resolveConfig, readRecipe, validateConfig, type MealConfig } from './config.js';
export * from './distill/losses.js';
export { Discriminator, defaultHidden, type DiscriminatorMode } from './distill/discriminator.js';
export { LiveEnsemble, type SoftLabelSource, type SoftLabels } from './distill/soft-labels.js';
export { DistillTask } from './distill/task.js';
export { loadSplit, resolveDataDir, type Dataset } from './data/dataset.js';
export { readIdx, parseIdx } from './data/idx.js';
export { epochBatches, type Batch } from './data/loader.js';
export { evaluate, evaluateAsync, type Accuracy } from './eval/evaluate.js';
export { buildModel, modelNames, parameterCount } from './models/registry.js';
export { loadModel, saveModel, readModelMeta, type ModelMeta } from './models/io.js';
export { Standardize, CUSTOM_LAYERS } from './models/layers.js';
export { TfjsTeacher, loadTfjsTeacher, teacherOutputs, type Teacher } from './teachers/teacher.js';
export {
  DescribedTfjsTeacher,
  loadDescribedTeacher,
  readDescriptor,
  validateDescriptor,
  type TeacherDescriptor,
} from './teachers/descriptor.js';
export { OnnxTeacher, loadOnnxTeacher } from './teachers/onnx.js';
export { Optimizer, type ParamGroup } from './train/optimizer.js';
export { lrAt, type Schedule } from './train/schedule.js';
export { loadCheckpoint, saveCheckpoint } from './train/checkpoint.js';
export { MealError, NonFiniteLossError } from './util/errors.js';
export { silentLogger, teeLogger, type Logger } from './util/logger.js';
export { initEngine } from './engine/backend.js';
