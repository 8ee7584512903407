/**
 * SGD with momentum and Adam, with PyTorch's update rules, over named
 * parameter groups that each have their own learning rate. The state is
 * plain arrays in and out, so a checkpoint can carry it and a resumed run
 * keeps its momentum (cases.md #10).
 */
import { tf } from '../engine/tf.js';
import { ADAM_UPDATE } from '../engine/kernels/adam.js';

export type OptimizerName = 'sgd' | 'adam';

export interface OptimizerOptions {
  name: OptimizerName;
  momentum: number; // SGD
  beta1: number; // Adam
  beta2: number;
  epsilon: number;
}

export interface ParamGroup {
  name: string;
  variables: tf.Variable[];
  lr: number;
  weightDecay: number;
}

interface Slot {
  m: tf.Variable; // SGD momentum buffer, or Adam's first moment
  v?: tf.Variable; // Adam's second moment
}

export interface OptimizerState {
  step: number;
  slots: { group: string; index: number; m: Float32Array; v?: Float32Array }[];
}

export class Optimizer {
  private slots = new Map<tf.Variable, Slot>();
  step = 0;

  constructor(
    readonly opts: OptimizerOptions,
    readonly groups: ParamGroup[],
  ) {
    for (const g of groups) {
      for (const v of g.variables) {
        this.slots.set(v, {
          m: tf.variable(tf.zerosLike(v), false),
          v: opts.name === 'adam' ? tf.variable(tf.zerosLike(v), false) : undefined,
        });
      }
    }
  }

  group(name: string): ParamGroup {
    const g = this.groups.find((x) => x.name === name);
    if (!g)
      throw new Error(`no parameter group "${name}"; groups: ${this.groups.map((x) => x.name)}`);
    return g;
  }

  /** Applies one update; `grads` maps each variable's name to its gradient. */
  apply(grads: Record<string, tf.Tensor>): void {
    // Checked before anything moves: a gradient of another shape would broadcast, or be read
    // past its end by the one-pass kernel.
    for (const v of this.groups.flatMap((g) => g.variables)) {
      const grad = grads[v.name];
      if (grad && !tf.util.arraysEqual(grad.shape, v.shape)) {
        throw new Error(
          `optimizer: the gradient for weight '${v.name}' has shape [${grad.shape}], expected ` +
            `[${v.shape}] (the weight's own); pass gradients as tf.variableGrads returns them`,
        );
      }
    }
    this.step += 1;
    const { name, momentum, beta1, beta2, epsilon } = this.opts;
    const bias1 = 1 - Math.pow(beta1, this.step);
    const bias2 = 1 - Math.pow(beta2, this.step);
    const fused = name === 'adam' && tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
    for (const g of this.groups) {
      for (const v of g.variables) {
        const grad = grads[v.name];
        if (!grad) continue;
        const slot = this.slots.get(v)!;
        tf.tidy(() => {
          if (fused) {
            // One pass per weight where the backend has it (engine/kernels/adam.ts).
            const attrs = { lr: g.lr / bias1, beta1, beta2, bias2, epsilon };
            const inputs = { w: v, m: slot.m, v: slot.v!, g: grad };
            const [w2, m2, v2] = tf.engine().runKernel(ADAM_UPDATE, inputs, {
              ...attrs,
              weightDecay: g.weightDecay,
            } as never) as tf.Tensor[];
            slot.m.assign(m2);
            slot.v!.assign(v2);
            v.assign(w2);
            return;
          }
          const d = g.weightDecay > 0 ? tf.add(grad, tf.mul(v, g.weightDecay)) : grad;
          if (name === 'sgd') {
            const buf = tf.add(tf.mul(slot.m, momentum), d); // buf = mu buf + g
            slot.m.assign(buf);
            v.assign(tf.sub(v, tf.mul(buf, g.lr)));
          } else {
            const m = tf.add(tf.mul(slot.m, beta1), tf.mul(d, 1 - beta1));
            const s = tf.add(tf.mul(slot.v!, beta2), tf.mul(tf.square(d), 1 - beta2));
            slot.m.assign(m);
            slot.v!.assign(s);
            const denom = tf.add(tf.sqrt(tf.div(s, bias2)), epsilon);
            v.assign(tf.sub(v, tf.mul(tf.div(m, denom), g.lr / bias1)));
          }
        });
      }
    }
  }

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = [];
    for (const g of this.groups) {
      g.variables.forEach((v, index) => {
        const s = this.slots.get(v)!;
        slots.push({
          group: g.name,
          index,
          m: s.m.dataSync() as Float32Array,
          v: s.v ? (s.v.dataSync() as Float32Array) : undefined,
        });
      });
    }
    return { step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    this.step = state.step;
    for (const s of state.slots) {
      const v = this.group(s.group).variables[s.index];
      const slot = this.slots.get(v)!;
      tf.tidy(() => {
        slot.m.assign(tf.tensor(s.m, v.shape));
        if (slot.v && s.v) slot.v.assign(tf.tensor(s.v, v.shape));
      });
    }
  }

  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v?.dispose();
    }
  }
}
