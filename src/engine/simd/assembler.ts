/**
 * A small WebAssembly assembler for the few SIMD loops the project writes by hand: one module
 * per kernel, importing the wasm backend's own memory, so that a kernel reads and writes
 * tensors where they lie. Only what those loops use: i32 arithmetic, blocks, loops, branches,
 * 128-bit loads, stores, compares and bitwise ops. Functions take i32 byte addresses.
 */

const I32 = 0x7f;
const V128 = 0x7b;
export type ValType = 'i32' | 'v128';

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

const SIMD: Record<string, number> = {
  'v128.load': 0x00,
  'v128.store': 0x0b,
  'f32x4.splat': 0x13,
  'f32x4.eq': 0x41,
  'f32x4.gt': 0x44,
  'f32x4.le': 0x45,
  'f32x4.ge': 0x46,
  'v128.and': 0x4e,
  'v128.andnot': 0x4f,
  'v128.or': 0x50,
  'f32x4.add': 0xe4,
  'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6,
  'f32x4.div': 0xe7,
  'f32x4.sqrt': 0xe3,
};

const PLAIN: Record<string, number> = {
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'f32.reinterpret_i32': 0xbe,
};

/** Builds one function body; locals are named, parameters first. */
export class Body {
  readonly code: number[] = [];
  private readonly index = new Map<string, number>();
  readonly locals: ValType[] = [];

  constructor(readonly params: string[]) {
    params.forEach((p, i) => this.index.set(p, i));
  }

  local(name: string, type: ValType): this {
    this.index.set(name, this.params.length + this.locals.length);
    this.locals.push(type);
    return this;
  }

  private at(name: string): number[] {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`assembler: unknown local ${name}`);
    return uleb(i);
  }

  get(name: string): this {
    this.code.push(0x20, ...this.at(name));
    return this;
  }

  set(name: string): this {
    this.code.push(0x21, ...this.at(name));
    return this;
  }

  i32(value: number): this {
    this.code.push(0x41, ...sleb(value | 0));
    return this;
  }

  op(name: string): this {
    if (name in PLAIN) this.code.push(PLAIN[name]);
    else if (name in SIMD) this.code.push(0xfd, ...uleb(SIMD[name]));
    else throw new Error(`assembler: unknown instruction ${name}`);
    if (name === 'v128.load' || name === 'v128.store') this.code.push(0, 0); // align 1, offset 0
    return this;
  }

  /** `local += step` for an i32 local. */
  add(name: string, step: string | number): this {
    this.get(name);
    if (typeof step === 'number') this.i32(step);
    else this.get(step);
    return this.op('i32.add').set(name);
  }

  /** do { body } while (--counter != 0): `counter` must start above zero. */
  repeat(counter: string, body: () => void): this {
    this.code.push(0x03, 0x40); // loop
    body();
    this.get(counter).i32(1).op('i32.sub').set(counter);
    this.get(counter).code.push(0x0d, 0); // br_if 0: back to the loop start while non-zero
    this.code.push(0x0b);
    return this;
  }
}

/** A module exporting `functions`, each (i32 params) -> (), with the memory imported. */
export function assemble(
  memory: WebAssembly.Memory,
  functions: Record<string, Body>,
): WebAssembly.Instance {
  const names = Object.keys(functions);
  const bodies = names.map((n) => functions[n]);
  const shared =
    typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  // A shared memory must be imported with a maximum; 65536 pages (4 GiB) admits any.
  const limits = shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const types = bodies.map((b) => [0x60, ...vec(b.params.map(() => [I32])), 0]);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]])),
    ...section(3, vec(bodies.map((_, i) => uleb(i)))),
    ...section(7, vec(names.map((n, i) => [...name(n), 0x00, ...uleb(i)]))),
    ...section(
      10,
      vec(
        bodies.map((b) => {
          const locals = vec(b.locals.map((t) => [1, t === 'i32' ? I32 : V128]));
          const body = [...locals, ...b.code, 0x0b];
          return [...uleb(body.length), ...body];
        }),
      ),
    ),
  ];
  const module = new WebAssembly.Module(Uint8Array.from(bytes));
  return new WebAssembly.Instance(module, { env: { memory } });
}
