// A minimal protobuf writer for the few ONNX messages a one-node model needs (onnx/onnx.proto3), so the
// benchmark can build its onnxruntime model in memory without an ONNX toolchain. Field numbers:
//   ModelProto      ir_version 1 (int64), producer_name 2, graph 7, opset_import 8
//   OperatorSetId   domain 1, version 2
//   GraphProto      node 1, name 2, input 11, output 12
//   NodeProto       input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto  name 1, f 2 (float), i 3 (int64), s 4 (bytes), type 20 (FLOAT 1, INT 2, STRING 3)
//   ValueInfoProto  name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1, shape 2
//   TensorShapeProto dim 1;  Dimension dim_value 1, dim_param 2
// Varints are written from JS numbers, exact up to 2^53 (every value here is far below).

class Writer {
  private parts: number[] = [];

  private varint(v: number): void {
    if (v < 0 || !Number.isInteger(v)) throw new RangeError(`onnx_proto: varint ${v} must be a non-negative integer`);
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export type Attr = { name: string; f: number } | { name: string; i: number } | { name: string; s: string };

function attribute(a: Attr): Uint8Array {
  const w = new Writer().string(1, a.name);
  if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('i' in a) w.int(3, a.i).int(20, 2);
  else w.bytes(4, new TextEncoder().encode(a.s)).int(20, 3);
  return w.finish();
}

export interface NodeDef {
  opType: string;
  domain?: string;
  name: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs?: Attr[];
}

function node(n: NodeDef): Uint8Array {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const a of n.attrs ?? []) w.bytes(5, attribute(a));
  if (n.domain) w.string(7, n.domain);
  return w.finish();
}

/** ONNX TensorProto.DataType: FLOAT = 1, FLOAT16 = 10, BFLOAT16 = 16. */
export const ELEM = { float: 1, float16: 10, bfloat16: 16 } as const;

export interface ValueDef {
  name: string;
  elemType: number;
  /** A number is a fixed size, a string a named symbolic dimension. */
  dims: (number | string)[];
}

function valueInfo(v: ValueDef): Uint8Array {
  const shape = new Writer();
  for (const d of v.dims) shape.bytes(1, typeof d === 'number' ? new Writer().int(1, d).finish() : new Writer().string(2, d).finish());
  const tensorType = new Writer().int(1, v.elemType).bytes(2, shape.finish()).finish();
  const type = new Writer().bytes(1, tensorType).finish();
  return new Writer().string(1, v.name).bytes(2, type).finish();
}

export interface ModelDef {
  graphName: string;
  nodes: NodeDef[];
  inputs: ValueDef[];
  outputs: ValueDef[];
  /** e.g. [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }]. */
  opsets: { domain: string; version: number }[];
  irVersion?: number;
}

/** The serialised ModelProto. */
export function modelBytes(m: ModelDef): Uint8Array {
  const g = new Writer();
  for (const n of m.nodes) g.bytes(1, node(n));
  g.string(2, m.graphName);
  for (const i of m.inputs) g.bytes(11, valueInfo(i));
  for (const o of m.outputs) g.bytes(12, valueInfo(o));
  const w = new Writer().int(1, m.irVersion ?? 8).string(2, 'moe-kernels benchmarks').bytes(7, g.finish());
  for (const o of m.opsets) w.bytes(8, new Writer().string(1, o.domain).int(2, o.version).finish());
  return w.finish();
}
