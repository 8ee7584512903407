/**
 * y = x * k + b with k and b per channel (the last axis): BatchNorm's forward once its
 * statistics are folded into k and b. One SIMD pass; stock wasm needs a multiply and an add,
 * each a full pass.
 */
import { Body } from './assembler.js';

/** (x, y, k, b, pixels, vecs = C / 4) */
export function channelAffineBody(): Body {
  const b = new Body(['x', 'y', 'k', 'b', 'pixels', 'vecs']);
  b.local('kp', 'i32').local('bp', 'i32').local('j', 'i32');
  b.repeat('pixels', () => {
    b.get('k').set('kp');
    b.get('b').set('bp');
    b.get('vecs').set('j');
    b.repeat('j', () => {
      b.get('y');
      b.get('x').op('v128.load').get('kp').op('v128.load').op('f32x4.mul');
      b.get('bp').op('v128.load').op('f32x4.add');
      b.op('v128.store');
      b.add('x', 16).add('y', 16).add('kp', 16).add('bp', 16);
    });
  });
  return b;
}

/**
 * y = g * k + x * a + b with k, a and b per channel: BatchNorm's whole input gradient in one
 * pass once its sums are known (gradients/batch_norm_training.ts).
 */
export function channelAffine2Body(): Body {
  const b = new Body(['g', 'x', 'y', 'k', 'a', 'b', 'pixels', 'vecs']);
  b.local('kp', 'i32').local('ap', 'i32').local('bp', 'i32').local('j', 'i32');
  b.repeat('pixels', () => {
    b.get('k').set('kp');
    b.get('a').set('ap');
    b.get('b').set('bp');
    b.get('vecs').set('j');
    b.repeat('j', () => {
      b.get('y');
      b.get('g').op('v128.load').get('kp').op('v128.load').op('f32x4.mul');
      b.get('x').op('v128.load').get('ap').op('v128.load').op('f32x4.mul');
      b.op('f32x4.add');
      b.get('bp').op('v128.load').op('f32x4.add');
      b.op('v128.store');
      b.add('g', 16).add('x', 16).add('y', 16).add('kp', 16).add('ap', 16).add('bp', 16);
    });
  });
  return b;
}
