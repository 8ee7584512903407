/**
 * The losses of MEAL V2 (Shen & Savvides, 2020), each named after the part
 * of the paper it implements. Shapes: B = batch, C = classes, K = teachers.
 *
 *   (1) soft label          p(x)   = 1/K  sum_k softmax(z_k(x))          (§3.1, "ensemble")
 *   (2) similarity loss     L_sim  = -1/B sum_b sum_c p_bc log softmax(s_b)_c   (§3.2, KL)
 *       reported as         KL(p || q) = L_sim - H(p),  H(p) = -sum_c p_c log p_c
 *   (3) discriminator loss  L_D    = mean over 2B x 2 entries of BCEWithLogits(D([s; t]), [1,0; 0,1])
 *                                                                         (§3.3)
 *   total                   L      = w_sim L_sim + w_D L_D, one backward pass (§3.4, joint)
 *       The discriminator descends dL_D. In the authors' code the student descends the same
 *       dL_D ('joint'): it helps the discriminator tell it from the teachers. 'reversed' passes
 *       the student -dL_D instead (gradient reversal), so it learns to fool the discriminator.
 *
 * Every function here runs inside tf.tidy, so only its result survives.
 */
import { tf } from '../engine/tf.js';

export type OutputKind = 'logits' | 'probabilities';

/** softmax over the class axis, or the outputs as they are if they already are probabilities. */
export function toProbabilities(outputs: tf.Tensor2D, kind: OutputKind): tf.Tensor2D {
  return kind === 'probabilities' ? outputs.clone() : tf.softmax(outputs, -1);
}

/**
 * Eq. (1): the ensemble's soft label, the mean of the teachers' probabilities.
 * Averaging probabilities, not logits, is what the paper does (cases.md #1).
 */
export function ensembleSoftLabel(outputs: tf.Tensor2D[], kinds: OutputKind[]): tf.Tensor2D {
  return tf.tidy(() => {
    const probs = outputs.map((o, k) => toProbabilities(o, kinds[k])); // K x (B, C)
    return tf.div(tf.addN(probs), outputs.length) as tf.Tensor2D; // (B, C)
  });
}

/** The mean of the teachers' logits: only the faithful discriminator mode uses it (§3.3 note). */
export function meanLogits(outputs: tf.Tensor2D[]): tf.Tensor2D {
  return tf.tidy(() => tf.div(tf.addN(outputs), outputs.length) as tf.Tensor2D);
}

/**
 * Eq. (2): soft cross-entropy between the soft label p (B, C) and the student
 * logits s (B, C), summed over classes and averaged over the batch. Goes
 * through log-softmax so a very negative logit gives a large finite loss,
 * never Infinity (cases.md #4).
 */
export function softCrossEntropy(p: tf.Tensor2D, studentLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logq = tf.logSoftmax(studentLogits, -1); // (B, C)
    return tf.neg(tf.mean(tf.sum(tf.mul(p, logq), -1))) as tf.Scalar;
  });
}

/** H(p) per batch, averaged: the constant between soft cross-entropy and KL. 0 log 0 = 0. */
export function meanEntropy(p: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const safe = tf.where(tf.greater(p, 0), p, tf.onesLike(p)); // log 1 = 0 where p = 0
    return tf.neg(tf.mean(tf.sum(tf.mul(p, tf.log(safe)), -1))) as tf.Scalar;
  });
}

/** KL(p || softmax(s)) averaged over the batch: the value the logs report (cases.md #2, #3). */
export function klDivergence(p: tf.Tensor2D, studentLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.sub(softCrossEntropy(p, studentLogits), meanEntropy(p)) as tf.Scalar);
}

/**
 * Binary cross-entropy with logits, averaged over every entry, in the stable
 * form max(x, 0) - x z + log(1 + exp(-|x|)) (cases.md #6).
 */
export function bceWithLogits(targets: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const x = logits;
    const loss = tf.add(
      tf.sub(tf.relu(x), tf.mul(x, targets)),
      tf.log1p(tf.exp(tf.neg(tf.abs(x)))),
    );
    return tf.mean(loss) as tf.Scalar;
  });
}

/** Identity forward, negated gradient backward: the gradient reversal layer. */
export const reverseGradient = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.neg(dy),
})) as <T extends tf.Tensor>(x: T) => T;

/** Targets for the discriminator: [1, 0] for the B student rows, then [0, 1] for the B teacher rows. */
export function discriminatorTargets(batch: number): tf.Tensor2D {
  return tf.tidy(() => {
    const student = tf.tile(tf.tensor2d([[1, 0]]), [batch, 1]);
    const teacher = tf.tile(tf.tensor2d([[0, 1]]), [batch, 1]);
    return tf.concat([student, teacher], 0) as tf.Tensor2D; // (2B, 2)
  });
}

/** Hard-label cross-entropy for supervised training (teachers, baselines, student init). */
export function hardCrossEntropy(labels: tf.Tensor1D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]) as tf.Tensor2D;
    return softCrossEntropy(onehot, logits);
  });
}
