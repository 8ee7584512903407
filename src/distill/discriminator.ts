/**
 * The MEAL V2 discriminator (§3.3): three fully connected layers on the final
 * outputs, C -> h1 -> h2 -> 2, with ReLU between them. The official code
 * writes them as 1x1 convolutions on [N, C, 1, 1]; that is the same map.
 *
 * Porting notes, where the authors' code and this one differ (design.md §2.4):
 *  - hidden sizes: the official C/8 and C/64 give 1 and 0 units for 10
 *    classes, so sizes are configurable with a floor of 16;
 *  - 'faithful' mode keeps the ReLU after the last layer (its logits cannot
 *    go below 0, so the loss floors at ln(2)/2); 'corrected' drops it;
 *  - the student's share of the discriminator loss: the authors' joint update
 *    hands the student the discriminator's own gradient, so the student helps
 *    it separate the two. With the last ReLU gone the pair then drifts apart
 *    from the soft labels late in a run (measured: over the last 5 of 21
 *    epochs L_D fell from 0.68 to 0.44, KL rose from 0.03 to 0.16 and top-1
 *    fell 0.9 points). 'corrected' therefore reverses that gradient by
 *    default, which is what the paper's text describes: the student learns
 *    to fool the discriminator.
 */
import { tf } from '../engine/tf.js';
import { Rng } from '../util/rng.js';

export type DiscriminatorMode = 'corrected' | 'faithful';
export type StudentGradient = 'auto' | 'joint' | 'reversed';

/** 'auto' resolved: the authors' joint update in faithful mode, gradient reversal otherwise. */
export function studentGradientOf(
  mode: DiscriminatorMode,
  g: StudentGradient,
): 'joint' | 'reversed' {
  if (g !== 'auto') return g;
  return mode === 'faithful' ? 'joint' : 'reversed';
}

export interface DiscriminatorOptions {
  numClasses: number;
  hidden: [number, number];
  mode: DiscriminatorMode;
  seed: number;
  /** Start the last layer at zero, so the first loss is exactly ln 2 (used by tests). */
  zeroLastLayer?: boolean;
}

export const HIDDEN_FLOOR = 16;

/** The official C/8, C/64 rule with a floor, so small class counts keep a usable width. */
export function defaultHidden(numClasses: number): [number, number] {
  return [
    Math.max(HIDDEN_FLOOR, Math.floor(numClasses / 8)),
    Math.max(HIDDEN_FLOOR, Math.floor(numClasses / 64)),
  ];
}

export class Discriminator {
  readonly variables: tf.Variable[];

  constructor(readonly opts: DiscriminatorOptions) {
    const sizes = [opts.numClasses, ...opts.hidden, 2];
    const rng = Rng.derive(opts.seed, 'discriminator');
    this.variables = [];
    for (let i = 0; i < 3; i++) {
      const [fanIn, fanOut] = [sizes[i], sizes[i + 1]];
      const zero = opts.zeroLastLayer && i === 2;
      // PyTorch's default for conv/linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      const bound = 1 / Math.sqrt(fanIn);
      const w = Float32Array.from({ length: fanIn * fanOut }, () =>
        zero ? 0 : (2 * rng.next() - 1) * bound,
      );
      const b = Float32Array.from({ length: fanOut }, () =>
        zero ? 0 : (2 * rng.next() - 1) * bound,
      );
      this.variables.push(tf.variable(tf.tensor2d(w, [fanIn, fanOut]), true, undefined));
      this.variables.push(tf.variable(tf.tensor1d(b), true, undefined));
    }
  }

  /** (N, C) -> (N, 2) logits. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [w1, b1, w2, b2, w3, b3] = this.variables;
      let h = tf.relu(tf.add(tf.matMul(x, w1), b1)); // (N, h1)
      h = tf.relu(tf.add(tf.matMul(h, w2), b2)); // (N, h2)
      const out = tf.add(tf.matMul(h, w3), b3) as tf.Tensor2D; // (N, 2)
      return this.opts.mode === 'faithful' ? tf.relu(out) : out;
    });
  }

  dispose(): void {
    this.variables.forEach((v) => v.dispose());
  }
}
