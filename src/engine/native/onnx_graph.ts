/**
 * A writer for the small ONNX graphs the native kernels run: one convolution, its gradients,
 * a few transposes. Only the parts of the protobuf schema (onnx.proto, IR version 8) that such
 * graphs use: nodes with int and int-list attributes, float32 inputs and outputs whose leading
 * dimension may be symbolic, and int64 constants.
 */

export type Dim = number | string;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** ints and strings; float lists go in `floatAttrs` (an ONNX attribute has one type). */
  attrs?: Record<string, number | number[] | string>;
  floatAttrs?: Record<string, number[]>;
  /** '' (the default) is the ONNX operator set; onnxruntime's NCHWc kernels live elsewhere. */
  domain?: string;
}

export interface OnnxGraph {
  inputs: { name: string; shape: Dim[] }[];
  /** float32 unless `elemType` (an ONNX TensorProto.DataType) says otherwise. */
  outputs: { name: string; shape: Dim[]; elemType?: number }[];
  nodes: OnnxNode[];
  /** int64 constants (shapes for Reshape, axes for ReduceSum), by name. */
  int64s?: Record<string, number[]>;
  /** float32 scalar constants (the bounds of Clip), by name. */
  floats?: Record<string, number>;
}

const OPSET = 17;
const IR_VERSION = 8;
const FLOAT = 1;
/** TensorProto.DataType of bfloat16 (native/session.ts gives every graph one such output). */
export const BFLOAT16 = 16;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;
/** Every extra operator domain a graph may use, with the version it is written against. */
const DOMAINS: Record<string, number> = { 'com.microsoft.nchwc': 1, 'com.microsoft': 1 };

class Writer {
  private bytes: number[] = [];

  varint(value: number | bigint): this {
    // int64 fields: negative values are ten-byte two's complement.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }

  bytesField(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  fixed32(value: number): this {
    for (const b of new Uint8Array(Float32Array.of(value).buffer)) this.bytes.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function valueInfo(w: Writer, name: string, shape: Dim[], elemType = FLOAT): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, elemType);
      tensor.message(2, (s) => {
        for (const d of shape) {
          s.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function node(w: Writer, n: OnnxNode, index: number): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      if (typeof value === 'string') {
        a.string(4, value);
        a.int(20, ATTR_STRING);
      } else if (Array.isArray(value)) {
        for (const v of value) a.int(8, v);
        a.int(20, ATTR_INTS);
      } else {
        a.int(3, value);
        a.int(20, ATTR_INT);
      }
    });
  }
  for (const [name, values] of Object.entries(n.floatAttrs ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      for (const v of values) a.tag(7, 5).fixed32(v);
      a.int(20, ATTR_FLOATS);
    });
  }
  if (n.domain) w.string(7, n.domain);
}

function int64Tensor(w: Writer, name: string, values: number[]): void {
  w.int(1, values.length);
  w.int(2, INT64);
  w.string(8, name);
  for (const v of values) w.int(7, v);
}

function floatScalar(w: Writer, name: string, value: number): void {
  w.int(2, FLOAT);
  w.string(8, name);
  w.bytesField(9, new Uint8Array(Float32Array.of(value).buffer));
}

/** The serialised ModelProto, ready for an InferenceSession. */
export function encodeModel(graph: OnnxGraph): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.message(8, (op) => op.string(1, '').int(2, OPSET));
  const used = new Set(graph.nodes.map((n) => n.domain ?? ''));
  for (const [domain, version] of Object.entries(DOMAINS)) {
    if (used.has(domain)) w.message(8, (op) => op.string(1, domain).int(2, version));
  }
  w.message(7, (g) => {
    graph.nodes.forEach((n, i) => g.message(1, (m) => node(m, n, i)));
    g.string(2, 'meal_kernel');
    for (const [name, values] of Object.entries(graph.int64s ?? {})) {
      g.message(5, (t) => int64Tensor(t, name, values));
    }
    for (const [name, value] of Object.entries(graph.floats ?? {})) {
      g.message(5, (t) => floatScalar(t, name, value));
    }
    for (const i of graph.inputs) g.message(11, (v) => valueInfo(v, i.name, i.shape));
    for (const o of graph.outputs) {
      g.message(12, (v) => valueInfo(v, o.name, o.shape, o.elemType));
    }
  });
  return w.finish();
}
