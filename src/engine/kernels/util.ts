/**
 * Shared pieces of the project's wasm kernels. A kernel here is built from stock wasm kernels
 * called through tf ops inside one tidy(), so it allocates nothing that outlives the call.
 */
import { tf } from '../tf.js';

/**
 * A kernel input (a bare TensorInfo) as a Tensor, so tf ops accept it. The wrapper holds its own
 * reference to the data, so disposing it (tidy() does) leaves the caller's tensor intact.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  const engine = tf.engine();
  const t = engine.makeTensorFromTensorInfo(info);
  engine.backend.incRef(info.dataId);
  return t as tf.Tensor<R>;
}

/** A fresh kernel output as a Tensor; it takes over the output's only reference. */
export function adopt(info: tf.TensorInfo): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** The forward convolution's geometry, as tfjs computes it for the op being differentiated. */
export function convGeometry(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
  allowDilation = false,
): tf.backend_util.Conv2DInfo {
  const { strides, pad, dimRoundingMode, dataFormat } = attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    dataFormat?: 'NHWC' | 'NCHW';
  };
  if (dataFormat === 'NCHW') {
    throw new Error('the wasm backend supports only NHWC (channels-last) convolutions');
  }
  const dilations = (attrs.dilations as [number, number] | number | undefined) ?? 1;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
  );
  if (!allowDilation && (info.dilationHeight !== 1 || info.dilationWidth !== 1)) {
    // tfjs itself refuses gradients of dilated convolutions before reaching a kernel.
    throw new Error('convolution gradients with dilation > 1 are not supported yet');
  }
  return info;
}

/**
 * Rows (or columns) of a zero-padded tensor as a slice plus an explicit padding, so that a
 * window [start, start + length) of an axis of size `size` can be read with negative or
 * out-of-range bounds: the part inside the tensor is sliced, the rest is padding.
 */
export interface AxisWindow {
  begin: number;
  size: number;
  padBefore: number;
  padAfter: number;
}

export function axisWindow(start: number, length: number, size: number): AxisWindow {
  const begin = Math.min(Math.max(start, 0), size);
  const end = Math.max(Math.min(start + length, size), begin);
  return { begin, size: end - begin, padBefore: begin - start, padAfter: start + length - end };
}

/** Slices a 4-D NHWC tensor to the given H and W windows (no copy when nothing is cut). */
export function sliceHW(x: tf.Tensor4D, h: AxisWindow, w: AxisWindow): tf.Tensor4D {
  const [n, height, width, c] = x.shape;
  if (h.begin === 0 && h.size === height && w.begin === 0 && w.size === width) return x;
  return tf.slice(x, [0, h.begin, w.begin, 0], [n, h.size, w.size, c]);
}

export function explicitPad(h: AxisWindow, w: AxisWindow): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [h.padBefore, h.padAfter],
    [w.padBefore, w.padAfter],
    [0, 0],
  ];
}

/**
 * Interleaves phase results back into one spatial grid: `phases[rh][rw]` holds the outputs at
 * rows rh, rh + sh, ... and columns rw, rw + sw, ...; all phases have the same shape
 * [N, nh, nw, C]. The result is [N, nh * sh, nw * sw, C].
 */
export function interleave(phases: tf.Tensor4D[][]): tf.Tensor4D {
  const sh = phases.length;
  const sw = phases[0].length;
  const [n, nh, nw, c] = phases[0][0].shape;
  if (sh === 1 && sw === 1) return phases[0][0];
  const rows = phases.map(
    (row) => (sw === 1 ? row[0] : tf.reshape(tf.stack(row, 3), [n, nh, nw * sw, c])), // (N, nh, nw*sw, C)
  );
  if (sh === 1) return rows[0] as tf.Tensor4D;
  return tf.reshape(tf.stack(rows, 2), [n, nh * sh, nw * sw, c]); // (N, nh*sh, nw*sw, C)
}

/**
 * Whether tfjs records operations for a gradient right now. Inside a gradient's own
 * computation that means a gradient of that gradient will be taken, and tensors made by `adopt`
 * are not recorded, so gradient code composes tf ops instead of its SIMD passes.
 */
export function recordingGradients(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/**
 * Whether a gradient is being taken inside another's forward pass (tf.grad of a function that
 * calls tf.grad). Replaced forward ops (moments, training batch norm) hand-write a first-order
 * gradient only, so they run tfjs's own ops then.
 */
export function nestedGradients(): boolean {
  return tf.engine().state.gradientDepth > 1;
}
