/**
 * One MEAL V2 training step (design.md §2): soft labels from the ensemble,
 * the student's forward pass, the similarity and discriminator losses, and
 * one backward pass that updates the student and the discriminator together.
 */
import { tf, tfl } from '../engine/tf.js';
import type { Batch } from '../data/loader.js';
import type { MealConfig } from '../config.js';
import { parameterCount } from '../models/registry.js';
import type { CheckpointTensor } from '../train/checkpoint.js';
import type { ParamGroup } from '../train/optimizer.js';
import { studentSchedule, trainableVariables } from '../train/supervised.js';
import type { GroupSchedule, StepOutput, Task } from '../train/task.js';
import { MealError } from '../util/errors.js';
import { defaultHidden, Discriminator, studentGradientOf } from './discriminator.js';
import {
  bceWithLogits,
  discriminatorTargets,
  meanEntropy,
  reverseGradient,
  softCrossEntropy,
} from './losses.js';
import type { SoftLabelSource } from './soft-labels.js';

export class DistillTask implements Task {
  readonly kind = 'distill' as const;
  readonly groups: ParamGroup[];
  readonly schedules: Record<string, GroupSchedule>;
  readonly discriminator?: Discriminator;
  /** What the student receives from the discriminator loss (see discriminator.ts). */
  readonly studentGradient: 'joint' | 'reversed';
  optimizer?: { apply(grads: Record<string, tf.Tensor>): void };
  readonly replay;

  constructor(
    readonly student: tfl.LayersModel,
    readonly source: SoftLabelSource,
    readonly config: MealConfig,
    numClasses: number,
    opts: { zeroLastLayer?: boolean } = {},
  ) {
    this.replay = source.views;
    const d = config.distill.discriminator;
    const schedule = studentSchedule(config);
    this.studentGradient = studentGradientOf(d.mode, d.studentGradient);
    this.groups = [
      {
        name: 'student',
        variables: trainableVariables(student),
        lr: config.optim.lr,
        weightDecay: config.optim.weightDecay,
      },
    ];
    this.schedules = { student: schedule };
    if (d.enabled) {
      const hidden = (d.hidden.length === 2 ? d.hidden : defaultHidden(numClasses)) as [
        number,
        number,
      ];
      this.discriminator = new Discriminator({
        numClasses,
        hidden,
        mode: d.mode,
        seed: config.seed,
        ...opts,
      });
      this.groups.push({
        name: 'discriminator',
        variables: this.discriminator.variables,
        lr: d.lr,
        weightDecay: 0,
      });
      // Porting note: the authors' code set every group's lr from the student's schedule each
      // epoch, overwriting the discriminator's 1e-4; they call this unintended. 'faithful'
      // reproduces it, 'corrected' keeps the discriminator's own rate (cases.md #8).
      this.schedules.discriminator = d.mode === 'faithful' ? schedule : { lrAt: () => d.lr };
    }
  }

  /** Runs the source's asynchronous teachers (ONNX Runtime) on the same view `step` will use. */
  async prepare(batch: Batch): Promise<void> {
    if (!this.source.prepare) return;
    const [h, w, c] = this.student.inputs[0].shape.slice(1) as number[];
    const x = tf.tensor4d(batch.x, [batch.size, h, w, c]); // (B, H, W, C)
    try {
      await this.source.prepare(batch, x);
    } finally {
      x.dispose();
    }
  }

