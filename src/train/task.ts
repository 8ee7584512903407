/**
 * What the training loop needs from a kind of training (supervised or
 * distillation): its parameter groups, one step on a batch, and any state
 * beyond the student that a checkpoint must carry.
 */
import type { tf, tfl } from '../engine/tf.js';
import type { Batch, ViewSource } from '../data/loader.js';
import type { CheckpointTensor } from './checkpoint.js';
import type { ParamGroup } from './optimizer.js';

export interface StepOutput {
  /** Named loss parts, scalars kept on the device until the loop reads them. */
  losses: Record<string, tf.Scalar>;
  /** How many of the batch's hard labels the student's argmax got right (a metric only). */
  correct: tf.Scalar;
}

export interface GroupSchedule {
  /** The learning rate of a group at an epoch. */
  lrAt(epoch: number): number;
}

export interface Task {
  kind: 'train' | 'distill';
  student: tfl.LayersModel;
  groups: ParamGroup[];
  schedules: Record<string, GroupSchedule>;
  /** Applies one step's gradients; set by the caller once the optimiser over `groups` exists. */
  optimizer?: { apply(grads: Record<string, tf.Tensor>): void };
  /** Stored views to replay instead of fresh random crops (the soft-label cache). */
  replay?: ViewSource;
  /** Asynchronous work for a batch (ONNX teachers), awaited before the synchronous step. */
  prepare?(batch: Batch): Promise<void>;
  step(batch: Batch): StepOutput;
  /** State besides the student's weights and the optimiser (the discriminator). */
  extraState(): CheckpointTensor[];
  loadExtraState(tensors: CheckpointTensor[]): void;
  /** Lines for the start of the log: the resolved choices. */
  describe(): string[];
  dispose(): void;
}
