/**
 * One training loop for supervised and distillation runs: per-group
 * schedules, the step, a finite-loss guard, evaluation each epoch, metrics,
 * atomic checkpoints (last and best) and exact resume.
 */
import * as fs from 'node:fs';
import { tf } from '../engine/tf.js';
import { batchCount, epochBatches } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';
import { evaluateModel, type Accuracy } from '../eval/evaluate.js';
import { MealError, NonFiniteLossError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { augmentOf, type MealConfig } from '../config.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointTensor } from './checkpoint.js';
import { Optimizer } from './optimizer.js';
import type { RunFolder } from './run.js';
import type { Task } from './task.js';

export interface StepInfo {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  losses: Record<string, number>;
  lr: Record<string, number>;
  samplesPerSec: number;
}

export interface EpochMetrics {
  epoch: number;
  losses: Record<string, number>;
  lr: Record<string, number>;
  train_top1: number;
  test_top1: number;
  test_top5: number;
  samples_per_s: number;
  epoch_s: number;
}

/** Where the loop reports progress; the CLI draws a bar or prints lines, tests record. */
export interface ProgressSink {
  epochStart?(epoch: number, epochs: number, steps: number): void;
  step?(info: StepInfo): void;
  epochEnd?(m: EpochMetrics): void;
}

export interface LoopResult {
  epochs: EpochMetrics[];
  best: { epoch: number; test_top1: number } | undefined;
  final: Accuracy;
  resumedFrom?: number;
}

function studentTensors(task: Task): CheckpointTensor[] {
  return task.student.weights.map((w, i) => ({
    name: `student/${i}/${w.originalName}`,
    shape: w.shape as number[],
    data: w.read().dataSync() as Float32Array,
  }));
}

function loadStudent(task: Task, tensors: CheckpointTensor[], file: string): void {
  const mine = tensors.filter((t) => t.name.startsWith('student/'));
  const weights = task.student.weights;
  if (mine.length !== weights.length) {
    throw new MealError(
      'CHECKPOINT_MISMATCH',
      `${file} holds ${mine.length} student weights, the student (${task.student.name}) has ` +
        `${weights.length}: the checkpoint is from another architecture.`,
    );
  }
  tf.tidy(() => {
    weights.forEach((w, i) => {
      const t = mine[i];
      if (t.shape.join('x') !== (w.shape as number[]).join('x')) {
        throw new MealError(
          'CHECKPOINT_MISMATCH',
          `${file}: weight ${i} (${t.name}) has shape [${t.shape}], the student's ${w.originalName} has [${w.shape}].`,
        );
      }
      w.write(tf.tensor(t.data, t.shape));
    });
  });
}

function optimizerTensors(opt: Optimizer): CheckpointTensor[] {
  const out: CheckpointTensor[] = [];
  for (const s of opt.getState().slots) {
    const shape = opt.group(s.group).variables[s.index].shape;
    out.push({ name: `opt/${s.group}/${s.index}/m`, shape, data: s.m });
    if (s.v) out.push({ name: `opt/${s.group}/${s.index}/v`, shape, data: s.v });
  }
  return out;
}

function loadOptimizer(opt: Optimizer, tensors: CheckpointTensor[], step: number): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const slots = opt.groups.flatMap((g) =>
    g.variables.map((_, index) => {
      const m = byName.get(`opt/${g.name}/${index}/m`);
      if (!m)
        throw new MealError(
          'CHECKPOINT_MISMATCH',
          `checkpoint lacks optimiser state for ${g.name}/${index}.`,
        );
      return { group: g.name, index, m: m.data, v: byName.get(`opt/${g.name}/${index}/v`)?.data };
    }),
  );
  opt.setState({ step, slots });
}

