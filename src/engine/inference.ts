/**
 * Inference forward passes with each convolution's BatchNorm folded into the convolution's
 * weights and the ReLU after it fused into the same kernel, the way graph converters (TFLite,
 * tfjs-converter, ONNX Runtime) prepare a model for inference.
 *
 * In inference BatchNorm is an affine map per channel with the moving statistics, so for a
 * convolution `z = W * x + b` followed by it:
 *
 *     s  = γ / √(σ² + ε)                 (per output channel)
 *     W' = W · s,   b' = β + (b − μ) · s
 *     BN(W * x + b) = W' * x + b'
 *
 * One kernel (tf.fused.conv2d / depthwiseConv2d with bias and ReLU or ReLU6) then replaces three
 * passes over the activations. The folded weights are recomputed whenever a weight they come
 * from has been assigned since (a variable's data id changes on every assignment), so a student
 * evaluated between epochs is folded once per evaluation, not once per batch.
 *
 * Layers that do not match the pattern run as they are, in inference mode. A model whose graph
 * cannot be walked here (a layer applied twice, say) runs through `model.apply` unchanged.
 */
import { tf, tfl } from './tf.js';
import { CONV_CHAIN, chainFits, type ChainLinkSpec } from './native/chain.js';

type Layer = tfl.layers.Layer;
type Activation = 'linear' | 'relu' | 'relu6';

/** One layer call of the model, with the ids of the symbolic tensors it reads and writes. */
interface Call {
  layer: Layer;
  inputs: number[];
  outputs: number[];
}

/** A convolution with the BatchNorm and the activation that follow it, as one kernel. */
interface FoldedConv {
  conv: Layer;
  bn: Layer | null;
  activation: Activation;
  inputs: number[];
  outputs: number[];
  /** Data ids of the variables the folded weights were made from, and the folded weights. */
  made?: { from: object[]; filter: tf.Tensor4D; bias: tf.Tensor1D | null };
}

/** A layer call, or convolutions each reading only the one before (run as one kernel if it can). */
type Step = { call: Call } | { convs: FoldedConv[]; fits?: Map<string, boolean> };

const CONVS = new Set(['Conv2D', 'DepthwiseConv2D']);

function config(layer: Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

/** The variable of `layer` whose name ends in `/suffix`, if it has one. */
function weight(layer: Layer, suffix: string): tf.Variable | null {
  const w = layer.weights.find((v) => v.originalName.endsWith(`/${suffix}`));
  return w ? (w.read() as tf.Variable) : null;
}

function activationName(a: unknown): string {
  if (typeof a === 'string') return a;
  return (a as { getClassName?: () => string } | null)?.getClassName?.().toLowerCase() ?? '';
}

/** The activation `layer` applies if it is nothing but a ReLU or ReLU6, else null. */
function reluOf(layer: Layer): Activation | null {
  const c = config(layer);
  if (layer.getClassName() === 'ReLU') {
    if (c.maxValue == null) return 'relu';
    return c.maxValue === 6 ? 'relu6' : null;
  }
  if (layer.getClassName() === 'Activation') {
    const a = activationName(c.activation);
    return a === 'relu' || a === 'relu6' ? a : null;
  }
  return null;
}

function isChannelsLastConv(layer: Layer): boolean {
  const c = config(layer);
  return (
    CONVS.has(layer.getClassName()) &&
    (c.dataFormat ?? 'channelsLast') === 'channelsLast' &&
    activationName(c.activation ?? 'linear') === 'linear' &&
    (c.padding === 'same' || c.padding === 'valid')
  );
}

function isChannelsLastBatchNorm(layer: Layer): boolean {
  const c = config(layer);
  return layer.getClassName() === 'BatchNormalization' && (c.axis === -1 || c.axis === 3);
}

/** The model's layer calls in an order where each call's inputs are computed before it. */
function calls(model: tfl.LayersModel): Call[] | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const known = new Set(model.inputs.map((t) => t.id));
  const out: Call[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const nodes = layer.inboundNodes.filter((n) => n.inputTensors.every((t) => known.has(t.id)));
    if (nodes.length !== 1) return null;
    const node = nodes[0];
    node.outputTensors.forEach((t) => known.add(t.id));
    out.push({
      layer,
      inputs: node.inputTensors.map((t) => t.id),
      outputs: node.outputTensors.map((t) => t.id),
    });
  }
  return model.outputs.every((t) => known.has(t.id)) ? out : null;
}

