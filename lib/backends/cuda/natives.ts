// The TypeScript face of the addon's CUDA exports (native/addon/cuda_*.cpp, device_tensor.cpp): the args
// object of every op and the timer the GPU check uses. Tensor fields take a typed array (copied to the
// device and back; the call synchronises) or a DeviceTensor's native object (used in place; the call is
// enqueued and returns). Only lib/backends/cuda* and the GPU check import this file.

import type { FloatDType } from '../../dtype';
import type { NativeDeviceTensor } from '../../device';

type F32 = Float32Array | NativeDeviceTensor;
type I32 = Int32Array | NativeDeviceTensor;
type Half = Float32Array | Uint16Array | NativeDeviceTensor;

export interface CudaRouteArgs {
  method: 'softmax_topk' | 'topk_softmax' | 'sigmoid_topk' | 'xmoe_threshold' | 'top_p' | 'external';
  tokens: number;
  experts: number;
  k: number;
  kmax: number;
  renormalize: boolean;
  scale: number;
  threshold?: number;
  groups?: number;
  topkGroups?: number;
  groupTopN?: number;
  logits?: Half;
  logitsDtype?: FloatDType;
  bias?: F32;
  zeroGate?: Uint8Array;
  pruneBeta?: number;
  pruneProtect?: Uint8Array;
  pruneDropAll?: Uint8Array;
  extIds?: I32;
  extWeights?: F32;
  cap?: number;
  policy?: 'position' | 'probs' | 'rank_then_position';
  renormalizeSurvivors?: boolean;
  ids: I32;
  weights: F32;
  counts: I32;
  scores?: F32;
  selectedIds?: I32;
  keep?: I32;
  load?: I32;
  demand?: I32;
}

export interface CudaPermuteArgs {
  tokens: number;
  hidden: number;
  kmax: number;
  experts: number;
  totalExperts: number;
  align: number;
  scale: number;
  rowsCapacity: number;
  x: Half;
  xDtype: FloatDType;
  ids: I32;
  segmentOf: I32;
  rows: Half;
  offsets: I32;
  slotToRow: I32;
  rowToToken: I32;
  tokensPerExpert: I32;
  overflow?: I32;
}

export interface CudaGroupedGemmArgs {
  rows: number;
  k: number;
  n: number;
  experts: number;
  a: Half;
  aDtype: FloatDType;
  w: Half;
  wDtype: FloatDType;
  offsets: I32;
  bias?: F32;
  addend?: F32;
  activation: string;
  gluLayout: 'halves' | 'interleaved';
  out: Half;
  outDtype: FloatDType;
  path?: 'auto' | 'simt' | 'tensor_core' | 'decode';
}

export interface CudaUnpermuteArgs {
  tokens: number;
  hidden: number;
  kmax: number;
  rows: number;
  inputScale: number;
  y: Half;
  yDtype: FloatDType;
  ids: I32;
  weights: F32;
  slotToRow: I32;
  zeroExperts?: Int32Array;
  copyExperts?: Int32Array;
  constantIds?: Int32Array;
  wc?: F32;
  v?: F32;
  x?: Half;
  xDtype?: FloatDType;
  shared?: Half;
  sharedDtype?: FloatDType;
  residual?: Half;
  residualDtype?: FloatDType;
  out: Half;
  outDtype: FloatDType;
}

export interface CudaRouterStatsArgs {
  tokens: number;
  kmax: number;
  experts: number;
  normalizeScores: boolean;
  ids: I32;
  scores: F32;
  logits?: F32;
  tokenMask?: Uint8Array;
  counts: I32;
  top1Counts: I32;
  probSum: F32;
  /** A Float32Array(8) over the bytes of a Float64Array(4): [tokens, selections, zSquareSum, entropySum]. */
  scalars: F32;
}

export interface CudaConvertArgs {
  n: number;
  x: Half;
  xDtype: FloatDType;
  out: Half;
  outDtype: FloatDType;
}

/** An opaque handle from cudaTimerCreate(). */
export type CudaTimer = { readonly __cudaTimer: unique symbol };

export interface CudaNatives {
  cudaRoute(a: CudaRouteArgs): void;
  cudaRouteAsync(a: CudaRouteArgs): Promise<void>;
  cudaPermute(a: CudaPermuteArgs): void;
  cudaPermuteAsync(a: CudaPermuteArgs): Promise<void>;
  cudaGroupedGemm(a: CudaGroupedGemmArgs): void;
  cudaGroupedGemmAsync(a: CudaGroupedGemmArgs): Promise<void>;
  cudaUnpermute(a: CudaUnpermuteArgs): void;
  cudaUnpermuteAsync(a: CudaUnpermuteArgs): Promise<void>;
  cudaRouterStats(a: CudaRouterStatsArgs): void;
  cudaRouterStatsAsync(a: CudaRouterStatsArgs): Promise<void>;
  cudaConvert(a: CudaConvertArgs): void;
  cudaConvertAsync(a: CudaConvertArgs): Promise<void>;
  cudaTimerCreate(): CudaTimer;
  /** Holds the stream with a spin kernel so the launches enqueued next run back to back. */
  cudaTimerSpin(t: CudaTimer, microseconds: number): void;
  cudaTimerMark(t: CudaTimer): void;
  /** Milliseconds between marks 2i and 2i+1; hostBound when the spin ended before the host finished. */
  cudaTimerFinish(t: CudaTimer): { ms: Float64Array; hostBound: boolean };
}

