/**
 * Every kernel the project registers for wasm, against the `cpu` backend's kernel of the same
 * name on the same inputs: strides 1 and 2, 'same' and 'valid', odd sizes, batch 1, single
 * channels. Relative error (max abs difference over max abs reference) <= 1e-4.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { wasmKernelNames } from '../../src/engine/kernels/index.js';
import { ADAM_UPDATE } from '../../src/engine/kernels/adam.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { CONV_CHAIN, chainFits, type ChainLinkSpec } from '../../src/engine/native/chain.js';
import { tf } from '../../src/engine/tf.js';

const TOLERANCE = 1e-4;

/** Deterministic uniform values in [lo, hi) (mulberry32), so failures reproduce. */
function values(size: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

type Shape4 = [number, number, number, number];

type Inputs = Record<string, { shape: number[]; data: Float32Array }>;

function random(shape: number[], seed: number, lo = -1, hi = 1) {
  return {
    shape,
    data: values(
      shape.reduce((a, b) => a * b, 1),
      seed,
      lo,
      hi,
    ),
  };
}

/** Runs one kernel on one backend and returns its output values; leaves no tensor behind. */
async function run(backend: string, kernel: string, inputs: Inputs, attrs: object) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape);
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, data: out.dataSync() as Float32Array };
  tf.dispose([out, ...Object.values(ts)]);
  assert.equal(tf.memory().numTensors, before, `${kernel} on ${backend} leaked tensors`);
  return result;
}

async function check(kernel: string, inputs: Inputs, attrs: object) {
  const want = await run('cpu', kernel, inputs, attrs);
  const got = await run('wasm', kernel, inputs, attrs);
  const label = `${kernel} ${JSON.stringify(attrs)} inputs ${JSON.stringify(
    Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])),
  )}`;
  assert.deepEqual(got.shape, want.shape, `${label}: shape`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.data.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - want.data[i]));
    maxRef = Math.max(maxRef, Math.abs(want.data[i]));
  }
  const rel = maxDiff / Math.max(maxRef, 1e-6);
  assert.ok(rel <= TOLERANCE, `${label}: relative error ${rel.toExponential(2)} > ${TOLERANCE}`);
}

/** Output size of a convolution or pooling window along one axis, as tfjs computes it. */
function outSize(size: number, k: number, s: number, pad: string): number {
  return pad === 'same' ? Math.ceil(size / s) : Math.floor((size - k) / s) + 1;
}

// [batch, height, width, in channels, kernel, stride, pad, out channels or multiplier]
type ConvCase = [number, number, number, number, number, number, 'same' | 'valid', number];
const CONV_CASES: ConvCase[] = [
  [2, 7, 7, 3, 3, 1, 'same', 4],
  [2, 7, 7, 3, 3, 2, 'same', 4],
  [1, 9, 6, 2, 3, 2, 'valid', 3],
  [1, 8, 8, 1, 3, 1, 'valid', 5],
  [2, 9, 9, 1, 3, 2, 'same', 2],
  [1, 6, 7, 5, 1, 2, 'same', 3],
  [1, 11, 10, 2, 5, 2, 'same', 1],
  [2, 5, 5, 6, 2, 2, 'valid', 2],
  [1, 10, 8, 8, 3, 1, 'same', 6],
  [2, 5, 7, 3, 1, 1, 'valid', 4],
  // Whole NCHWc blocks (16 channels with AVX-512, 8 with AVX2) and batches of whole blocks, so
  // the native kernels' blocked paths run, not only their fallbacks.
  [16, 7, 7, 16, 3, 1, 'same', 32],
  [16, 9, 8, 32, 3, 2, 'same', 16],
  [3, 6, 6, 16, 1, 1, 'valid', 16],
  [16, 8, 8, 16, 1, 2, 'same', 32],
  [16, 9, 9, 16, 3, 2, 'valid', 16],
  [2, 6, 5, 16, 3, 1, 'same', 24],
  // Stride 1 on 16+ channels where padding adds little: the filter gradient's tap GEMMs.
  [2, 12, 11, 16, 3, 1, 'same', 16],
  [1, 10, 9, 24, 3, 1, 'valid', 8],
  // Padding on one side only (2x2 'same': none above and left), padding of 2 (5x5), and a 7x7
  // image, whose rows and images share their zero padding in the tap GEMMs' grid.
  [2, 10, 9, 16, 2, 1, 'same', 8],
  [1, 12, 11, 16, 5, 1, 'same', 8],
  [3, 7, 7, 32, 3, 1, 'same', 16],
];

