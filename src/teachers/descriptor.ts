/**
 * The teacher descriptor: a small JSON file that says how to feed a teacher
 * that meal did not make (an ONNX export from PyTorch, or a TensorFlow.js
 * model) and how to read its output. Each teacher gets its own preprocessing
 * of the same [0, 1] crop the student sees: scale, then per-channel mean and
 * std, then the layout the model wants.
 *
 *   { "model": "model.onnx", "layout": "NCHW", "inputSize": [28, 28, 1],
 *     "scale": 1, "mean": [0.286], "std": [0.353], "output": "logits", "numClasses": 10 }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { tf, tfl } from '../engine/tf.js';
import { InferenceModel } from '../engine/inference.js';
import type { OutputKind } from '../distill/losses.js';
import { loadModel } from '../models/io.js';
import { MealError } from '../util/errors.js';
import type { Teacher } from './teacher.js';

export type Layout = 'NCHW' | 'NHWC';

export interface TeacherDescriptor {
  format?: 'meal-teacher/1';
  /** Display name; defaults to the descriptor's file name. */
  name?: string;
  /** An .onnx file or a TensorFlow.js layers model (folder, model.json), relative to the file. */
  model: string;
  layout: Layout;
  /** [H, W, C] of one image, whatever the layout. */
  inputSize: [number, number, number];
  /** [0, 1] pixels are multiplied by this first (255 for a model trained on 0-255 values). */
  scale: number;
  /** Per channel (or one value for all), applied after scale: (x * scale - mean) / std. */
  mean: number[];
  std: number[];
  output: OutputKind;
  numClasses: number;
  classNames?: string[];
  /** ONNX Runtime intra-op threads; 0 or absent lets ONNX Runtime choose. */
  threads?: number;
}

/** One line per field: the help a missing-field error prints. */
const FIELD_HELP: Record<string, string> = {
  model: 'path of the .onnx file or TensorFlow.js model, relative to the descriptor',
  layout: '"NCHW" (PyTorch exports) or "NHWC" (TensorFlow)',
  inputSize: '[H, W, C] of one image, e.g. [28, 28, 1]',
  scale: 'what [0, 1] pixels are multiplied by first: 1, or 255 for 0-255 models',
  mean: 'per-channel mean subtracted after scaling, e.g. [0.286]',
  std: 'per-channel std divided by after subtracting the mean, e.g. [0.353]',
  output: '"logits" or "probabilities" (the model ends in a softmax)',
  numClasses: 'how many classes the model outputs, e.g. 10',
};

const posInt = { type: 'integer', minimum: 1 };
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(FIELD_HELP),
  properties: {
    $schema: { type: 'string' },
    format: { const: 'meal-teacher/1' },
    name: { type: 'string', minLength: 1 },
    model: { type: 'string', minLength: 1 },
    layout: { enum: ['NCHW', 'NHWC'] },
    inputSize: { type: 'array', items: posInt, minItems: 3, maxItems: 3 },
    scale: { type: 'number', exclusiveMinimum: 0 },
    mean: { type: 'array', items: { type: 'number' }, minItems: 1 },
    std: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 1 },
    output: { enum: ['logits', 'probabilities'] },
    numClasses: { type: 'integer', minimum: 2 },
    classNames: { type: 'array', items: { type: 'string' } },
    threads: { type: 'integer', minimum: 0 },
  },
};

const ajv = new Ajv({ allErrors: true });
const check = ajv.compile(SCHEMA);

function describe(e: ErrorObject): string {
  if (e.keyword === 'required') {
    const field = (e.params as { missingProperty: string }).missingProperty;
    return `missing field "${field}": ${FIELD_HELP[field]}`;
  }
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
  if (e.keyword === 'additionalProperties') {
    const field = (e.params as { additionalProperty: string }).additionalProperty;
    return `unknown field "${field}" (known: ${Object.keys(SCHEMA.properties).join(', ')})`;
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    return `${where}: must be one of ${allowed.join(', ')}`;
  }
  return `${where}: ${e.message}`;
}

