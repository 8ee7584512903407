/**
 * Model registry: a name maps to a builder with its declared input shape and
 * class count. Shared code never branches on a model's name.
 */
import { tfl } from '../engine/tf.js';
import { cnn, mlp, mobilenet, resnet, type NetOptions } from './reference.js';

export interface ModelSpec {
  description: string;
  build: (opts: NetOptions) => tfl.LayersModel;
}

const REGISTRY: Record<string, ModelSpec> = {
  'cnn-small': {
    description: 'design.md §5 cnn-small (421,642 params at 28x28x1, 10 classes)',
    build: (o) => cnn(o),
  },
  'cnn-tiny': {
    description: 'cnn-small at a quarter width: a student-sized net',
    build: (o) => cnn(o, 8, 32),
  },
  'cnn-half': {
    description: 'cnn-small at half width: a larger student',
    build: (o) => cnn(o, 16, 64),
  },
  'cnn-wide': {
    description: 'cnn-small at double width: a teacher-sized net',
    build: (o) => cnn(o, 64, 256),
  },
  'resnet-mini': {
    description: 'design.md §5 resnet-mini (696,042 params)',
    build: (o) => resnet(o),
  },
  'resnet-tiny': {
    description:
      'three basic blocks, 16/1, 32/2, 64/2: a teacher-sized ResNet about 2x cnn-small in compute',
    build: (o) =>
      resnet(o, [
        [16, 1],
        [32, 2],
        [64, 2],
      ]),
  },
  mlp: {
    description: 'a 784-512-256-10 perceptron: a cheap teacher with other biases than a CNN',
    build: (o) => mlp(o),
  },
  'mobilenet-mini': {
    description: 'design.md §5 mobilenet-mini (136,202 params)',
    build: (o) => mobilenet(o),
  },
  'mobilenet-tiny': {
    description: 'mobilenet-mini at half width',
    build: (o) => mobilenet(o, 0.5),
  },
};

export function modelNames(): string[] {
  return Object.keys(REGISTRY);
}

export function buildModel(name: string, opts: NetOptions): tfl.LayersModel {
  const spec = REGISTRY[name];
  if (!spec) {
    throw new Error(
      `unknown architecture "${name}": expected one of ${modelNames().join(', ')}. ` +
        `Pick one with --arch NAME (see "meal train --help").`,
    );
  }
  return spec.build(opts);
}

export function parameterCount(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce(
    (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );
}
