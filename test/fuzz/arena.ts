// Where a fuzz case keeps its typed arrays: views at odd offsets inside a few larger ArrayBuffers, so that
// inputs share buffers (as slices of one framework arena do) and every byte around them is known. After the
// op, every byte of every buffer must be unchanged except inside the views that are outputs: one check
// covers "inputs are not modified" and "nothing is written outside the outputs".

import { Rng } from '../../lib/random';

export type Kind = 'f32' | 'u16' | 'i32' | 'u8' | 'f64';
type View = Float32Array | Uint16Array | Int32Array | Uint8Array | Float64Array;

const CTOR = { f32: Float32Array, u16: Uint16Array, i32: Int32Array, u8: Uint8Array, f64: Float64Array } as const;
const SIZE = { f32: 4, u16: 2, i32: 4, u8: 1, f64: 8 } as const;
/** Bytes of slack around and between views: more than one 512-bit vector. */
const SLACK = 80;
const CHUNK = 1 << 16;

interface Chunk {
  buffer: ArrayBuffer;
  used: number;
  before?: Uint8Array;
}

export class Arena {
  private readonly chunks: Chunk[] = [];
  private readonly outputs: View[] = [];

  constructor(private readonly rng: Rng) {}

  /** A zeroed view of `length` elements; `own` gives it a buffer of its own (an output, or to detach alone). */
  alloc<K extends Kind>(kind: K, length: number, own = false): InstanceType<(typeof CTOR)[K]> {
    const bytes = length * SIZE[kind];
    let chunk = own ? undefined : this.chunks.find((c) => !c.before && c.used + bytes + 2 * SLACK + 8 <= c.buffer.byteLength);
    if (!chunk || own) {
      const buffer = new ArrayBuffer(Math.max(own ? 0 : CHUNK, bytes + 2 * SLACK + 8));
      // Known noise around the views: a write outside one shows up, a read of it gives odd values.
      const fill = new Uint8Array(buffer);
      for (let i = 0; i < fill.length; i++) fill[i] = (i * 131 + 0xa5) & 0xff;
      chunk = { buffer, used: 0 };
      this.chunks.push(chunk);
    }
    // A gap of 0..SLACK bytes, then the element alignment typed arrays need (not the 64-byte one SIMD likes).
    let start = chunk.used + SLACK - (this.rng.int(4) === 0 ? 0 : this.rng.int(SLACK));
    start = Math.ceil(start / SIZE[kind]) * SIZE[kind];
    chunk.used = start + bytes + 8;
    const v = new CTOR[kind](chunk.buffer, start, length) as InstanceType<(typeof CTOR)[K]>;
    v.fill(0 as never);
    return v;
  }

  /** Marks `v` as an output: its bytes may change. */
  output<V extends View>(v: V): V {
    this.outputs.push(v);
    return v;
  }

  /** Copies every buffer; call right before the op. */
  snapshot(): void {
    for (const c of this.chunks) c.before = c.buffer.byteLength ? new Uint8Array(c.buffer).slice() : new Uint8Array(0);
  }

  /** What changed outside the outputs since snapshot(), or null. Detached buffers are skipped. */
  changes(): string | null {
    for (const [i, c] of this.chunks.entries()) {
      if (!c.before || c.buffer.byteLength === 0) continue;
      const now = new Uint8Array(c.buffer);
      for (let b = 0; b < now.length; b++) {
        if (now[b] === c.before[b]) continue;
        const inOut = this.outputs.some((o) => o.buffer === c.buffer && b >= o.byteOffset && b < o.byteOffset + o.byteLength);
        if (!inOut) return `buffer ${i} byte ${b} changed (${c.before[b]} -> ${now[b]}) outside every output`;
      }
    }
    return null;
  }
}

/** Detaches the buffer under `v` (transfers it away); every view on that buffer then has length 0. */
export function detach(v: ArrayBufferView): void {
  structuredClone(v.buffer, { transfer: [v.buffer as ArrayBuffer] });
}

/** A deep copy of an args object: typed arrays copied into fresh buffers (a detached one stays empty). */
export function cloneArgs<T>(v: T): T {
  if (ArrayBuffer.isView(v)) {
    const a = v as unknown as View;
    const copy = new (a.constructor as new (n: number) => View)(a.length); // a detached view has length 0
    if (a.length) copy.set(a as never);
    return copy as unknown as T;
  }
  if (Array.isArray(v)) return v.map(cloneArgs) as unknown as T;
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = cloneArgs(x);
    return o as T;
  }
  return v;
}
