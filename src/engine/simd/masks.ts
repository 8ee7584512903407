/**
 * Gradients that pass dy where a condition on x holds and 0 elsewhere, as one SIMD pass:
 * ReLU (x > 0) and ClipByValue (lo <= x <= hi, ReLU6's second half). Composed from stock
 * kernels they take two (ReLU: step, multiply) to seven passes (clip). A NaN in x gives 0, as
 * tfjs's own ClipByValue gradient does.
 */
import { Body } from './assembler.js';

/** (x, dy, dx, vecs): dx = x > 0 ? dy : 0, four floats at a time. */
export function reluGradBody(): Body {
  const b = new Body(['x', 'dy', 'dx', 'vecs']);
  b.local('zero', 'v128');
  b.i32(0).op('f32.reinterpret_i32').op('f32x4.splat').set('zero');
  b.repeat('vecs', () => {
    b.get('dx');
    b.get('dy').op('v128.load');
    b.get('x').op('v128.load').get('zero').op('f32x4.gt');
    b.op('v128.and').op('v128.store');
    b.add('x', 16).add('dy', 16).add('dx', 16);
  });
  return b;
}

/** (x, dy, dx, vecs, lo, hi as float bits): dx = lo <= x <= hi ? dy : 0. */
export function clipGradBody(): Body {
  const b = new Body(['x', 'dy', 'dx', 'vecs', 'lo', 'hi']);
  b.local('lov', 'v128').local('hiv', 'v128').local('xv', 'v128');
  b.get('lo').op('f32.reinterpret_i32').op('f32x4.splat').set('lov');
  b.get('hi').op('f32.reinterpret_i32').op('f32x4.splat').set('hiv');
  b.repeat('vecs', () => {
    b.get('x').op('v128.load').set('xv');
    b.get('dx');
    b.get('dy').op('v128.load');
    b.get('xv').get('lov').op('f32x4.ge');
    b.op('v128.and');
    b.get('xv').get('hiv').op('f32x4.le');
    b.op('v128.and').op('v128.store');
    b.add('x', 16).add('dy', 16).add('dx', 16);
  });
  return b;
}
