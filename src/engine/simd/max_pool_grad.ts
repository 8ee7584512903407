/**
 * The 2x2, stride-2 max-pool gradient where the windows tile the input (cnn-small's pooling) as
 * a SIMD loop over four channels at a time: each window sends its gradient to the first of its
 * four positions that equals the forward maximum (row-major, as the cpu backend and PyTorch
 * do), and the other positions get zero. One pass over x, dx, y and dy.
 *
 * In JavaScript the same loop took 20 ms on [128, 28, 28, 32] (it cannot use SIMD).
 */
import { Body } from './assembler.js';

/** (x, y, dy, dx, rows = N * OH, ow, c4 = C * 4, vecs = C / 4, rowBytes = one input row) */
export function maxPool2x2GradBody(): Body {
  const b = new Body(['x', 'y', 'dy', 'dx', 'rows', 'ow', 'c4', 'vecs', 'rowBytes']);
  for (const l of ['p', 'q', 'd', 'r', 'o', 'k']) b.local(l, 'i32');
  for (const l of ['yv', 'g', 'm', 'used']) b.local(l, 'v128');

  // The four taps, as byte offsets from p: (0, 0), (0, 1), (1, 0), (1, 1).
  const taps: ((b: Body) => void)[] = [
    () => {},
    (b) => b.get('c4').op('i32.add'),
    (b) => b.get('rowBytes').op('i32.add'),
    (b) => b.get('rowBytes').op('i32.add').get('c4').op('i32.add'),
  ];

  b.get('dx').get('x').op('i32.sub').set('d');
  b.get('x').set('p');
  b.i32(0).set('q');
  b.get('rows').set('r');
  b.repeat('r', () => {
    b.get('ow').set('o');
    b.repeat('o', () => {
      b.get('vecs').set('k');
      b.repeat('k', () => {
        b.get('y').get('q').op('i32.add').op('v128.load').set('yv');
        b.get('dy').get('q').op('i32.add').op('v128.load').set('g');
        taps.forEach((offset, t) => {
          // m = (x at tap == max) and not already taken
          b.get('p');
          offset(b);
          b.op('v128.load').get('yv').op('f32x4.eq');
          if (t > 0) b.get('used').op('v128.andnot');
          b.set('m');
          if (t === 0) b.get('m').set('used');
          else b.get('used').get('m').op('v128.or').set('used');
          // dx at tap = m ? g : 0
          b.get('p');
          offset(b);
          b.get('d').op('i32.add');
          b.get('g').get('m').op('v128.and').op('v128.store');
        });
        b.add('p', 16).add('q', 16);
      });
      b.add('p', 'c4');
    });
    b.add('p', 'rowBytes');
  });
  return b;
}
