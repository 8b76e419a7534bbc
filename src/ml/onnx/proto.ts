/**
 * The few ONNX protobuf messages the exporter writes (onnx.proto3: ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto), encoded by hand: a writer for this
 * subset is ~100 lines and spares a protobuf runtime plus generated code in the bundle.
 * Field numbers are onnx.proto's; onnxruntime validates the result when it loads it.
 */

export const DataType = { FLOAT: 1, INT64: 7 } as const;

export interface TensorInit {
  name: string;
  dims: number[];
  /** FLOAT tensors (raw little-endian data). */
  data?: Float32Array;
  /** INT64 tensors. */
  int64?: number[];
}

export type AttrValue = { f: number } | { i: number } | { s: string } | { ints: number[] };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, AttrValue>;
}

/** A graph input or output: float32 with fixed (number) or symbolic (string) dims. */
export interface ValueSpec {
  name: string;
  dims: (number | string)[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorInit[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
}

class Writer {
  private chunks: number[] = [];
  private big: Uint8Array[] = [];
  private bigAt: number[] = [];

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.chunks.push(...b);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    // Large payloads (weights) are kept as views and spliced in at the end instead of copied per byte.
    if (b.length > 256) {
      this.bigAt.push(this.chunks.length);
      this.big.push(b);
    } else for (let i = 0; i < b.length; i++) this.chunks.push(b[i]);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const total = this.chunks.length + this.big.reduce((a, b) => a + b.length, 0);
    const out = new Uint8Array(total);
    let src = 0;
    let dst = 0;
    this.big.forEach((b, k) => {
      const upTo = this.bigAt[k];
      out.set(this.chunks.slice(src, upTo), dst);
      dst += upTo - src;
      src = upTo;
      out.set(b, dst);
      dst += b.length;
    });
    out.set(this.chunks.slice(src), dst);
    return out;
  }
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.int(1, d);
  if (t.int64) {
    w.int(2, DataType.INT64);
    const raw = new Uint8Array(8 * t.int64.length);
    const dv = new DataView(raw.buffer);
    t.int64.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
    w.string(8, t.name);
    w.bytes(9, raw);
    return;
  }
  if (!t.data) throw new Error(`ONNX initializer '${t.name}' has no data.`);
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== size) throw new Error(`ONNX initializer '${t.name}': ${t.data.length} values for dims [${t.dims}].`);
  w.int(2, DataType.FLOAT);
  w.string(8, t.name);
  // raw_data is little-endian; so is every platform onnxruntime-node ships for.
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function writeValueInfo(w: Writer, v: ValueSpec): void {
  w.string(1, v.name);
  w.message(2, (type) => type.message(1, (tensor) => {
    tensor.int(1, DataType.FLOAT);
    tensor.message(2, (shape) => {
      for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
    });
  }));
}

function writeAttr(w: Writer, name: string, v: AttrValue): void {
  w.string(1, name);
  if ('f' in v) {
    w.float(2, v.f);
    w.int(20, 1);
  } else if ('i' in v) {
    w.int(3, v.i);
    w.int(20, 2);
  } else if ('s' in v) {
    w.string(4, v.s);
    w.int(20, 3);
  } else {
    for (const x of v.ints) w.int(8, x);
    w.int(20, 7);
  }
}

/** Serialises a ModelProto (IR version 8, default-domain opset `opset`). */
export function encodeModel(graph: GraphSpec, opset = 17, producer = 'backlit-studio'): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, producer);
  w.message(7, (g) => {
    for (const n of graph.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        if (n.name) nw.string(3, n.name);
        nw.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (aw) => writeAttr(aw, k, v));
      });
    }
    g.string(2, graph.name);
    for (const t of graph.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, opset);
  });
  return w.finish();
}
