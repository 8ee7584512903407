/**
 * The library's entry points: `train` (hard labels), `distill` (MEAL V2) and
 * `evaluateModels`. The CLI is a thin shell over these; a program calls them
 * the same way with a resolved config.
 */
import * as path from 'node:path';
import { tf, tfl } from './engine/tf.js';
import { initEngine } from './engine/backend.js';
import { selfCheck } from './engine/selfcheck.js';
import { augmentOf, parseShard, type MealConfig } from './config.js';
import { loadSplit, resolveDataDir, type Dataset } from './data/dataset.js';
import { epochBatches } from './data/loader.js';
import { evaluateAsync, evaluateModel, type Accuracy } from './eval/evaluate.js';
import { DistillTask } from './distill/task.js';
import { LiveEnsemble, type SoftLabelSource } from './distill/soft-labels.js';
import { classHash, datasetHash, LabelCache } from './labels/cache.js';
import { generateLabels, mergeLabelShards } from './labels/generate.js';
import type { LabelHeader } from './labels/format.js';
import { teacherFingerprint } from './teachers/fingerprint.js';
import { buildModel, parameterCount } from './models/registry.js';
import { loadModel, modelName, readModelMeta, saveModel, type ModelMeta } from './models/io.js';
import { loadDescribedTeacher } from './teachers/descriptor.js';
import {
  checkCompatible,
  loadTfjsTeacher,
  outputKindWarning,
  teacherOutputs,
  type Teacher,
} from './teachers/teacher.js';
import { runLoop, type LoopResult, type ProgressSink } from './train/loop.js';
import { Optimizer } from './train/optimizer.js';
import { RunFolder } from './train/run.js';
import { SupervisedTask } from './train/supervised.js';
import type { Task } from './train/task.js';
import { MealError } from './util/errors.js';
import { silentLogger, type Logger } from './util/logger.js';

export interface RunOptions {
  log?: Logger;
  progress?: ProgressSink;
}

export interface TableRow {
  model: string;
  role: 'teacher' | 'ensemble' | 'student (init)' | 'student (distilled)' | 'trained' | 'model';
  params?: number;
  top1: number;
  top5: number;
}

export interface RunSummary {
  command: 'train' | 'distill';
  out: string;
  backend: string;
  threads: number;
  data: { dir: string; train: number; test: number };
  discriminatorMode?: string;
  /** 'joint' or 'reversed': what the student received from the discriminator loss. */
  discriminatorStudentGradient?: string;
  reported_similarity?: string;
  /** The soft-label file replayed instead of live teachers, if any. */
  labels?: { file: string; compression: LabelHeader['compression']; crops: number };
  table: TableRow[];
  best?: LoopResult['best'];
  resumedFrom?: number;
  seconds: number;
}

/** The backend the config asks for; threads 0 means one per core. */
function engineFor(config: MealConfig, log: Logger) {
  return initEngine({
    backend: config.backend,
    threads: config.threads || undefined,
    nativeKernels: config.nativeKernels ? undefined : false,
    log: (l: string) => log.info(l),
  });
}

/** Backend and self-check first: a missing kernel stops the run before any data is read. */
async function startEngine(config: MealConfig, log: Logger) {
  const engine = await engineFor(config, log);
  selfCheck(engine.backend);
  return engine;
}

function loadData(config: MealConfig): { dir: string; train: Dataset; test: Dataset } {
  const dir = resolveDataDir(config.data.dir || undefined);
  return {
    dir,
    train: loadSplit(dir, 'train', config.data.trainLimit),
    test: loadSplit(dir, 'test', config.data.testLimit),
  };
}

/** The student: restored from a checkpoint by the loop, initialised from a saved model, or new. */
async function makeStudent(config: MealConfig, ds: Dataset): Promise<tfl.LayersModel> {
  if (config.student.init) {
    const model = await loadModel(config.student.init);
    const meta = readModelMeta(config.student.init);
    if (meta.numClasses !== ds.numClasses) {
      throw new MealError(
        'STUDENT_CLASSES',
        `student init ${config.student.init} has ${meta.numClasses} classes, the data set has ${ds.numClasses}.`,
      );
    }
    // The init decides the architecture; the log, config.json and meal.json say which.
    if (meta.arch) config.student.arch = meta.arch;
    return model;
  }
  return buildModel(config.student.arch, {
    inputShape: ds.shape,
    numClasses: ds.numClasses,
    normalize: { mean: config.data.mean, std: config.data.std },
  });
}