  step(batch: Batch): StepOutput {
    const [h, w, c] = this.student.inputs[0].shape.slice(1) as number[];
    const cfg = this.config.distill;
    const disc = this.discriminator;
    const faithful = disc?.opts.mode === 'faithful';
    const vars = this.groups.flatMap((g) => g.variables);
    return tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, h, w, c]); // (B, H, W, C)
      const y = tf.tensor1d(batch.y, 'int32'); // (B,) metrics only: no hard label enters the loss

      // Soft labels, eq. (1): constants for the backward pass.
      const soft = this.source.labels(batch, x, faithful);

      const parts: Record<string, tf.Scalar> = {};
      let correct!: tf.Scalar;
      const { grads } = tf.variableGrads(() => {
        // Student forward.
        const s = this.student.apply(x, { training: true }) as tf.Tensor2D; // (B, C)
        correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(s, -1), y), 'float32')));

        // Similarity loss, eq. (2).
        const sim = softCrossEntropy(soft.probs, s);
        let total = tf.mul(sim, cfg.similarityWeight) as tf.Scalar;
        parts.sim = tf.keep(
          cfg.report === 'kl' ? tf.sub(sim, meanEntropy(soft.probs)) : sim,
        ) as tf.Scalar;

        // Discriminator loss, eq. (3): student rows first, then teacher rows. Porting note: the
        // authors' online script compares logits (faithful mode); their pre-computed-label (FKD)
        // script compares probabilities, so faithful mode on stored labels does too.
        if (disc) {
          const logits = faithful && soft.logits !== undefined;
          let studentSide = logits ? s : tf.softmax(s, -1); // (B, C)
          if (this.studentGradient === 'reversed') studentSide = reverseGradient(studentSide);
          const teacherSide = logits ? soft.logits! : soft.probs; // (B, C)
          const stacked = tf.concat([studentSide, teacherSide], 0) as tf.Tensor2D; // (2B, C)
          const dLoss = bceWithLogits(discriminatorTargets(batch.size), disc.apply(stacked));
          parts.disc = tf.keep(dLoss);
          total = tf.add(total, tf.mul(dLoss, cfg.discriminator.weight)) as tf.Scalar;
        }
        parts.total = tf.keep(total);
        return total;
      }, vars);

      // Apply: one update of the student and the discriminator from the same backward pass.
      this.optimizer!.apply(grads);
      return { losses: parts, correct };
    });
  }

  extraState(): CheckpointTensor[] {
    return (this.discriminator?.variables ?? []).map((v, i) => ({
      name: `disc/${i}`,
      shape: v.shape,
      data: v.dataSync() as Float32Array,
    }));
  }

  loadExtraState(tensors: CheckpointTensor[]): void {
    const vars = this.discriminator?.variables ?? [];
    if (tensors.length !== vars.length) {
      throw new MealError(
        'CHECKPOINT_MISMATCH',
        `checkpoint holds ${tensors.length} discriminator tensors, this run's discriminator has ${vars.length}; ` +
          'resume with the same distill.discriminator settings.',
      );
    }
    tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(tensors[i].data, tensors[i].shape))));
  }

  describe(): string[] {
    const d = this.config.distill.discriminator;
    const disc = this.discriminator;
    return [
      ...this.source.describe(),
      `student: ${this.config.student.arch}, ${parameterCount(this.student).toLocaleString('en-US')} parameters, ` +
        (this.config.student.init
          ? `initialised from ${this.config.student.init}`
          : 'from scratch (not what the paper does)'),
      `loss: ${this.config.distill.similarityWeight} x similarity (soft cross-entropy; logged as ` +
        `${this.config.distill.report === 'kl' ? 'KL(p||q)' : 'soft cross-entropy'})` +
        (disc ? ` + ${d.weight} x discriminator` : ''),
      disc
        ? `discriminator: mode ${d.mode}, ${this.student.outputs[0].shape[1]} -> ${disc.opts.hidden.join(' -> ')} -> 2, ` +
          `lr ${d.mode === 'faithful' ? "follows the student's schedule" : d.lr}, ` +
          (this.studentGradient === 'joint'
            ? "student gradient joint (it helps the discriminator, as the authors' code)"
            : 'student gradient reversed (it learns to fool the discriminator)')
        : 'discriminator: off',
    ];
  }

  dispose(): void {
    this.discriminator?.dispose();
  }
}