before(async () => {
  await initEngine({ backend: 'wasm', threads: 2 });
});

describe('project wasm kernels match cpu', () => {
  test('the kernels checked here are all the kernels the project registers', () => {
    const checked = [
      tf.Conv2D,
      tf.FusedConv2D,
      tf.DepthwiseConv2dNative,
      tf.FusedDepthwiseConv2D,
      tf.FusedBatchNorm,
      tf.Identity,
      tf.Cast,
      tf.Conv2DBackpropInput,
      tf.Conv2DBackpropFilter,
      tf.DepthwiseConv2dNativeBackpropInput,
      tf.DepthwiseConv2dNativeBackpropFilter,
      tf.MaxPoolGrad,
      tf.BatchMatMul,
      tf.OneHot,
      tf.Tile,
      tf.Sum,
      tf.Mean,
      CONV_CHAIN,
      ADAM_UPDATE,
    ];
    assert.deepEqual([...wasmKernelNames()].sort(), [...checked].sort());
  });

  test('Conv2DBackpropInput and Conv2DBackpropFilter', async () => {
    for (const [i, [n, h, w, ci, k, s, pad, co]] of CONV_CASES.entries()) {
      const oh = outSize(h, k, s, pad);
      const ow = outSize(w, k, s, pad);
      const dy = random([n, oh, ow, co], 10 * i + 1);
      const attrs = { strides: [s, s], pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      const filter = random([k, k, ci, co], 10 * i + 2);
      await check(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs, inputShape: [n, h, w, ci] });
      const x = random([n, h, w, ci], 10 * i + 3);
      await check(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: [k, k, ci, co] });
    }
  });

  test('Conv2D and FusedConv2D with bias and linear, ReLU and ReLU6 activations', async () => {
    for (const [i, [n, h, w, ci, k, s, pad, co]] of CONV_CASES.entries()) {
      const x = random([n, h, w, ci], 10 * i + 7, -3, 3);
      const filter = random([k, k, ci, co], 10 * i + 8);
      const attrs = { strides: [s, s], pad, dataFormat: 'NHWC', dilations: [1, 1] };
      await check(tf.Conv2D, { x, filter }, { ...attrs, dimRoundingMode: undefined });
      const bias = random([co], 10 * i + 9);
      const activation = ['linear', 'relu', 'relu6'][i % 3];
      await check(tf.FusedConv2D, { x, filter, bias }, { ...attrs, activation });
    }
  });

  test('DepthwiseConv2dNative and FusedDepthwiseConv2D, multipliers 1 and 2', async () => {
    for (const [i, [n, h, w, c, k, s, pad, mult]] of CONV_CASES.entries()) {
      const m = Math.min(mult, 2);
      const x = random([n, h, w, c], 10 * i + 7, -3, 3);
      const filter = random([k, k, c, m], 10 * i + 8);
      const attrs = { strides: [s, s], pad, dataFormat: 'NHWC', dilations: [1, 1] };
      await check(tf.DepthwiseConv2dNative, { x, filter }, attrs);
      const bias = random([c * m], 10 * i + 9);
      const activation = ['relu6', 'linear', 'relu'][i % 3];
      await check(tf.FusedDepthwiseConv2D, { x, filter, bias }, { ...attrs, activation });
    }
  });

  test('MealConvChain equals its convolutions applied one by one on cpu', async () => {
    // [input shape, links as (depthwise, kernel, stride, pad, out channels, bias, activation)]
    type Link = [
      boolean,
      number,
      number,
      'same' | 'valid',
      number,
      boolean,
      ChainLinkSpec['activation'],
    ];
    const chains: [number[], Link[]][] = [
      // a MobileNet stem and block: a plain input (fewer channels than a block) first
      [
        [3, 9, 9, 3],
        [
          [false, 3, 1, 'same', 16, true, 'relu6'],
          [true, 3, 2, 'same', 16, true, 'relu6'],
          [false, 1, 1, 'valid', 32, true, 'relu'],
          [false, 3, 1, 'valid', 16, false, 'linear'],
        ],
      ],
      // blocked input, odd sizes, output channels not a whole block at the end
      [
        [2, 7, 6, 16],
        [
          [true, 3, 1, 'same', 16, true, 'relu'],
          [false, 3, 2, 'same', 32, true, 'relu6'],
          [false, 1, 1, 'valid', 10, true, 'linear'],
        ],
      ],
    ];
    for (const [c, [xShape, links]] of chains.entries()) {
      const specs: ChainLinkSpec[] = links.map(([depthwise, , s, pad, , bias, activation]) => ({
        depthwise,
        strides: [s, s],
        pad,
        dilations: [1, 1],
        bias,
        activation,
      }));
      const inputs: Inputs = { x: random(xShape, 800 + c, -2, 2) };
      let ch = xShape[3];
      const filterShapes = links.map(([depthwise, k, , , co, bias], i) => {
        const shape = depthwise ? [k, k, ch, 1] : [k, k, ch, co];
        inputs[`w${i}`] = random(shape, 810 + 10 * c + i);
        if (bias) inputs[`b${i}`] = random([depthwise ? ch : co], 830 + 10 * c + i);
        ch = depthwise ? ch : co;
        return shape;
      });
      await tf.setBackend('wasm');
      assert.ok(chainFits(xShape, specs, filterShapes), `chain ${c} should fit the NCHWc blocks`);
      const got = await run('wasm', CONV_CHAIN, inputs, { links: JSON.stringify(specs) });
      await tf.setBackend('cpu');
      const want = tf.tidy(() => {
        let y = tf.tensor4d(inputs.x.data, inputs.x.shape as Shape4);
        specs.forEach((spec, i) => {
          const w = inputs[`w${i}`];
          const b = inputs[`b${i}`];
          const args = {
            ...spec,
            x: y,
            filter: tf.tensor4d(w.data, w.shape as Shape4),
            bias: b ? tf.tensor(b.data, b.shape) : undefined,
          };
          y = spec.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
        });
        return y.dataSync() as Float32Array;
      });
      let maxDiff = 0;
      let maxRef = 0;
      want.forEach((v, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - v));
        maxRef = Math.max(maxRef, Math.abs(v));
      });
      assert.equal(got.data.length, want.length, `chain ${c}: size`);
      assert.ok(maxDiff / maxRef <= TOLERANCE, `chain ${c}: relative error ${maxDiff / maxRef}`);
    }
  });

  test('MealAdamUpdate (the optimizer on wasm) equals the composed Adam on cpu over 5 steps', async () => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor(random([3, 5, 7], 900).data, [3, 5, 7]));
      const b = tf.variable(tf.tensor(random([7], 901).data, [7]));
      const opt = new Optimizer(
        { name: 'adam', momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        [
          { name: 'decayed', variables: [w], lr: 0.01, weightDecay: 0.05 },
          { name: 'plain', variables: [b], lr: 0.003, weightDecay: 0 },
        ],
      );
      const used = new Set<string>();
      for (let step = 0; step < 5; step++) {
        const grads = {
          [w.name]: tf.tensor(random([3, 5, 7], 910 + step, -3, 3).data, [3, 5, 7]),
          [b.name]: tf.tensor(random([7], 920 + step, -1e-3, 1e-3).data, [7]),
        };
        const profile = await tf.profile(() => opt.apply(grads));
        profile.kernels.forEach((k) => used.add(k.name));
        tf.dispose(Object.values(grads));
      }
      const state = opt.getState().slots.flatMap((sl) => [...sl.m, ...(sl.v ?? [])]);
      const out = { w: [...w.dataSync(), ...b.dataSync()], state, used };
      opt.dispose();
      tf.dispose([w, b]);
      return out;
    };
    const want = await run('cpu');
    const got = await run('wasm');
    assert.ok(got.used.has(ADAM_UPDATE) && !want.used.has(ADAM_UPDATE), [...got.used].join(' '));
    for (const key of ['w', 'state'] as const) {
      const scale = Math.max(...want[key].map(Math.abs));
      const err = Math.max(...got[key].map((v, i) => Math.abs(v - want[key][i]))) / scale;
      assert.ok(err <= 1e-5, `${key}: relative error ${err}`);
    }
  });

  test('Identity and Cast share data; the input outlives a disposed output', async () => {
    const x = random([3, 4, 5], 700, -5, 5);
    await check(tf.Identity, { x }, {});
    await check(tf.Cast, { x }, { dtype: 'float32' });
    await tf.setBackend('wasm');
    const a = tf.tensor(x.data, x.shape);
    const b = tf.clone(a);
    const c = tf.cast(a, 'int32');
    b.dispose();
    assert.deepEqual(Array.from(a.dataSync()), Array.from(x.data));
    assert.deepEqual(
      Array.from(c.dataSync()),
      Array.from(x.data, (v) => Math.trunc(v) + 0),
    );
    tf.dispose([a, c]);
  });

  test('FusedBatchNorm with and without scale and offset, 6 and 8 channels', async () => {
    // 8 channels: whole SIMD vectors (simd/affine.ts); 6: the composed path.
    for (const c of [6, 8]) {
      const x = random([4, 5, 3, c], 600 + c, -2, 2);
      const mean = random([c], 601);
      const variance = random([c], 602, 0.1, 2);
      const scale = random([c], 603);
      const offset = random([c], 604);
      const attrs = { varianceEpsilon: 1e-3 };
      await check(tf.FusedBatchNorm, { x, mean, variance, scale, offset }, attrs);
      await check(tf.FusedBatchNorm, { x, mean, variance }, attrs);
    }
  });

  test('DepthwiseConv2dNativeBackpropInput and ...BackpropFilter, multipliers 1 and 2', async () => {
    for (const [i, [n, h, w, c, k, s, pad, mult]] of CONV_CASES.entries()) {
      const m = Math.min(mult, 2);
      const oh = outSize(h, k, s, pad);
      const ow = outSize(w, k, s, pad);
      const dy = random([n, oh, ow, c * m], 10 * i + 4);
      const attrs = { strides: [s, s], dilations: [1, 1], pad, dimRoundingMode: undefined };
      const filter = random([k, k, c, m], 10 * i + 5);
      await check(
        tf.DepthwiseConv2dNativeBackpropInput,
        { dy, filter },
        { ...attrs, inputShape: [n, h, w, c] },
      );
      const x = random([n, h, w, c], 10 * i + 6);
      await check(
        tf.DepthwiseConv2dNativeBackpropFilter,
        { x, dy },
        { ...attrs, filterShape: [k, k, c, m] },
      );
    }
  });

  // [batch, height, width, channels, window, stride, pad]
  const POOL_CASES: [number, number, number, number, number, number, 'same' | 'valid'][] = [
    [2, 8, 8, 3, 2, 2, 'valid'],
    [1, 7, 7, 1, 2, 2, 'same'],
    [1, 7, 9, 2, 2, 2, 'valid'],
    [2, 9, 7, 2, 3, 2, 'same'],
    [1, 6, 6, 1, 3, 1, 'same'],
    [1, 10, 10, 2, 3, 3, 'valid'],
    // 2x2 windows tiling the input with channels in fours: the SIMD kernel's cases
    [2, 8, 6, 4, 2, 2, 'valid'],
    [3, 4, 4, 8, 2, 2, 'same'],
  ];

  async function poolCheck(x: Inputs[string], win: number, s: number, pad: string) {
    const attrs = { filterSize: [win, win], strides: [s, s], pad, dimRoundingMode: undefined };
    await tf.setBackend('cpu');
    const input = tf.tensor(x.data, x.shape);
    const pooled = tf.maxPool(input as tf.Tensor4D, win, s, pad as 'same' | 'valid');
    const output = { shape: pooled.shape, data: pooled.dataSync() as Float32Array };
    const dy = random(pooled.shape, 99);
    tf.dispose([input, pooled]);
    await check(tf.MaxPoolGrad, { dy, input: x, output }, attrs);
  }

  test('MaxPoolGrad on mixed-sign inputs', async () => {
    for (const [i, [n, h, w, c, win, s, pad]] of POOL_CASES.entries()) {
      await poolCheck(random([n, h, w, c], 50 + i), win, s, pad);
    }
  });

  test('MaxPoolGrad where every window maximum is <= 0 (stock wasm gets these wrong)', async () => {
    for (const [i, [n, h, w, c, win, s, pad]] of POOL_CASES.entries()) {
      await poolCheck(random([n, h, w, c], 70 + i, -3, -0.01), win, s, pad);
    }
  });

  test('MaxPoolGrad with ties (ReLU zeros) sends each window gradient to one position', async () => {
    for (const c of [2, 4]) {
      const x = random([2, 8, 8, c], 90);
      x.data.forEach((v, i) => (x.data[i] = Math.max(0, Math.round(v * 2))));
      await poolCheck(x, 2, 2, 'valid');
      await poolCheck(x, 3, 2, 'same');
    }
  });

  test('BatchMatMul, plain and transposed, batched', async () => {
    const shapes: [number[], number[], boolean, boolean][] = [
      [[1, 5, 7], [1, 7, 3], false, false],
      [[1, 7, 5], [1, 7, 3], true, false],
      [[1, 5, 7], [1, 3, 7], false, true],
      [[3, 7, 5], [3, 3, 7], true, true],
      [[2, 33, 17], [2, 33, 9], true, false],
      // a million multiply-adds and more: onnxruntime's Gemm (native kernels), all transposes
      [[1, 96, 131], [1, 131, 90], false, false],
      [[1, 131, 96], [1, 131, 90], true, false],
      [[1, 96, 131], [1, 90, 131], false, true],
      [[1, 131, 96], [1, 90, 131], true, true],
      [[131, 96], [90, 131], true, true], // 2-D, as tfjs passes a dense layer's
    ];
    for (const [i, [a, b, transposeA, transposeB]] of shapes.entries()) {
      const inputs = { a: random(a, 200 + i), b: random(b, 300 + i) };
      await check(tf.BatchMatMul, inputs, { transposeA, transposeB });
    }
  });

  test('Tile: broadcast-like and true repeats, ranks 1 to 4', async () => {
    const cases: [number[], number[]][] = [
      [
        [1, 1, 1, 5],
        [3, 4, 2, 1],
      ],
      [
        [2, 3],
        [2, 3],
      ],
      [
        [3, 1, 2, 1],
        [1, 4, 1, 3],
      ],
      [[7], [5]],
      [
        [2, 2, 3, 2],
        [1, 1, 1, 1],
      ],
    ];
    for (const [i, [shape, reps]] of cases.entries()) {
      await check(tf.Tile, { x: random(shape, 400 + i) }, { reps });
    }
  });

  test('Sum and Mean over leading, middle, trailing and scattered axes', async () => {
    const cases: [number[], number[], boolean][] = [
      [[8, 9, 7, 5], [0, 1, 2], false],
      [[8, 9, 7, 5], [1, 2], true],
      [[8, 9, 7, 5], [3], false],
      [[8, 9, 7, 5], [0, 2], false],
      [[64, 130], [0], false],
      [[33, 17, 9], [0, 1, 2], true],
    ];
    for (const [i, [shape, axis, keepDims]] of cases.entries()) {
      for (const kernel of [tf.Sum, tf.Mean]) {
        await check(kernel, { x: random(shape, 500 + i) }, { axis, keepDims });
      }
    }
  });

  test('OneHot in float32 and int32 (stock wasm writes int bits into float outputs)', async () => {
    for (const dtype of ['float32', 'int32']) {
      const attrs = { depth: 5, onValue: 2, offValue: -1, dtype };
      await tf.setBackend('cpu');
      const want = tf.oneHot(tf.tensor1d([0, 4, 2, 9, 1], 'int32'), 5, 2, -1, dtype as 'float32');
      const wantData = Array.from(want.dataSync());
      want.dispose();
      await tf.setBackend('wasm');
      const indices = tf.tensor1d([0, 4, 2, 9, 1], 'int32');
      const got = tf.engine().runKernel(tf.OneHot, { indices }, attrs) as tf.Tensor;
      assert.deepEqual(Array.from(got.dataSync()), wantData);
      assert.equal(got.dtype, dtype);
      tf.dispose([indices, got]);
    }
  });
});
