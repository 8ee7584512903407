/**
 * Supervised training on hard labels: teachers, baselines and the student's
 * initialisation (MEAL V2 starts the student from such a run, §2.6).
 */
import { tf, tfl } from '../engine/tf.js';
import type { Batch } from '../data/loader.js';
import { hardCrossEntropy } from '../distill/losses.js';
import type { MealConfig } from '../config.js';
import { lrAt } from '../train/schedule.js';
import type { ParamGroup } from './optimizer.js';
import type { Task } from './task.js';
import { parameterCount } from '../models/registry.js';

export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

export function studentSchedule(config: MealConfig) {
  const schedule =
    config.optim.schedule.kind === 'cosine' && !config.optim.schedule.epochs
      ? { ...config.optim.schedule, epochs: config.epochs }
      : config.optim.schedule;
  return { lrAt: (epoch: number) => lrAt(schedule, config.optim.lr, epoch) };
}

export class SupervisedTask implements Task {
  readonly kind = 'train' as const;
  readonly groups: ParamGroup[];
  readonly schedules;

  constructor(
    readonly student: tfl.LayersModel,
    readonly config: MealConfig,
  ) {
    this.groups = [
      {
        name: 'student',
        variables: trainableVariables(student),
        lr: config.optim.lr,
        weightDecay: config.optim.weightDecay,
      },
    ];
    this.schedules = { student: studentSchedule(config) };
  }

  step(batch: Batch) {
    const [h, w, c] = this.student.inputs[0].shape.slice(1) as number[];
    const vars = this.groups[0].variables;
    return tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, h, w, c]); // (B, H, W, C)
      const y = tf.tensor1d(batch.y, 'int32'); // (B,)
      let correct!: tf.Scalar;
      const { value, grads } = tf.variableGrads(() => {
        const logits = this.student.apply(x, { training: true }) as tf.Tensor2D; // (B, C)
        correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), y), 'float32')));
        return hardCrossEntropy(y, logits);
      }, vars);
      this.optimizer!.apply(grads);
      return { losses: { ce: value }, correct };
    });
  }

  /** Set by the caller once the optimiser over `groups` exists. */
  optimizer?: { apply(grads: Record<string, tf.Tensor>): void };

  extraState() {
    return [];
  }

  loadExtraState(): void {}

  describe(): string[] {
    return [
      `student: ${this.config.student.arch}, ${parameterCount(this.student).toLocaleString('en-US')} parameters` +
        (this.config.student.init
          ? `, initialised from ${this.config.student.init}`
          : ', from scratch'),
      `loss: hard-label cross-entropy`,
    ];
  }

  dispose(): void {}
}
