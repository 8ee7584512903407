/**
 * Custom layers. Each is registered with the layers serialiser when this
 * module is imported, so a saved model that uses one loads in a fresh process
 * as long as the program imports `meal` (cases.md #15).
 */
import { tf, tfl } from '../engine/tf.js';

export interface StandardizeConfig {
  mean: number[];
  std: number[];
  name?: string;
}

/**
 * (x - mean) / std per channel. Models built by meal carry their own
 * normalisation, so whoever uses one feeds it plain [0, 1] pixels.
 */
export class Standardize extends tfl.layers.Layer {
  static className = 'MealStandardize';
  readonly mean: number[];
  readonly std: number[];

  constructor(config: StandardizeConfig) {
    super({ name: config.name });
    this.mean = config.mean;
    this.std = config.std;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.div(tf.sub(x, tf.tensor1d(this.mean)), tf.tensor1d(this.std));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mean: this.mean, std: this.std };
  }
}

tf.serialization.registerClass(Standardize);

/** The class names of every custom layer meal registers. */
export const CUSTOM_LAYERS = [Standardize.className];
