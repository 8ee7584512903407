/**
 * One Adam update (kernels/adam.ts) four floats at a time: w, m, v and g read once, w', m' and
 * v' written once, in float32 (the scalar loop there rounds from double: the two differ in the
 * last bits).
 */
import { Body } from './assembler.js';

const SCALARS = ['lr', 'beta1', 'c1', 'beta2', 'c2', 'invBias2', 'epsilon', 'weightDecay'];

/**
 * (w, m, v, g, w2, m2, v2, vecs, then as float bits lr, beta1, 1 − beta1, beta2, 1 − beta2,
 * 1 / bias2, epsilon, weightDecay):
 *   d = g + weightDecay w,  m2 = beta1 m + (1 − beta1) d,  v2 = beta2 v + (1 − beta2) d²,
 *   w2 = w − lr m2 / (√(v2 / bias2) + epsilon)
 */
export function adamBody(): Body {
  const b = new Body(['w', 'm', 'v', 'g', 'w2', 'm2', 'v2', 'vecs', ...SCALARS]);
  for (const s of SCALARS) b.local(`${s}V`, 'v128');
  b.local('wv', 'v128').local('d', 'v128').local('mv', 'v128').local('vv', 'v128');
  for (const s of SCALARS) b.get(s).op('f32.reinterpret_i32').op('f32x4.splat').set(`${s}V`);
  b.repeat('vecs', () => {
    b.get('w').op('v128.load').set('wv');
    b.get('g').op('v128.load').get('weightDecayV').get('wv').op('f32x4.mul').op('f32x4.add');
    b.set('d');
    b.get('beta1V').get('m').op('v128.load').op('f32x4.mul');
    b.get('c1V').get('d').op('f32x4.mul').op('f32x4.add').set('mv');
    b.get('beta2V').get('v').op('v128.load').op('f32x4.mul');
    b.get('c2V').get('d').op('f32x4.mul').get('d').op('f32x4.mul').op('f32x4.add').set('vv');
    b.get('m2').get('mv').op('v128.store');
    b.get('v2').get('vv').op('v128.store');
    b.get('w2').get('wv');
    b.get('lrV').get('mv').op('f32x4.mul');
    b.get('vv').get('invBias2V').op('f32x4.mul').op('f32x4.sqrt').get('epsilonV').op('f32x4.add');
    b.op('f32x4.div').op('f32x4.sub').op('v128.store');
    for (const p of ['w', 'm', 'v', 'g', 'w2', 'm2', 'v2']) b.add(p, 16);
  });
  return b;
}
