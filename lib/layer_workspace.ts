// The scratch memory a MoELayer reuses across forward calls for its intermediates: the permuted rows, the
// expert activations and outputs, the shared expert's and the two-layer router's hidden states. Nothing a
// forward returns (out, logits, routing, stats) ever lives here, so results stay valid after the next call.
//
// Why: at T = 512 on the Qwen3-30B-A3B shape the intermediates are ~80 MB per forward. Fresh typed arrays
// are zeroed pages the kernels then fault in: measured on the 2-vCPU CI machine, allocating and touching
// 80 MB took 45-55 ms, against 12 ms to rewrite memory already mapped.
//
// One forward holds the workspace at a time. A second forward that starts while one is in flight (two
// forwardAsync calls on one layer) gets no lease and allocates its intermediates fresh, as before.

import type { DType, FloatDType } from './dtype';

type Scratch = Float32Array | Uint16Array | Int32Array;

export class LayerWorkspace {
  private readonly slots = new Map<string, Scratch>();
  private held = false;

  /** Claims the workspace for one forward; null when another forward holds it. */
  acquire(): WorkspaceLease | null {
    if (this.held) return null;
    this.held = true;
    return new WorkspaceLease(this);
  }

  /** Bytes held between calls (the largest intermediates seen so far). */
  get bytes(): number {
    let n = 0;
    for (const a of this.slots.values()) n += a.byteLength;
    return n;
  }

  /** Frees the scratch memory (the next forward allocates it again). */
  clear(): void {
    this.slots.clear();
  }

  /** @internal */
  release(): void {
    this.held = false;
  }

  /** @internal An array of exactly `length` elements for `slot`, grown (never shrunk) as needed. */
  take(slot: string, dtype: DType, length: number): Scratch {
    const key = `${slot}:${dtype === 'f32' ? 'f32' : dtype === 'i32' ? 'i32' : 'u16'}`;
    let a = this.slots.get(key);
    if (a === undefined || a.length < length) {
      a = dtype === 'f32' ? new Float32Array(length) : dtype === 'i32' ? new Int32Array(length) : new Uint16Array(length);
      this.slots.set(key, a);
    }
    return a.length === length ? a : a.subarray(0, length);
  }
}

/** One forward's access to the workspace; release() exactly once, when the forward is over. */
export class WorkspaceLease {
  private done = false;
  constructor(private readonly ws: LayerWorkspace) {}

  /** A float array for an intermediate of `length` elements (distinct slots never share memory). */
  float(slot: string, dtype: FloatDType, length: number): Float32Array | Uint16Array {
    return this.ws.take(slot, dtype, length) as Float32Array | Uint16Array;
  }

  /** An Int32Array for an intermediate index map of `length` elements (its own slot). */
  int(slot: string, length: number): Int32Array {
    return this.ws.take(slot, 'i32', length) as Int32Array;
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.ws.release();
  }
}