function modelMeta(
  config: MealConfig,
  model: tfl.LayersModel,
  ds: Dataset,
  acc: Accuracy,
): ModelMeta {
  return {
    format: 'meal-model/1',
    arch: config.student.init ? readModelMeta(config.student.init).arch : config.student.arch,
    inputShape: ds.shape,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    output: 'logits',
    params: parameterCount(model),
    top1: acc.top1,
    testN: acc.n,
  };
}

async function runTask(
  task: Task,
  config: MealConfig,
  data: { dir: string; train: Dataset; test: Dataset },
  engine: { backend: string; threads: number },
  log: Logger,
  progress: ProgressSink | undefined,
  extraRows: TableRow[],
  t0: number,
): Promise<RunSummary> {
  const run = new RunFolder(config.out);
  run.writeJson('config.json', config);
  const opt = new Optimizer(
    {
      name: config.optim.name,
      momentum: config.optim.momentum,
      beta1: config.optim.beta1,
      beta2: config.optim.beta2,
      epsilon: config.optim.epsilon,
    },
    task.groups,
  );
  task.optimizer = opt;
  log.info(`data: ${data.dir}, ${data.train.n} train / ${data.test.n} test images`);
  for (const line of task.describe()) log.info(line);
  log.info(
    `optimiser: ${config.optim.name}, lr ${config.optim.lr}, schedule ${config.optim.schedule.kind}, ` +
      `weight decay ${config.optim.weightDecay}, ${config.epochs} epochs, batch ${config.batchSize}`,
  );

  try {
    const result = await runLoop(task, config, data, run, opt, log, progress);
    await saveModel(
      task.student,
      run.modelDir,
      modelMeta(config, task.student, data.test, result.final),
    );
    const name = path.basename(path.resolve(config.out));
    const rows: TableRow[] = [
      ...extraRows,
      {
        model: name,
        role: task.kind === 'distill' ? 'student (distilled)' : 'trained',
        params: parameterCount(task.student),
        top1: result.final.top1,
        top5: result.final.top5,
      },
    ];
    const summary: RunSummary = {
      command: task.kind,
      out: config.out,
      backend: engine.backend,
      threads: engine.threads,
      data: { dir: data.dir, train: data.train.n, test: data.test.n },
      discriminatorMode:
        task.kind === 'distill'
          ? config.distill.discriminator.enabled
            ? config.distill.discriminator.mode
            : 'off'
          : undefined,
      discriminatorStudentGradient:
        task instanceof DistillTask && task.discriminator ? task.studentGradient : undefined,
      reported_similarity: task.kind === 'distill' ? config.distill.report : undefined,
      labels:
        task.kind === 'distill' && task.replay instanceof LabelCache
          ? {
              file: task.replay.file,
              compression: task.replay.header.compression,
              crops: task.replay.cropsPerSample,
            }
          : undefined,
      table: rows,
      best: result.best,
      resumedFrom: result.resumedFrom,
      seconds: (performance.now() - t0) / 1000,
    };
    run.writeJson('summary.json', summary);
    return summary;
  } finally {
    opt.dispose();
    task.dispose();
  }
}

/** Hard-label training: teachers, baselines, and the student's initialisation. */
export async function train(config: MealConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const t0 = performance.now();
  const log = opts.log ?? silentLogger;
  const engine = await startEngine(config, log);
  const data = loadData(config);
  const student = await makeStudent(config, data.train);
  try {
    return await runTask(
      new SupervisedTask(student, config),
      config,
      data,
      engine,
      log,
      opts.progress,
      [],
      t0,
    );
  } finally {
    student.dispose();
  }
}

/** Teachers from meal model folders, or from descriptor files (*.json: ONNX or TensorFlow.js). */
export async function loadTeachers(dirs: string[]): Promise<Teacher[]> {
  if (dirs.length === 0) {
    throw new MealError(
      'NO_TEACHERS',
      'no teachers given: pass --teacher DIR|DESCRIPTOR.json (repeatable) or "teachers" in the recipe.',
    );
  }
  const teachers: Teacher[] = [];
  try {
    for (const d of dirs) {
      teachers.push(
        d.toLowerCase().endsWith('.json')
          ? await loadDescribedTeacher(d)
          : await loadTfjsTeacher(d),
      );
    }
  } catch (e) {
    teachers.forEach((t) => t.dispose());
    throw e;
  }
  return teachers;
}

/** A teacher's accuracy as a table row; teachers may run asynchronously (ONNX). */
async function teacherRow(t: Teacher, ds: Dataset, batchSize: number): Promise<TableRow> {
  const acc = await evaluateAsync((x) => teacherOutputs(t, x), ds, batchSize);
  return { model: t.name, role: 'teacher', params: t.params, top1: acc.top1, top5: acc.top5 };
}

