/**
 * Where soft labels come from. The distillation step asks a source for the
 * labels of a batch and does not care whether teachers run live or a cache
 * replays stored labels.
 */
import { tf } from '../engine/tf.js';
import type { Batch } from '../data/loader.js';
import type { Teacher } from '../teachers/teacher.js';
import { ensembleSoftLabel, meanLogits } from './losses.js';

export interface SoftLabels {
  probs: tf.Tensor2D; // (B, C) eq. (1)
  /** (B, C) mean teacher logits, only when asked for (the faithful discriminator). */
  logits?: tf.Tensor2D;
}

export interface SoftLabelSource {
  describe(): string[];
  labels(batch: Batch, x: tf.Tensor4D, wantLogits: boolean): SoftLabels;
}

/** The live ensemble: every teacher runs on the same view the student sees. */
export class LiveEnsemble implements SoftLabelSource {
  constructor(readonly teachers: Teacher[]) {}

  describe(): string[] {
    return this.teachers.map(
      (t) =>
        `teacher ${t.name}: output ${t.output}` +
        (t.params ? `, ${t.params.toLocaleString('en-US')} parameters` : '') +
        (t.top1 !== undefined ? `, recorded top-1 ${t.top1.toFixed(2)}%` : ''),
    );
  }

  labels(_batch: Batch, x: tf.Tensor4D, wantLogits: boolean): SoftLabels {
    return tf.tidy(() => {
      const outputs = this.teachers.map((t) => t.predict(x)); // K x (B, C)
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
}
