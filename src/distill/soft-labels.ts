/**
 * Where soft labels come from. The distillation step asks a source for the
 * labels of a batch and does not care whether teachers run live or a cache
 * replays stored labels.
 */
import { tf } from '../engine/tf.js';
import type { Batch, ViewSource } from '../data/loader.js';
import { teacherOutputs, type Teacher } from '../teachers/teacher.js';
import { MealError } from '../util/errors.js';
import { ensembleSoftLabel, meanLogits } from './losses.js';

export interface SoftLabels {
  probs: tf.Tensor2D; // (B, C) eq. (1)
  /** (B, C) mean teacher logits, only when asked for (the faithful discriminator). */
  logits?: tf.Tensor2D;
}

export interface SoftLabelSource {
  describe(): string[];
  /** Stored views the loader must replay (the soft-label cache); live sources draw fresh ones. */
  views?: ViewSource;
  /** Asynchronous work for a batch, awaited before the synchronous step calls `labels`. */
  prepare?(batch: Batch, x: tf.Tensor4D): Promise<void>;
  labels(batch: Batch, x: tf.Tensor4D, wantLogits: boolean): SoftLabels;
}

/** The live ensemble: every teacher runs on the same view the student sees. */
export class LiveEnsemble implements SoftLabelSource {
  /** Outputs of the asynchronous teachers (ONNX Runtime) for one batch: from prepare, used once. */
  private prepared?: { batch: Batch; outputs: Map<number, tf.Tensor2D> };

  constructor(readonly teachers: Teacher[]) {}

  describe(): string[] {
    return this.teachers.map(
      (t) =>
        `teacher ${t.name}: output ${t.output}` +
        (t.params ? `, ${t.params.toLocaleString('en-US')} parameters` : '') +
        (t.top1 !== undefined ? `, recorded top-1 ${t.top1.toFixed(2)}%` : ''),
    );
  }

  /** Runs the asynchronous teachers on the batch's view; the synchronous ones run in `labels`. */
  async prepare(batch: Batch, x: tf.Tensor4D): Promise<void> {
    this.dropPrepared();
    const outputs = new Map<number, tf.Tensor2D>();
    this.prepared = { batch, outputs };
    for (const [k, t] of this.teachers.entries()) {
      if (t.predictAsync) outputs.set(k, await t.predictAsync(x)); // (B, C)
    }
  }

  private dropPrepared(): void {
    if (this.prepared) tf.dispose([...this.prepared.outputs.values()]);
    this.prepared = undefined;
  }

  /** K x (B, C): prepared outputs for asynchronous teachers, a live run for the others. */
  private outputs(batch: Batch, x: tf.Tensor4D): tf.Tensor2D[] {
    return this.teachers.map((t, k) => {
      if (!t.predictAsync) return t.predict(x);
      const o = this.prepared?.batch === batch ? this.prepared.outputs.get(k) : undefined;
      if (!o) {
        throw new MealError(
          'ASYNC_TEACHER',
          `teacher ${t.name} runs asynchronously and has no outputs for this batch: ` +
            'await ensemble.prepare(batch, x) before ensemble.labels(batch, x).',
        );
      }
      return tf.clone(o); // tracked by the caller's tidy; the prepared one is dropped after
    });
  }

  labels(batch: Batch, x: tf.Tensor4D, wantLogits: boolean): SoftLabels {
    try {
      return this.labelsFrom(batch, x, wantLogits);
    } finally {
      this.dropPrepared();
    }
  }

  private labelsFrom(batch: Batch, x: tf.Tensor4D, wantLogits: boolean): SoftLabels {
    return tf.tidy(() => {
      const outputs = this.outputs(batch, x); // K x (B, C)
      const probs = ensembleSoftLabel(
        outputs,
        this.teachers.map((t) => t.output),
      );
      if (!wantLogits) return { probs };
      // A probability teacher has no logits; log p is its logits up to a constant per row.
      const logits = outputs.map((o, k) =>
        this.teachers[k].output === 'probabilities' ? tf.log(tf.maximum(o, 1e-12)) : o,
      ) as tf.Tensor2D[];
      return { probs, logits: meanLogits(logits) };
    });
  }

  /** (B, H, W, C) -> (B, C) ensemble probabilities: the ensemble as a classifier. */
  score(x: tf.Tensor4D): tf.Tensor2D {
    return ensembleSoftLabel(
      this.teachers.map((t) => t.predict(x)),
      this.teachers.map((t) => t.output),
    );
  }

  /** As `score`, for ensembles that may hold asynchronous teachers. */
  async scoreAsync(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const outputs: tf.Tensor2D[] = [];
    try {
      for (const t of this.teachers) outputs.push(await teacherOutputs(t, x)); // K x (B, C)
      return ensembleSoftLabel(
        outputs,
        this.teachers.map((t) => t.output),
      );
    } finally {
      tf.dispose(outputs);
    }
  }
}