/** A first batch through every teacher catches a softmax declared as logits (cases.md #5). */
async function warnOutputKinds(teachers: Teacher[], ds: Dataset, log: Logger): Promise<void> {
  const first = await epochBatches(ds, 0, { batchSize: 64, shuffle: false, seed: 0 }).next();
  if (first.done) return;
  const x = tf.tensor4d(first.value.x, [first.value.size, ...ds.shape]);
  try {
    for (const t of teachers) {
      const out = await teacherOutputs(t, x);
      const warning = outputKindWarning(t, out);
      out.dispose();
      if (warning) log.warn(warning);
    }
  } finally {
    x.dispose();
  }
}

/** Each teacher and, for several, their ensemble, on the same test images. */
async function teacherRows(teachers: Teacher[], ds: Dataset, batchSize: number) {
  const rows: TableRow[] = [];
  for (const t of teachers) rows.push(await teacherRow(t, ds, batchSize));
  if (teachers.length > 1) {
    const ensemble = new LiveEnsemble(teachers);
    const acc = await evaluateAsync((x) => ensemble.scoreAsync(x), ds, batchSize);
    rows.push({
      model: `ensemble of ${teachers.length}`,
      role: 'ensemble',
      top1: acc.top1,
      top5: acc.top5,
    });
  }
  return rows;
}

/** The rows a label file recorded when it was made: its teachers are not run again. */
function recordedRows(h: LabelHeader): TableRow[] {
  const rows: TableRow[] = h.teachers
    .filter((t) => t.top1 !== undefined)
    .map((t) => ({
      model: `${t.name} (recorded)`,
      role: 'teacher' as const,
      params: t.params,
      top1: t.top1!,
      top5: t.top5 ?? NaN,
    }));
  if (h.ensemble && h.teachers.length > 1) {
    rows.push({
      model: `ensemble of ${h.teachers.length} (recorded)`,
      role: 'ensemble',
      top1: h.ensemble.top1,
      top5: h.ensemble.top5,
    });
  }
  return rows;
}

/**
 * MEAL V2: the teachers' averaged probabilities distilled into a pre-trained student, from live
 * teachers or, with `labels.file`, from stored soft labels (no teacher is built or run).
 */
export async function distill(config: MealConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const t0 = performance.now();
  const log = opts.log ?? silentLogger;
  const engine = await startEngine(config, log);
  const cached = Boolean(config.labels.file);
  const teachers = cached ? [] : await loadTeachers(config.teachers);
  try {
    const data = loadData(config);
    let source: SoftLabelSource;
    let rows: TableRow[];
    if (cached) {
      // Pre-flight: every part of the file checked, and the file checked against this run.
      const cache = LabelCache.open(config.labels.file);
      cache.checkFor(
        data.train,
        config.teachers.map((p) => ({ path: p, sha256: teacherFingerprint(p) })),
      );
      source = cache;
      rows = recordedRows(cache.header);
    } else {
      checkCompatible(teachers, data.train.numClasses, data.train.shape);
      await warnOutputKinds(teachers, data.train, log);
      source = new LiveEnsemble(teachers);
      rows = await teacherRows(teachers, data.test, config.evalBatchSize);
    }
    if (!config.student.init) {
      log.warn(
        'no student.init given: MEAL V2 starts the student from pre-trained weights (§2.6); training from scratch.',
      );
    }
    const student = await makeStudent(config, data.train);
    try {
      // On --resume too: the checkpoint is restored later, so this is still the init, and the
      // resumed run's table keeps its before-and-after rows.
      if (config.student.init) {
        const acc = await evaluateModel(student, data.test, config.evalBatchSize);
        rows.push({
          model: modelName(config.student.init),
          role: 'student (init)',
          params: parameterCount(student),
          top1: acc.top1,
          top5: acc.top5,
        });
      }
      for (const r of rows)
        log.info(`${r.role} ${r.model}: top-1 ${r.top1.toFixed(2)}% on ${data.test.n} test images`);

      const task = new DistillTask(student, source, config, data.train.numClasses);
      return await runTask(task, config, data, engine, log, opts.progress, rows, t0);
    } finally {
      student.dispose();
    }
  } finally {
    teachers.forEach((t) => t.dispose());
  }
}

export interface LabelsSummary {
  file: string;
  bytes: number;
  samples: number;
  crops: number;
  madeParts: number;
  reusedParts: number;
  seconds: number;
  table: TableRow[];
  testN: number;
  compression: LabelHeader['compression'];
}

