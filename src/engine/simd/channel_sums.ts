/**
 * Per-channel sums of g and of g * (x - m) over every pixel, in one SIMD pass over g and x:
 * BatchNorm's gradient needs both (fused_batch_norm.ts), which stock kernels get from a
 * subtract, a multiply and two reductions. The sums accumulate into two C-float buffers in
 * memory (L1-resident), one chunk of pixels per call; the caller adds the chunks in float64.
 */
import { Body } from './assembler.js';

/** (g, x, m, s1, s2, pixels, vecs = C / 4): s1 += g, s2 += g * (x - m), pixel by pixel. */
export function channelSumsBody(): Body {
  const b = new Body(['g', 'x', 'm', 's1', 's2', 'pixels', 'vecs']);
  b.local('mp', 'i32').local('p1', 'i32').local('p2', 'i32').local('j', 'i32');
  b.local('gv', 'v128');
  b.repeat('pixels', () => {
    b.get('m').set('mp');
    b.get('s1').set('p1');
    b.get('s2').set('p2');
    b.get('vecs').set('j');
    b.repeat('j', () => {
      b.get('g').op('v128.load').set('gv');
      b.get('p1');
      b.get('p1').op('v128.load').get('gv').op('f32x4.add');
      b.op('v128.store');
      b.get('p2');
      b.get('p2').op('v128.load');
      b.get('x').op('v128.load').get('mp').op('v128.load').op('f32x4.sub');
      b.get('gv').op('f32x4.mul').op('f32x4.add');
      b.op('v128.store');
      b.add('g', 16).add('x', 16).add('mp', 16).add('p1', 16).add('p2', 16);
    });
  });
  return b;
}

/** (x, k, s1, s2, pixels, vecs): s1 += x - k, s2 += (x - k)^2, for moments around a shift k. */
export function shiftedSumsBody(): Body {
  const b = new Body(['x', 'k', 's1', 's2', 'pixels', 'vecs']);
  b.local('kp', 'i32').local('p1', 'i32').local('p2', 'i32').local('j', 'i32');
  b.local('d', 'v128');
  b.repeat('pixels', () => {
    b.get('k').set('kp');
    b.get('s1').set('p1');
    b.get('s2').set('p2');
    b.get('vecs').set('j');
    b.repeat('j', () => {
      b.get('x').op('v128.load').get('kp').op('v128.load').op('f32x4.sub').set('d');
      b.get('p1');
      b.get('p1').op('v128.load').get('d').op('f32x4.add');
      b.op('v128.store');
      b.get('p2');
      b.get('p2').op('v128.load').get('d').get('d').op('f32x4.mul').op('f32x4.add');
      b.op('v128.store');
      b.add('x', 16).add('kp', 16).add('p1', 16).add('p2', 16);
    });
  });
  return b;
}