/** Merges each convolution with the BatchNorm and ReLU that alone read its output. */
function plan(model: tfl.LayersModel, all: Call[]): Step[] {
  const readers = new Map<number, Call[]>();
  for (const c of all) for (const id of c.inputs) readers.set(id, [...(readers.get(id) ?? []), c]);
  const modelOutputs = new Set(model.outputs.map((t) => t.id));
  /** The one call that reads `c`'s one output, if the model does not also return it. */
  const soleReader = (c: Call): Call | null => {
    if (c.outputs.length !== 1 || modelOutputs.has(c.outputs[0])) return null;
    const r = readers.get(c.outputs[0]) ?? [];
    return r.length === 1 && r[0].inputs.length === 1 ? r[0] : null;
  };

  const merged = new Set<Call>();
  const steps: Step[] = [];
  for (const c of all) {
    if (merged.has(c)) continue;
    if (!isChannelsLastConv(c.layer)) {
      steps.push({ call: c });
      continue;
    }
    let last = c;
    let bn: Layer | null = null;
    let next = soleReader(last);
    if (next && isChannelsLastBatchNorm(next.layer)) {
      bn = next.layer;
      merged.add(next);
      last = next;
      next = soleReader(last);
    }
    let activation: Activation = 'linear';
    const relu = next ? reluOf(next.layer) : null;
    if (next && relu) {
      activation = relu;
      merged.add(next);
      last = next;
    }
    const folded = { conv: c.layer, bn, activation, inputs: c.inputs, outputs: last.outputs };
    const prev = steps[steps.length - 1];
    if (prev && 'convs' in prev) {
      const before = prev.convs[prev.convs.length - 1];
      const r = readers.get(before.outputs[0]) ?? [];
      if (before.outputs[0] === c.inputs[0] && r.length === 1 && !modelOutputs.has(c.inputs[0])) {
        prev.convs.push(folded);
        continue;
      }
    }
    steps.push({ convs: [folded] });
  }
  return steps;
}

/** The filter and bias of `f` with its BatchNorm folded in, remade when a source has changed. */
function foldedWeights(f: FoldedConv): { filter: tf.Tensor4D; bias: tf.Tensor1D | null } {
  const kernel = (weight(f.conv, 'kernel') ?? weight(f.conv, 'depthwise_kernel')) as tf.Tensor4D;
  const bias = weight(f.conv, 'bias') as tf.Tensor1D | null;
  if (!f.bn) return { filter: kernel, bias };
  const gamma = weight(f.bn, 'gamma');
  const beta = weight(f.bn, 'beta');
  const mean = weight(f.bn, 'moving_mean') as tf.Tensor1D;
  const variance = weight(f.bn, 'moving_variance') as tf.Tensor1D;
  const sources = [kernel, bias, gamma, beta, mean, variance].map((t) => t?.dataId ?? null);
  const made = f.made;
  if (made && made.from.every((id, i) => id === sources[i])) return made;
  const epsilon = config(f.bn).epsilon as number;
  const [filter, folded] = tf.tidy(() => {
    let s = tf.rsqrt(tf.add(variance, epsilon));
    if (gamma) s = tf.mul(s, gamma);
    // Output channel k of a depthwise filter (kh, kw, C, M) is (c, m) with k = c·M + m.
    const scale =
      f.conv.getClassName() === 'DepthwiseConv2D' ? tf.reshape(s, kernel.shape.slice(2)) : s;
    let b = tf.mul(bias ? tf.sub(bias, mean) : tf.neg(mean), s);
    if (beta) b = tf.add(b, beta);
    // Kept: a forward pass's tidy would otherwise free them with its activations.
    return [tf.keep(tf.mul(kernel, scale) as tf.Tensor4D), tf.keep(b as tf.Tensor1D)];
  });
  if (made) tf.dispose([made.filter, made.bias as tf.Tensor1D]);
  f.made = { from: sources as object[], filter, bias: folded };
  return f.made;
}

function linkSpec(f: FoldedConv, bias: boolean): ChainLinkSpec {
  const c = config(f.conv);
  return {
    depthwise: f.conv.getClassName() === 'DepthwiseConv2D',
    strides: c.strides as [number, number],
    pad: c.padding as 'same' | 'valid',
    dilations: c.dilationRate as [number, number],
    bias,
    activation: f.activation,
  };
}

