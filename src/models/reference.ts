/**
 * The reference networks of design.md §5, layer for layer as in
 * bench/torch_step.py, plus the smaller and larger variants the demo uses.
 * All take NHWC input and end in logits (no softmax).
 */
import { tfl } from '../engine/tf.js';
import { Standardize } from './layers.js';

type SymbolicTensor = ReturnType<ReturnType<typeof tfl.layers.dense>['apply']> & {};
type Sym = Exclude<SymbolicTensor, unknown[]> & { shape: (number | null)[] };

export interface NetOptions {
  inputShape: [number, number, number];
  numClasses: number;
  /** Per-channel mean and std, applied inside the model to [0, 1] pixels. */
  normalize?: { mean: number[]; std: number[] };
}

/** The input and, when the model normalises its own input, the Standardize layer after it. */
function stem(opts: NetOptions): [tfl.SymbolicTensor, Sym] {
  const input = tfl.input({ shape: opts.inputShape, name: 'image' });
  if (!opts.normalize) return [input, input as unknown as Sym];
  const x = new Standardize({ ...opts.normalize, name: 'standardize' }).apply(input) as Sym;
  return [input, x];
}

// PyTorch's BatchNorm2d: momentum 0.1 (Keras counts it the other way), eps 1e-5.
function bn(x: Sym, name: string): Sym {
  return tfl.layers
    .batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name })
    .apply(x) as Sym;
}

function conv(x: Sym, filters: number, kernel: number, stride: number, name: string, bias = false) {
  return tfl.layers
    .conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: bias, name })
    .apply(x) as Sym;
}

function relu(x: Sym, name: string): Sym {
  return tfl.layers.reLU({ name }).apply(x) as Sym;
}

function relu6(x: Sym, name: string): Sym {
  return tfl.layers.reLU({ maxValue: 6, name }).apply(x) as Sym;
}

/** cnn-small: two conv+pool stages and a dense head; `width` scales the channels. */
export function cnn(opts: NetOptions, width = 32, hidden = 128): tfl.LayersModel {
  let [input, x] = stem(opts);
  x = conv(x, width, 3, 1, 'conv1', true);
  x = relu(x, 'relu1');
  x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool1' }).apply(x) as Sym;
  x = conv(x, width * 2, 3, 1, 'conv2', true);
  x = relu(x, 'relu2');
  x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool2' }).apply(x) as Sym;
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as Sym;
  x = tfl.layers.dense({ units: hidden, activation: 'relu', name: 'fc1' }).apply(x) as Sym;
  const logits = tfl.layers.dense({ units: opts.numClasses, name: 'logits' }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits as never });
}

function basicBlock(x: Sym, cout: number, stride: number, name: string): Sym {
  const cin = x.shape[3] as number;
  let y = conv(x, cout, 3, stride, `${name}_conv1`);
  y = relu(bn(y, `${name}_bn1`), `${name}_relu1`);
  y = bn(conv(y, cout, 3, 1, `${name}_conv2`), `${name}_bn2`);
  let shortcut = x;
  if (stride !== 1 || cin !== cout) {
    shortcut = bn(conv(x, cout, 1, stride, `${name}_down`), `${name}_down_bn`);
  }
  const sum = tfl.layers.add({ name: `${name}_add` }).apply([y, shortcut] as never) as Sym;
  return relu(sum, `${name}_out`);
}

/** A stage plan: one basic block per entry, as [output width, stride]. */
export type ResnetPlan = [number, number][];

export const RESNET_MINI: ResnetPlan = [
  [32, 1],
  [32, 1],
  [64, 2],
  [64, 1],
  [128, 2],
  [128, 1],
];

/** resnet-mini: a stem of the first block's width and one basic block per plan entry. */
export function resnet(opts: NetOptions, plan: ResnetPlan = RESNET_MINI) {
  let [input, x] = stem(opts);
  x = relu(bn(conv(x, plan[0][0], 3, 1, 'stem'), 'stem_bn'), 'stem_relu');
  plan.forEach(([cout, stride], i) => (x = basicBlock(x, cout, stride, `block${i + 1}`)));
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as Sym;
  const logits = tfl.layers.dense({ units: opts.numClasses, name: 'logits' }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits as never });
}

function separable(x: Sym, cout: number, stride: number, name: string): Sym {
  x = tfl.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      padding: 'same',
      useBias: false,
      name: `${name}_dw`,
    })
    .apply(x) as Sym;
  x = relu6(bn(x, `${name}_dw_bn`), `${name}_dw_relu`);
  x = conv(x, cout, 1, 1, `${name}_pw`);
  return relu6(bn(x, `${name}_pw_bn`), `${name}_pw_relu`);
}

/** mobilenet-mini: a stem and five depthwise-separable blocks; `scale` multiplies widths. */
export function mobilenet(opts: NetOptions, scale = 1) {
  const w = (n: number) => Math.max(8, Math.round(n * scale));
  let [input, x] = stem(opts);
  x = relu6(bn(conv(x, w(32), 3, 1, 'stem'), 'stem_bn'), 'stem_relu');
  const plan: [number, number][] = [
    [64, 1],
    [128, 2],
    [128, 1],
    [256, 2],
    [256, 1],
  ];
  plan.forEach(([cout, stride], i) => (x = separable(x, w(cout), stride, `block${i + 1}`)));
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as Sym;
  const logits = tfl.layers.dense({ units: opts.numClasses, name: 'logits' }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits as never });
}

/** A multilayer perceptron: a cheap, differently-biased teacher for an ensemble. */
export function mlp(opts: NetOptions, hidden: number[] = [512, 256]) {
  let [input, x] = stem(opts);
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as Sym;
  hidden.forEach((units, i) => {
    x = tfl.layers.dense({ units, activation: 'relu', name: `fc${i + 1}` }).apply(x) as Sym;
  });
  const logits = tfl.layers.dense({ units: opts.numClasses, name: 'logits' }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits as never });
}