/**
 * `meal labels`: runs the ensemble once per stored crop and writes the soft-label file
 * (or one shard of it), resuming an interrupted generation; with `merge`, joins the shards.
 */
export async function makeLabels(
  config: MealConfig,
  opts: RunOptions & { merge?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<LabelsSummary> {
  const log = opts.log ?? silentLogger;
  const file = config.labels.file;
  if (!file) {
    throw new MealError('NO_OUTPUT', 'meal labels needs the file to write: pass --out FILE.');
  }
  if (opts.merge) {
    const r = mergeLabelShards(file, log);
    return labelsSummary(r, recordedRows(r.header));
  }
  await startEngine(config, log);
  const teachers = await loadTeachers(config.teachers);
  try {
    const data = loadData(config);
    checkCompatible(teachers, data.train.numClasses, data.train.shape);
    await warnOutputKinds(teachers, data.train, log);
    const rows = await teacherRows(teachers, data.test, config.evalBatchSize);
    for (const r of rows)
      log.info(`${r.role} ${r.model}: top-1 ${r.top1.toFixed(2)}% on ${data.test.n} test images`);
    const ens = rows.find((r) => r.role === 'ensemble') ?? rows[0];
    const ds = data.train;
    const l = config.labels;
    const header = {
      format: 'meal-labels' as const,
      version: 1,
      numClasses: ds.numClasses,
      classNames: ds.classNames,
      classHash: classHash(ds.classNames),
      teachers: teachers.map((t, k) => ({
        name: t.name,
        path: config.teachers[k],
        sha256: teacherFingerprint(config.teachers[k]),
        output: t.output,
        top1: rows[k].top1,
        top5: rows[k].top5,
        params: t.params,
      })),
      ensemble: { top1: ens.top1, top5: ens.top5, testN: data.test.n },
      data: { name: ds.name, n: ds.n, shape: ds.shape, sha256: datasetHash(ds) },
      crops: { perSample: l.crops, augment: augmentOf(config) },
      compression: { kind: l.compression, k: l.k, rule: l.rule, dtype: l.dtype },
      seed: config.seed,
      partSize: l.partSize,
    };
    const shard = parseShard(l.shard);
    log.info(
      `labels: ${ds.n.toLocaleString('en-US')} samples x ${l.crops} crops` +
        (shard ? ` (shard ${shard.index} of ${shard.count})` : '') +
        `, ${l.compression === 'full' ? 'full' : `top-${l.k} ${l.rule}`} ${l.dtype}, parts of ${l.partSize} samples`,
    );
    const r = await generateLabels({
      file,
      header,
      shard,
      ensemble: new LiveEnsemble(teachers),
      ds,
      batchSize: config.evalBatchSize,
      log,
      onProgress: opts.onProgress,
    });
    return labelsSummary(r, rows);
  } finally {
    teachers.forEach((t) => t.dispose());
  }
}

function labelsSummary(r: Awaited<ReturnType<typeof generateLabels>>, table: TableRow[]) {
  const h = r.header;
  return {
    file: r.file,
    bytes: r.bytes,
    samples: h.range[1] - h.range[0],
    crops: h.crops.perSample,
    madeParts: r.madeParts,
    reusedParts: r.reusedParts,
    seconds: r.seconds,
    table,
    testN: h.ensemble?.testN ?? 0,
    compression: h.compression,
  };
}

/** Top-1/top-5 of saved models, each alone, and of their ensemble when there are several. */
export async function evaluateModels(
  config: MealConfig,
  dirs: string[],
  opts: { split?: 'train' | 'test'; log?: Logger } = {},
): Promise<{ rows: TableRow[]; ensemble?: Accuracy }> {
  const log = opts.log ?? silentLogger;
  await engineFor(config, log);
  const teachers = await loadTeachers(dirs);
  const dir = resolveDataDir(config.data.dir || undefined);
  const split = opts.split ?? 'test';
  const ds = loadSplit(
    dir,
    split,
    split === 'test' ? config.data.testLimit : config.data.trainLimit,
  );
  checkCompatible(teachers, ds.numClasses, ds.shape);
  log.info(`data: ${dir}, ${ds.n} ${split} images`);
  try {
    // Models evaluated on their own are not anyone's teachers here.
    const rows = (await teacherRows(teachers, ds, config.evalBatchSize)).map((r) =>
      r.role === 'teacher' ? { ...r, role: 'model' as const } : r,
    );
    const ens = rows.find((r) => r.role === 'ensemble') ?? rows[0];
    return { rows, ensemble: ens && { top1: ens.top1, top5: ens.top5, n: ds.n } };
  } finally {
    teachers.forEach((t) => t.dispose());
  }
}
