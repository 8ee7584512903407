/**
 * ONNX teachers through onnxruntime-node: how PyTorch (timm, torchvision)
 * teachers get into meal. ONNX Runtime's CPU kernels are native and
 * multi-threaded, several times faster than TensorFlow.js on wasm for the same
 * network (README.md, "ONNX teachers").
 *
 * Its `run` is asynchronous, so an OnnxTeacher implements `predictAsync`; the
 * live ensemble calls it in `prepare`, before the synchronous training step.
 */
import * as fs from 'node:fs';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { tf } from '../engine/tf.js';
import type { OutputKind } from '../distill/losses.js';
import { MealError } from '../util/errors.js';
import { layoutShape, preprocess, type TeacherDescriptor } from './descriptor.js';
import type { Teacher } from './teacher.js';

type Ort = typeof import('onnxruntime-node');

let ort: Ort | undefined;

/** The runtime, loaded once and only when an ONNX teacher is used. */
async function runtime(): Promise<Ort> {
  if (ort) return ort;
  try {
    ort = await import('onnxruntime-node');
    return ort;
  } catch (e) {
    throw new MealError(
      'NO_ONNX_RUNTIME',
      `ONNX teachers need onnxruntime-node, which did not load: ${(e as Error).message}. ` +
        'Reinstall with "npm ci" (its CPU binaries ship in the npm package).',
    );
  }
}

/** Numeric dims of an ONNX shape; symbolic ones (the dynamic batch) become undefined. */
function dims(shape: ReadonlyArray<number | string>): (number | undefined)[] {
  return shape.map((v) => (typeof v === 'number' && v > 0 ? v : undefined));
}

function matches(found: (number | undefined)[], expected: number[]): boolean {
  return (
    found.length === expected.length && found.every((v, i) => v === undefined || v === expected[i])
  );
}

const show = (s: (number | undefined)[]) => `[${s.map((v) => v ?? 'N').join(', ')}]`;

export class OnnxTeacher implements Teacher {
  readonly name: string;
  readonly numClasses: number;
  readonly inputShape: [number, number, number];
  readonly output: OutputKind;

  constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    readonly descriptor: TeacherDescriptor,
  ) {
    this.name = descriptor.name ?? descriptor.model;
    this.numClasses = descriptor.numClasses;
    this.inputShape = descriptor.inputSize;
    this.output = descriptor.output;
  }

  /** ONNX Runtime has no synchronous run: callers go through predictAsync (or ensemble.prepare). */
  predict(): tf.Tensor2D {
    throw new MealError(
      'ASYNC_TEACHER',
      `teacher ${this.name} runs on ONNX Runtime, which is asynchronous: call predictAsync(x), ` +
        'or LiveEnsemble.prepare(batch, x) before labels(...).',
    );
  }

  /** (B, H, W, C) pixels in [0, 1] -> (B, numClasses) outputs of the declared kind. */
  async predictAsync(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const input = preprocess(x, this.descriptor); // (B, C, H, W) or (B, H, W, C)
    let data: Float32Array;
    try {
      data = (await input.data()) as Float32Array;
    } finally {
      input.dispose();
    }
    const out = await this.run(data, [x.shape[0], ...layoutShape(this.descriptor)]);
    return tf.tensor2d(out.data as Float32Array, [x.shape[0], this.numClasses]);
  }

  /** One session run; checks the output is (B, numClasses). */
  async run(data: Float32Array, shape: number[]): Promise<OrtTensor> {
    const session = this.session;
    const feeds = { [session.inputNames[0]]: new this.ort.Tensor('float32', data, shape) };
    const result = await session.run(feeds);
    const out = result[session.outputNames[0]];
    if (out.dims.length !== 2 || out.dims[0] !== shape[0] || out.dims[1] !== this.numClasses) {
      throw new MealError(
        'TEACHER_CLASSES',
        `teacher ${this.name}: expected output [${shape[0]}, ${this.numClasses}] (batch, ` +
          `numClasses), found [${out.dims.join(', ')}] from ${this.descriptor.model}. Set ` +
          '"numClasses" to the model\'s class count, or export a model that outputs class scores.',
      );
    }
    if (out.type !== 'float32') {
      throw new MealError(
        'TEACHER_OUTPUT',
        `teacher ${this.name}: expected a float32 output, found ${out.type}; export the model ` +
          'with float32 outputs.',
      );
    }
    return out;
  }

  dispose(): void {
    void this.session.release();
  }
}

/** Opens an ONNX model and checks its input and output against the descriptor. */
export async function loadOnnxTeacher(d: TeacherDescriptor): Promise<OnnxTeacher> {
  const name = d.name ?? d.model;
  if (!fs.existsSync(d.model)) {
    throw new MealError(
      'MISSING_FILE',
      `teacher ${name}: expected an ONNX model at ${d.model} ("model", relative to the ` +
        'descriptor), but it does not exist. Fix the path, or export the model with ' +
        'torch.onnx.export.',
    );
  }
  const ort = await runtime();
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(d.model, {
      intraOpNumThreads: d.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new MealError(
      'CORRUPT_FILE',
      `teacher ${name}: ${d.model} is not a loadable ONNX model (${(e as Error).message}). ` +
        'Expected an ONNX file as written by torch.onnx.export; export it again.',
    );
  }
  try {
    const teacher = new OnnxTeacher(ort, session, { ...d, name });
    checkInput(teacher, session, d);
    // A probe batch of 2 checks what metadata cannot: symbolic dims, and the real output shape.
    const shape = [2, ...layoutShape(d)];
    await teacher.run(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    return teacher;
  } catch (e) {
    void session.release();
    if (e instanceof MealError) throw e;
    throw new MealError(
      'TEACHER_INPUT',
      `teacher ${name}: a probe batch shaped [2, ${layoutShape(d)}] (${d.layout}, inputSize ` +
        `${d.inputSize.join('x')}) failed: ${(e as Error).message}. Set "layout" and "inputSize" ` +
        "to the model's input, or export the model with a dynamic batch dimension.",
    );
  }
}

function checkInput(t: OnnxTeacher, session: InferenceSession, d: TeacherDescriptor): void {
  if (session.inputNames.length !== 1) {
    throw new MealError(
      'TEACHER_INPUT',
      `teacher ${t.name}: expected a model with one input (the image batch), found ` +
        `${session.inputNames.length} (${session.inputNames.join(', ')}). Export a model ` +
        'that takes only the images.',
    );
  }
  const meta = session.inputMetadata[0];
  if (!meta?.isTensor || meta.shape.length === 0) return; // no static shape: the probe decides
  const found = dims(meta.shape);
  const expected = [found[0] ?? 1, ...layoutShape(d)];
  if (matches(found, expected)) return;
  const other = d.layout === 'NCHW' ? 'NHWC' : 'NCHW';
  const flipped = matches(found, [expected[0], ...layoutShape({ ...d, layout: other })]);
  throw new MealError(
    'TEACHER_INPUT',
    `teacher ${t.name}: descriptor says ${d.layout} with inputSize ${d.inputSize.join('x')} ` +
      `(HxWxC), so input ${show([undefined, ...layoutShape(d)])}, but ${d.model} takes ` +
      `${show(found)}. ` +
      (flipped
        ? `That is the ${other} layout: set "layout": "${other}".`
        : 'Set "inputSize" (and "layout") to what the model takes.'),
  );
}