export async function runLoop(
  task: Task,
  config: MealConfig,
  data: { train: Dataset; test: Dataset },
  run: RunFolder,
  opt: Optimizer,
  log: Logger,
  progress: ProgressSink = {},
): Promise<LoopResult> {
  const { epochs, batchSize } = config;
  const loaderOpts = {
    batchSize,
    shuffle: true,
    dropLast: data.train.n >= batchSize,
    seed: config.seed,
    augment: augmentOf(config),
    replay: task.replay,
  };
  const steps = batchCount(data.train.n, loaderOpts);
  const history: EpochMetrics[] = [];
  let best: LoopResult['best'];
  let start = 0;
  let resumedFrom: number | undefined;

  // Resume: everything the uninterrupted run had at the end of the last saved epoch.
  if (config.resume) {
    const ckpt = loadCheckpoint(run.lastCheckpoint);
    loadStudent(task, ckpt.tensors, run.lastCheckpoint);
    task.loadExtraState(ckpt.tensors.filter((t) => t.name.startsWith('disc/')));
    loadOptimizer(opt, ckpt.tensors, ckpt.meta.optimizerStep as number);
    best = ckpt.meta.best as LoopResult['best'];
    start = ckpt.epoch + 1;
    resumedFrom = ckpt.epoch;
    run.truncateMetrics(ckpt.epoch);
    // A crash between writing last.ckpt and best.ckpt leaves the best one to rewrite.
    if (best?.epoch === ckpt.epoch && !fs.existsSync(run.bestCheckpoint))
      saveCheckpoint(run.bestCheckpoint, ckpt);
    log.info(
      `resumed from ${run.lastCheckpoint}: epoch ${ckpt.epoch + 1} of ${epochs} done, continuing at ${start + 1}`,
    );
  }

  for (let epoch = start; epoch < epochs; epoch++) {
    // Schedule: each group from its own schedule (cases.md #8).
    const lr: Record<string, number> = {};
    for (const g of task.groups) g.lr = lr[g.name] = task.schedules[g.name].lrAt(epoch);

    progress.epochStart?.(epoch, epochs, steps);
    const sums: Record<string, number> = {};
    let correct = 0;
    let seen = 0;
    const t0 = performance.now();
    let step = 0;
    for await (const batch of epochBatches(data.train, epoch, loaderOpts)) {
      await task.prepare?.(batch);
      const out = task.step(batch);
      const values: Record<string, number> = {};
      for (const [k, v] of Object.entries(out.losses)) values[k] = v.dataSync()[0];
      correct += out.correct.dataSync()[0];
      tf.dispose([...Object.values(out.losses), out.correct]);

      // A non-finite loss stops the run before anything is saved from it.
      if (!Object.values(values).every(Number.isFinite)) {
        throw new NonFiniteLossError(epoch * steps + step + 1, values);
      }
      for (const [k, v] of Object.entries(values)) sums[k] = (sums[k] ?? 0) + v * batch.size;
      seen += batch.size;
      step += 1;
      const samplesPerSec = (1000 * seen) / (performance.now() - t0);
      progress.step?.({ epoch, epochs, step, steps, losses: values, lr, samplesPerSec });
    }
    const trainSeconds = (performance.now() - t0) / 1000;

    const acc = await evaluateModel(task.student, data.test, config.evalBatchSize);
    const losses = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / seen]));
    const m: EpochMetrics = {
      epoch,
      losses,
      lr,
      train_top1: (100 * correct) / seen,
      test_top1: acc.top1,
      test_top5: acc.top5,
      samples_per_s: seen / trainSeconds,
      epoch_s: trainSeconds,
    };
    history.push(m);
    run.appendMetrics(m as unknown as Record<string, unknown>);
    progress.epochEnd?.(m);

    // Checkpoint: last every epoch, best when the test top-1 improves.
    const isBest = !best || acc.top1 > best.test_top1;
    if (isBest) best = { epoch, test_top1: acc.top1 };
    const ckpt = {
      epoch,
      meta: { config, optimizerStep: opt.step, best, lr, seed: config.seed, nextEpoch: epoch + 1 },
      tensors: [...studentTensors(task), ...task.extraState(), ...optimizerTensors(opt)],
    };
    saveCheckpoint(run.lastCheckpoint, ckpt);
    if (isBest) saveCheckpoint(run.bestCheckpoint, ckpt);
  }

  const final = history.length
    ? {
        top1: history[history.length - 1].test_top1,
        top5: history[history.length - 1].test_top5,
        n: data.test.n,
      }
    : await evaluateModel(task.student, data.test, config.evalBatchSize);
  return { epochs: history, best, final, resumedFrom };
}