/** Validates a parsed descriptor as a whole; one error lists every problem. */
export function validateDescriptor(value: unknown, source: string): TeacherDescriptor {
  const problems = check(value) ? [] : [...new Set((check.errors ?? []).map(describe))];
  if (problems.length === 0) {
    const d = value as TeacherDescriptor;
    const c = d.inputSize[2];
    for (const key of ['mean', 'std'] as const) {
      if (d[key].length !== 1 && d[key].length !== c) {
        problems.push(
          `${key}: expected 1 value or one per channel (${c}, from inputSize), ` +
            `found ${d[key].length}`,
        );
      }
    }
    if (d.classNames && d.classNames.length !== d.numClasses) {
      problems.push(
        `classNames: expected ${d.numClasses} names (numClasses), found ${d.classNames.length}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new MealError(
      'BAD_DESCRIPTOR',
      `teacher descriptor ${source} has ${problems.length} ` +
        `problem${problems.length > 1 ? 's' : ''}:` +
        `\n  - ${problems.join('\n  - ')}\nSee README.md, "ONNX teachers (from PyTorch)".`,
    );
  }
  return value as TeacherDescriptor;
}

/** A file called descriptor.json is named after its folder, as a model/ folder is after its run. */
function descriptorName(file: string): string {
  const base = path.basename(file, path.extname(file));
  return base === 'descriptor' ? path.basename(path.dirname(path.resolve(file))) : base;
}

/** Reads and validates a descriptor file; `model` is returned resolved against its folder. */
export function readDescriptor(file: string): TeacherDescriptor {
  if (!fs.existsSync(file)) {
    throw new MealError(
      'MISSING_FILE',
      `teacher descriptor ${file} does not exist. Pass the path of a .json descriptor, or a meal ` +
        'model folder.',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MealError(
      'BAD_DESCRIPTOR',
      `teacher descriptor ${file} is not valid JSON (${(e as Error).message}).`,
    );
  }
  const d = validateDescriptor(value, file);
  return {
    ...d,
    name: d.name ?? descriptorName(file),
    model: path.resolve(path.dirname(file), d.model),
  };
}

/** The [N, ...] input shape a model with this descriptor takes, batch dimension left out. */
export function layoutShape(d: Pick<TeacherDescriptor, 'layout' | 'inputSize'>): number[] {
  const [h, w, c] = d.inputSize;
  return d.layout === 'NCHW' ? [c, h, w] : [h, w, c];
}

/**
 * (B, H, W, C) pixels in [0, 1] -> the model's input: (x * scale - mean) / std per channel,
 * transposed to (B, C, H, W) for NCHW. The caller disposes the result.
 */
export function preprocess(x: tf.Tensor4D, d: TeacherDescriptor): tf.Tensor4D {
  return tf.tidy(() => {
    const mean = tf.tensor1d(d.mean); // (C,) or (1,), broadcast over the last axis
    const std = tf.tensor1d(d.std);
    const v = tf.div(tf.sub(tf.mul(x, d.scale), mean), std) as tf.Tensor4D; // (B, H, W, C)
    return d.layout === 'NCHW' ? tf.transpose(v, [0, 3, 1, 2]) : v; // (B, C, H, W) or as is
  });
}

/** A TensorFlow.js layers model fed through a descriptor's preprocessing. */
export class DescribedTfjsTeacher implements Teacher {
  readonly name: string;
  readonly numClasses: number;
  readonly inputShape: [number, number, number];
  readonly output: OutputKind;
  private readonly inference: InferenceModel;

  constructor(
    readonly model: tfl.LayersModel,
    readonly descriptor: TeacherDescriptor,
  ) {
    this.name = descriptor.name ?? path.basename(descriptor.model);
    this.numClasses = descriptor.numClasses;
    this.inputShape = descriptor.inputSize;
    this.output = descriptor.output;
    model.trainable = false;
    this.inference = new InferenceModel(model);
  }

  get params(): number {
    return this.model.countParams();
  }

  predict(x: tf.Tensor4D): tf.Tensor2D {
    // Inference mode: BatchNorm on its moving statistics (design.md §2.1), folded.
    return tf.tidy(() => this.inference.predict(preprocess(x, this.descriptor)) as tf.Tensor2D);
  }

  dispose(): void {
    this.inference.dispose();
    this.model.dispose();
  }
}

/** Loads a TensorFlow.js model named by a descriptor, checking its input and output shapes. */
export async function loadDescribedTfjsTeacher(d: TeacherDescriptor): Promise<Teacher> {
  if (!fs.existsSync(d.model)) {
    throw new MealError(
      'MISSING_FILE',
      `teacher ${d.name}: model ${d.model} does not exist. Expected an .onnx file or a ` +
        'TensorFlow.js model folder at "model" (relative to the descriptor); fix the path.',
    );
  }
  const model = await loadModel(d.model);
  const found = model.inputs[0].shape.slice(1);
  const expected = layoutShape(d);
  if (found.join('x') !== expected.join('x')) {
    model.dispose();
    throw new MealError(
      'TEACHER_INPUT',
      `teacher ${d.name}: descriptor says ${d.layout} ${d.inputSize.join('x')} (HxWxC), so ` +
        `input [N, ${expected}], but ${d.model} takes [N, ${found}]. ` +
        'Set "layout" and "inputSize" to the model\'s input.',
    );
  }
  const out = model.outputs[0].shape;
  if (out.length !== 2 || out[1] !== d.numClasses) {
    model.dispose();
    throw new MealError(
      'TEACHER_CLASSES',
      `teacher ${d.name}: descriptor says ${d.numClasses} classes, ${d.model} outputs ` +
        `[${out.map((v) => v ?? 'N')}]. Set "numClasses" to the model's class count.`,
    );
  }
  return new DescribedTfjsTeacher(model, d);
}

/** Any teacher from a descriptor file: ONNX Runtime for .onnx models, TensorFlow.js otherwise. */
export async function loadDescribedTeacher(file: string): Promise<Teacher> {
  const d = readDescriptor(file);
  if (d.model.toLowerCase().endsWith('.onnx')) {
    // Imported on demand: TensorFlow.js-only users never load the native runtime.
    const { loadOnnxTeacher } = await import('./onnx.js');
    return loadOnnxTeacher(d);
  }
  return loadDescribedTfjsTeacher(d);
}
