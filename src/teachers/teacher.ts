/**
 * A teacher is anything that maps a batch of images to class scores, with
 * its own input size and output kind. Teachers are frozen: they always run in
 * inference mode (BatchNorm uses its moving statistics) and none of their
 * weights is ever handed to an optimiser (design.md §2.1).
 */
import { tf, tfl } from '../engine/tf.js';
import { InferenceModel } from '../engine/inference.js';
import type { OutputKind } from '../distill/losses.js';
import { loadModel, modelName, readModelMeta, stripFileScheme } from '../models/io.js';
import { MealError } from '../util/errors.js';

export interface Teacher {
  name: string;
  numClasses: number;
  inputShape: [number, number, number];
  output: OutputKind;
  /** Top-1 recorded when the teacher was made, if known (percent). */
  top1?: number;
  params?: number;
  /** (B, H, W, C) pixels in [0, 1] -> (B, numClasses) outputs of the declared kind. */
  predict(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * Teachers on an asynchronous runtime (ONNX Runtime) implement this instead; their `predict`
   * throws. Callers that may meet either kind use `teacherOutputs`.
   */
  predictAsync?(x: tf.Tensor4D): Promise<tf.Tensor2D>;
  dispose(): void;
}

/** A teacher's outputs whichever way it runs; the caller disposes them. */
export async function teacherOutputs(t: Teacher, x: tf.Tensor4D): Promise<tf.Tensor2D> {
  return t.predictAsync ? t.predictAsync(x) : t.predict(x);
}

export class TfjsTeacher implements Teacher {
  private readonly inference: InferenceModel;

  constructor(
    readonly name: string,
    readonly model: tfl.LayersModel,
    readonly numClasses: number,
    readonly inputShape: [number, number, number],
    readonly output: OutputKind,
    readonly top1?: number,
    readonly params?: number,
  ) {
    model.trainable = false;
    this.inference = new InferenceModel(model);
  }

  predict(x: tf.Tensor4D): tf.Tensor2D {
    // Inference mode: BatchNorm on its moving statistics (cases.md #9), folded into the convolutions.
    return this.inference.predict(x) as tf.Tensor2D;
  }

  dispose(): void {
    this.inference.dispose();
    this.model.dispose();
  }
}

/** Loads a meal model folder (model.json, weights.bin, meal.json) as a teacher. */
export async function loadTfjsTeacher(dir: string): Promise<Teacher> {
  dir = stripFileScheme(dir);
  const meta = readModelMeta(dir);
  const model = await loadModel(dir);
  const out = model.outputs[0].shape;
  if (out[out.length - 1] !== meta.numClasses) {
    throw new MealError(
      'TEACHER_CLASSES',
      `teacher ${dir}: meal.json says ${meta.numClasses} classes, the model outputs ${out[out.length - 1]}.`,
    );
  }
  return new TfjsTeacher(
    modelName(dir),
    model,
    meta.numClasses,
    meta.inputShape,
    meta.output,
    meta.top1,
    meta.params,
  );
}

/**
 * Checks what a teacher declared against what it produced on a first batch.
 * A 'logits' teacher whose rows are all non-negative and sum to 1 most likely
 * ends in a softmax already: softmax twice flattens its labels (cases.md #5).
 */
export function outputKindWarning(teacher: Teacher, outputs: tf.Tensor2D): string | undefined {
  if (teacher.output !== 'logits') return undefined;
  const looksLikeProbs = tf.tidy(() => {
    const nonNeg = tf.all(tf.greaterEqual(outputs, 0));
    const sums = tf.sum(outputs, -1);
    const nearOne = tf.all(tf.less(tf.abs(tf.sub(sums, 1)), 1e-3));
    return tf.logicalAnd(nonNeg, nearOne).dataSync()[0] === 1;
  });
  if (!looksLikeProbs) return undefined;
  return (
    `teacher ${teacher.name} declares output "logits", but its rows are non-negative and sum ` +
    'to 1, as probabilities do. If the model ends in a softmax, declare output "probabilities"; ' +
    'otherwise softmax is applied twice and its soft labels are flattened.'
  );
}

/** Every teacher of an ensemble must agree with the student on classes and input. */
export function checkCompatible(
  teachers: Teacher[],
  numClasses: number,
  inputShape: number[],
): void {
  for (const t of teachers) {
    if (t.numClasses !== numClasses) {
      throw new MealError(
        'TEACHER_CLASSES',
        `teacher ${t.name} has ${t.numClasses} classes, expected ${numClasses} (the data set's and ` +
          "the student's). Use teachers trained on the same class list.",
      );
    }
    if (t.inputShape.join('x') !== inputShape.join('x')) {
      throw new MealError(
        'TEACHER_INPUT',
        `teacher ${t.name} takes input ${t.inputShape.join('x')}, expected ${inputShape.join('x')} ` +
          "(the data set's image size). Use teachers made for this image size.",
      );
    }
  }
}
