// What one benchmark row holds, and the napkin math derived from it against the run's ceilings: GFLOP/s,
// GB/s, the share of the measured FMA peak and bandwidth, the roofline floor and the ratio to it.

import { CeilingSet, ceilingFor } from './ceilings';

export type BackendId = 'reference' | 'cpu' | 'cuda' | 'onnxruntime';

export interface Validation {
  ok: boolean;
  /** Norm-wise relative error (floats) or the count of mismatches (exact outputs). */
  err: number;
  tol: number;
  /** What the output was compared with, e.g. "reference, 4 sampled tokens". */
  against: string;
  note?: string;
}

export interface BenchResult {
  /** 'route', 'permute', 'grouped_gemm.w1', 'grouped_gemm.w2', 'unpermute', 'router_stats', 'convert', 'layer'. */
  op: string;
  shape: string;
  /** Tokens per call (0 for convert, which converts one expert's W1). */
  tokens: number;
  /** Weight / activation dtype of the call ('f32' or 'bf16'; convert: the direction, e.g. 'f32>bf16'). */
  dtype: string;
  backend: BackendId;
  /** CPU threads (null where the backend has no thread setting: the reference, cuda). */
  threads: number | null;
  /** Median, ms. */
  ms: number;
  samples: number[];
  /** Median over samples of this process's CPU time / (wall time x threads): below 1 when the threads did
   *  not all run throughout (other load on the machine, or work that does not split). Null for cuda. */
  cpuShare?: number | null;
  /** FLOP per call (2 per multiply-add). */
  flop: number;
  /** Bytes per call: the weights streamed for GEMMs and the layer, the tensors read and written otherwise. */
  bytes: number;
  bytesKind: 'weights' | 'memory';
  validation: Validation;
  note?: string;
}

export interface Derived {
  gflops: number;
  gbs: number;
  /** Of the f32 FMA peak with the row's thread count (null without one, or for the reference and cuda). */
  pctPeak: number | null;
  pctBw: number | null;
  /** max(bytes / bandwidth, FLOP / peak), ms: the time the machine needs at least. */
  floorMs: number | null;
  /** ms / floorMs. */
  xFloor: number | null;
}

/** CPU-side ceilings apply to the cpu backend and to onnxruntime (both run on these cores). */
export function derive(r: BenchResult, c: CeilingSet): Derived {
  const gflops = r.flop / r.ms / 1e6;
  const gbs = r.bytes / r.ms / 1e6;
  const onCpu = (r.backend === 'cpu' || r.backend === 'onnxruntime') && r.threads !== null;
  const ceil = onCpu ? ceilingFor(c, r.threads!) : undefined;
  const peak = ceil?.fmaGflops ?? null;
  const bw = ceil?.bwGBs ?? null;
  const floorMs = peak !== null && bw !== null ? Math.max(r.bytes / bw / 1e6, r.flop / peak / 1e6) : null;
  return {
    gflops, gbs,
    pctPeak: peak !== null && r.flop > 0 ? (100 * gflops) / peak : null,
    pctBw: bw !== null && r.bytes > 0 ? (100 * gbs) / bw : null,
    floorMs,
    xFloor: floorMs ? r.ms / floorMs : null,
  };
}

/** Rows that run the same work: same op, shape, tokens and dtype. */
export const sameWork = (a: BenchResult, b: BenchResult): boolean =>
  a.op === b.op && a.shape === b.shape && a.tokens === b.tokens && a.dtype === b.dtype;

/** The reference row for `r`, if the reference was timed on that work. */
export function referenceOf(r: BenchResult, all: readonly BenchResult[]): BenchResult | undefined {
  return all.find((x) => x.backend === 'reference' && sameWork(x, r));
}

/** The onnxruntime row with the same work and thread count. */
export function peerOf(r: BenchResult, all: readonly BenchResult[], peer: BackendId = 'onnxruntime'): BenchResult | undefined {
  return all.find((x) => x.backend === peer && sameWork(x, r) && x.threads === r.threads);
}

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 0.1) return `${ms.toFixed(3)} ms`;
  return `${(ms * 1000).toFixed(1)} µs`;
}

export function fmtNum(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  return x.toFixed(digits);
}

export function fmtErr(v: Validation): string {
  if (!v.ok) return `FAIL ${v.err.toExponential(1)}`;
  return v.err === 0 ? 'exact' : v.err.toExponential(1);
}
