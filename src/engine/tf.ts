/**
 * The one place the project imports TensorFlow.js from, so that the backend
 * packages, the layers API and the kernels we add always come from one copy.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';

export { tf, tfl };
export type Tensor = tf.Tensor;