function runFolded(f: FoldedConv, x: tf.Tensor4D): tf.Tensor4D {
  const { filter, bias } = foldedWeights(f);
  const spec = linkSpec(f, bias !== null);
  const args = { ...spec, x, filter, dataFormat: 'NHWC' as const, bias: bias ?? undefined };
  return spec.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
}

/** Convolutions one after another: one native kernel where the backend has it and they fit. */
function runConvs(step: Extract<Step, { convs: FoldedConv[] }>, x: tf.Tensor4D): tf.Tensor4D {
  const weights = step.convs.map(foldedWeights);
  const specs = step.convs.map((f, i) => linkSpec(f, weights[i].bias !== null));
  const key = `${tf.getBackend()} ${x.shape.join('x')}`;
  step.fits ??= new Map();
  let fits = step.fits.get(key);
  if (fits === undefined) {
    fits =
      tf.getKernel(CONV_CHAIN, tf.getBackend()) !== undefined &&
      chainFits(
        x.shape,
        specs,
        weights.map((w) => w.filter.shape),
      );
    step.fits.set(key, fits);
  }
  if (fits) {
    const inputs: Record<string, tf.Tensor> = { x };
    weights.forEach((w, i) => {
      inputs[`w${i}`] = w.filter;
      if (w.bias) inputs[`b${i}`] = w.bias;
    });
    try {
      const attrs = { links: JSON.stringify(specs) };
      return tf.engine().runKernel(CONV_CHAIN, inputs, attrs) as tf.Tensor4D;
    } catch (e) {
      // An evaluation must not end a run: the same convolutions one by one give the same result.
      step.fits.set(key, false);
      process.emitWarning(`chained convolutions failed (${(e as Error).message}); unchained now`);
    }
  }
  return step.convs.reduce((y, f) => runFolded(f, y), x);
}

/** A model's inference forward pass with BatchNorm and ReLU folded into its convolutions. */
export class InferenceModel {
  private steps: Step[] | null;

  constructor(readonly model: tfl.LayersModel) {
    const all = calls(model);
    this.steps = all ? plan(model, all) : null;
  }

  private get folded(): FoldedConv[] {
    return (this.steps ?? []).flatMap((s) => ('convs' in s ? s.convs : []));
  }

  /** How many convolutions run with a folded BatchNorm (0 when the model runs unchanged). */
  get foldedBatchNorms(): number {
    return this.folded.filter((f) => f.bn).length;
  }

  /** Logits (or whatever the model returns) for `x`; the caller disposes them. */
  predict(x: tf.Tensor): tf.Tensor {
    const steps = this.steps;
    const plain = () => tf.tidy(() => this.model.apply(x, { training: false }) as tf.Tensor);
    if (!steps) return plain();
    try {
      return tf.tidy(() => this.walk(steps, x));
    } catch (e) {
      // A model this walk mishandles must still evaluate: as it is, from now on.
      this.dispose();
      this.steps = null;
      process.emitWarning(
        `inference without folding for ${this.model.name} (${(e as Error).message})`,
      );
      return plain();
    }
  }

  private walk(steps: Step[], x: tf.Tensor): tf.Tensor {
    const values = new Map<number, tf.Tensor>([[this.model.inputs[0].id, x]]);
    for (const step of steps) {
      if ('convs' in step) {
        const { inputs } = step.convs[0];
        const { outputs } = step.convs[step.convs.length - 1];
        values.set(outputs[0], runConvs(step, values.get(inputs[0]) as tf.Tensor4D));
        continue;
      }
      const { layer, inputs, outputs } = step.call;
      const ins = inputs.map((id) => values.get(id) as tf.Tensor);
      const out = layer.apply(ins.length === 1 ? ins[0] : ins, { training: false });
      const outs = Array.isArray(out) ? out : [out];
      outputs.forEach((id, i) => values.set(id, outs[i] as tf.Tensor));
    }
    return values.get(this.model.outputs[0].id) as tf.Tensor;
  }

  /** Frees the folded weights (the model itself stays with its owner). */
  dispose(): void {
    for (const f of this.folded) {
      if (!f.made) continue;
      tf.dispose([f.made.filter, f.made.bias as tf.Tensor1D]);
      f.made = undefined;
    }
  }
}
