/**
 * A small seeded generator (sfc32) whose whole state is four integers, so a
 * checkpoint can store it and a resumed run draws the same numbers.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | number[]) {
    if (Array.isArray(seed)) {
      this.s = Uint32Array.from(seed);
    } else {
      this.s = Uint32Array.from([0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0]);
      for (let i = 0; i < 12; i++) this.nextU32();
    }
  }

  /** A generator for one named stream of a seeded run, e.g. (seed, epoch, 'order'). */
  static derive(seed: number, ...parts: (number | string)[]): Rng {
    let h = seed >>> 0;
    for (const p of parts) {
      const text = String(p);
      for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
      h = Math.imul(h ^ 0x2f, 0x01000193) >>> 0;
    }
    return new Rng(h);
  }

  nextU32(): number {
    const s = this.s;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  state(): number[] {
    return Array.from(this.s);
  }

  /** A seeded permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
