// The TypeScript type of build/Release/moe_kernels.node: exactly what native/addon exports. Only lib/native.ts
// and the cpu backend's wiring (lib/backends/cpu/<op>.ts, for its args type) import this file.
//
// Each op binding adds its own section at the end of this file: an `<Op>NativeArgs` interface and a
// `NativeAddon` interface holding `<opName>(a): void` and `<opName>Async(a): Promise<void>` (interfaces
// of the same name merge, so no section edits another).

/** CPU features the processor implements AND the OS enables (cpuid + xgetbv). */
export interface CpuCapabilities {
  /** AVX2 with FMA3 and F16C. */
  avx2: boolean;
  avx512f: boolean;
  avx512bf16: boolean;
  /** grouped_gemm multiplies bf16 activations by bf16 weights with vdpbf16ps (prefill, the avx512 path): an
   *  AVX512_BF16 CPU where that beats widening to f32 (AMD). bf16 denormal inputs then count as zero. */
  bf16Dot: boolean;
  /** Threads the CPU backend uses: setNumThreads(n), else the threads this process may run on. */
  threads: number;
}

export interface CudaCapabilities {
  /** The binary holds CUDA code (nvcc was found when it was built). */
  compiled: boolean;
  /** Usable devices; 0 whenever `error` is set. */
  devices: number;
  /** Why CUDA cannot be used (e.g. "no usable GPU (driver missing or older than R580): ..."), else null. */
  error: string | null;
  /** CUDA runtime compiled in, 1000 * major + 10 * minor (13000 = 13.0); null when not compiled. */
  runtimeVersion: number | null;
  /** Installed driver's CUDA version, same encoding; null when there is no driver or no CUDA. */
  driverVersion: number | null;
}

export type SimdPathName = 'avx512' | 'avx2' | 'scalar';

export interface Capabilities {
  /** package.json version the binary was built from. */
  version: string;
  /** SIMD path the CPU kernels dispatch to now: min(MOE_SIMD, best supported) at load, then setSimdPath. */
  simd: SimdPathName;
  cpu: CpuCapabilities;
  /** Queried on the first call (never at load); the answer is cached for the process. */
  cuda: CudaCapabilities;
}

export interface NativeAddon {
  capabilities(): Capabilities;
  /** Thread count of the CPU backend (process-wide). */
  getNumThreads(): number;
  /**
   * Sets the CPU backend's thread count for the whole process; 0 restores the default.
   * @throws TypeError when `n` is not a number; RangeError unless an integer in [0, 1024].
   */
  setNumThreads(n: number): void;
  /**
   * Switches the CPU kernels' SIMD path for the whole process (tests use this to cover each one). Every path
   * gives bitwise the same results except grouped_gemm, whose summation order is path-specific (within tolerance). 'auto' = the best the CPU supports, ignoring MOE_SIMD.
   * @returns the path in effect: the request clamped to what the CPU and OS support.
   * @throws TypeError when `path` is not a string; RangeError for an unknown name.
   */
  setSimdPath(path: SimdPathName | 'auto'): SimdPathName;
}

// ---- op bindings: one section per op, appended by the op's author ----
// Call convention: one args object of named fields; inputs and preallocated outputs are typed arrays
// (Float32Array f32, Uint16Array bf16 / f16 bits, Int32Array ids); the sync function returns undefined and
// writes the outputs; the async one resolves to undefined when they are written (and rejects if any array
// was detached meanwhile). Errors name the op and the field: "convert: 'out' must have 6 elements, got 5".

/** native/addon/convert.cpp: out = x converted to outDtype (RNE); out.length === x.length. */
export interface ConvertNativeArgs {
  x: Float32Array | Uint16Array;
  xDtype: 'f32' | 'bf16' | 'f16';
  /** Disjoint from x, or exactly x's memory when the element sizes match. */
  out: Float32Array | Uint16Array;
  outDtype: 'f32' | 'bf16' | 'f16';
}
export interface NativeAddon {
  convert(a: ConvertNativeArgs): void;
  convertAsync(a: ConvertNativeArgs): Promise<void>;
}

// ---- CUDA (native/addon/device_tensor.cpp, cuda_binding.cpp, cuda_<op>.cpp) ----
// Present only in a binary built with nvcc (capabilities().cuda.compiled), hence optional; each throws
// "<op>: no usable GPU ..." when capabilities().cuda.devices is 0. Tensor fields take typed arrays (copied in
// and out; the call synchronises) or DeviceTensors (used in place; the call is enqueued). The args objects are
// typed in lib/backends/cuda/natives.ts, the DeviceTensor object in lib/device.ts.
export interface NativeAddon {
  cudaAllocate?(dtype: 'f32' | 'bf16' | 'f16' | 'i32', shape: number[]): import('./lib/device').NativeDeviceTensor;
  cudaSynchronize?(): void;
  cudaMemInfo?(): { free: number; total: number };
  cudaRoute?(a: import('./lib/backends/cuda/natives').CudaRouteArgs): void;
  cudaRouteAsync?(a: import('./lib/backends/cuda/natives').CudaRouteArgs): Promise<void>;
  cudaPermute?(a: import('./lib/backends/cuda/natives').CudaPermuteArgs): void;
  cudaPermuteAsync?(a: import('./lib/backends/cuda/natives').CudaPermuteArgs): Promise<void>;
  cudaGroupedGemm?(a: import('./lib/backends/cuda/natives').CudaGroupedGemmArgs): void;
  cudaGroupedGemmAsync?(a: import('./lib/backends/cuda/natives').CudaGroupedGemmArgs): Promise<void>;
  cudaUnpermute?(a: import('./lib/backends/cuda/natives').CudaUnpermuteArgs): void;
  cudaUnpermuteAsync?(a: import('./lib/backends/cuda/natives').CudaUnpermuteArgs): Promise<void>;
  cudaRouterStats?(a: import('./lib/backends/cuda/natives').CudaRouterStatsArgs): void;
  cudaRouterStatsAsync?(a: import('./lib/backends/cuda/natives').CudaRouterStatsArgs): Promise<void>;
  cudaConvert?(a: import('./lib/backends/cuda/natives').CudaConvertArgs): void;
  cudaConvertAsync?(a: import('./lib/backends/cuda/natives').CudaConvertArgs): Promise<void>;
  cudaTimerCreate?(): import('./lib/backends/cuda/natives').CudaTimer;
  cudaTimerSpin?(t: import('./lib/backends/cuda/natives').CudaTimer, microseconds: number): void;
  cudaTimerMark?(t: import('./lib/backends/cuda/natives').CudaTimer): void;
  cudaTimerFinish?(t: import('./lib/backends/cuda/natives').CudaTimer): { ms: Float64Array; hostBound: boolean };
}

// ---- grouped_gemm (native/addon/grouped_gemm.cpp) ----
/** Y[r, :] = act(A[r, :] · W[e]ᵀ + bias[e, :] + addend[r, :]) for the rows r in [offsets[e], offsets[e+1]). */
export interface GroupedGemmNativeArgs {
  /** A [rows, k]: Float32Array for f32, Uint16Array (bits) for bf16 / f16. */
  a: Float32Array | Uint16Array;
  aDtype: 'f32' | 'bf16' | 'f16';
  /** W [experts, n, k] ([out, in]). */
  w: Float32Array | Uint16Array;
  wDtype: 'f32' | 'bf16' | 'f16';
  rows: number;
  k: number;
  n: number;
  experts: number;
  /** [experts + 1]: 0, non-decreasing, ending at rows. */
  offsets: Int32Array;
  /** [experts, n]. */
  bias?: Float32Array;
  /** [rows, n], added before the activation. */
  addend?: Float32Array;
  activation: 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'swiglu' | 'geglu' | 'tanh' | 'sigmoid';
  gluLayout: 'halves' | 'interleaved';
  /** [rows, n] or [rows, n / 2] for swiglu / geglu; disjoint from every input. */
  out: Float32Array | Uint16Array;
  outDtype: 'f32' | 'bf16' | 'f16';
}
export interface NativeAddon {
  groupedGemm(a: GroupedGemmNativeArgs): void;
  groupedGemmAsync(a: GroupedGemmNativeArgs): Promise<void>;
}

// ---- permute (native/addon/permute.cpp) ----
/** rows[r] = scale · x[rowToToken[r]]: the FFN-routed slots gathered into per-expert segments, in the stable
 *  (slot rank, token) order; offsets come from permuteLayout (lib/ops/permute.ts). */
export interface PermuteNativeArgs {
  /** x [tokens, hidden]: Float32Array for f32, Uint16Array (bits) for bf16 / f16. */
  x: Float32Array | Uint16Array;
  xDtype: 'f32' | 'bf16' | 'f16';
  tokens: number;
  hidden: number;
  kmax: number;
  /** [tokens, kmax], each -1 or in [0, totalExperts). */
  ids: Int32Array;
  experts: number;
  totalExperts: number;
  /** [totalExperts] global id -> segment in [0, experts), or -1 (not gathered). */
  segmentOf: Int32Array;
  /** [experts + 1]: 0, non-decreasing, room for every segment's rows, ending at rowCount. */
  offsets: Int32Array;
  rowCount: number;
  /** Finite; 1 gives bit copies. */
  scale: number;
  /** Outputs, disjoint from everything: rows [rowCount, hidden] (x's dtype), slotToRow [tokens, kmax],
   *  rowToToken [rowCount]. */
  rows: Float32Array | Uint16Array;
  slotToRow: Int32Array;
  rowToToken: Int32Array;
}
export interface NativeAddon {
  permute(a: PermuteNativeArgs): void;
  permuteAsync(a: PermuteNativeArgs): Promise<void>;
}

// ---- unpermute (native/addon/unpermute.cpp) ----
/** out_t = Σ_j w[t,j] · E_{ids[t,j]}(u_t) + shared_t + residual_t, slots in slot order, f32 accumulation. */
export interface UnpermuteNativeArgs {
  /** y [rows, hidden]: the FFN experts' outputs in permute's row order. */
  y: Float32Array | Uint16Array;
  yDtype: 'f32' | 'bf16' | 'f16';
  rows: number;
  tokens: number;
  hidden: number;
  kmax: number;
  /** [tokens, kmax]. */
  ids: Int32Array;
  weights: Float32Array;
  /** [tokens, kmax], each -1 or in [0, rows). */
  slotToRow: Int32Array;
  zeroExperts: Int32Array;
  copyExperts: Int32Array;
  constantIds: Int32Array;
  /** [constantIds.length, 2, hidden] and [constantIds.length, hidden]; required when constantIds is not empty. */
  wc?: Float32Array;
  v?: Float32Array;
  /** [tokens, hidden]; required with copy or constant experts. */
  x?: Float32Array | Uint16Array;
  xDtype?: 'f32' | 'bf16' | 'f16';
  inputScale: number;
  shared?: Float32Array | Uint16Array;
  sharedDtype?: 'f32' | 'bf16' | 'f16';
  residual?: Float32Array | Uint16Array;
  residualDtype?: 'f32' | 'bf16' | 'f16';
  /** [tokens, hidden]; may be exactly shared's or residual's memory, must not overlap anything else. */
  out: Float32Array | Uint16Array;
  outDtype: 'f32' | 'bf16' | 'f16';
}
export interface NativeAddon {
  unpermute(a: UnpermuteNativeArgs): void;
  unpermuteAsync(a: UnpermuteNativeArgs): Promise<void>;
}

// ---- router_stats (native/addon/router_stats.cpp) ----
/** Per-expert counts and score sums, Σ logsumexp², Σ entropy over the unmasked tokens (f64 sums). */
export interface RouterStatsNativeArgs {
  /** [tokens, kmax], each -1 or in [0, experts). */
  ids: Int32Array;
  /** [tokens, experts]. */
  scores: Float32Array;
  logits?: Float32Array;
  /** [tokens] 0 = padding. */
  tokenMask?: Uint8Array;
  tokens: number;
  kmax: number;
  experts: number;
  normalizeScores: boolean;
  /** Outputs [experts]. */
  counts: Int32Array;
  top1Counts: Int32Array;
  probSum: Float32Array;
  /** Output: 32 bytes receiving 4 little-endian f64: tokens, selections, zSquareSum, entropySum. */
  totals: Uint8Array;
}
export interface NativeAddon {
  routerStats(a: RouterStatsNativeArgs): void;
  routerStatsAsync(a: RouterStatsNativeArgs): Promise<void>;
}

// ---- route (native/addon/route.cpp) ----
/** Router logits -> padded per-token picks and weights (lib/ops/route.ts has the contract). T = tokens,
 *  E = experts, K = kmax. Every output is disjoint from every other array. */
export interface RouteNativeArgs {
  method: 'softmax_topk' | 'topk_softmax' | 'sigmoid_topk' | 'xmoe_threshold' | 'top_p' | 'external';
  tokens: number;
  experts: number;
  /** Top-k methods: 1..E; 'external': the extIds width; threshold methods: 0. */
  k: number;
  kmax: number;
  renormalize?: boolean;
  /** Default 1. */
  scale?: number;
  /** Threshold methods: (0, 1]. */
  threshold?: number;
  groups?: number;
  topkGroups?: number;
  groupTopN?: number;
  /** [T, E] (scored methods). */
  logits?: Float32Array;
  /** [E], finite. */
  bias?: Float32Array;
  /** [E] 0/1. */
  zeroGate?: Uint8Array;
  /** Present = prune (MC-MoE), in [0, 1]. */
  pruneBeta?: number;
  /** [T] 0/1. */
  pruneProtect?: Uint8Array;
  pruneDropAll?: Uint8Array;
  /** 'external': [T, k] in [-1, E). */
  extIds?: Int32Array;
  extWeights?: Float32Array;
  /** Present = capacity. */
  cap?: number;
  policy?: 'position' | 'probs' | 'rank_then_position';
  renormalizeSurvivors?: boolean;
  /** Outputs: [T, K], [T, K], [T], [T, E] (scored methods); capacity: [T, K], [T, K], [E], [E]. */
  ids: Int32Array;
  weights: Float32Array;
  counts: Int32Array;
  scores?: Float32Array;
  selectedIds?: Int32Array;
  keep?: Int32Array;
  load?: Int32Array;
  demand?: Int32Array;
}
export interface NativeAddon {
  route(a: RouteNativeArgs): void;
  routeAsync(a: RouteNativeArgs): Promise<void>;
}

// ---- layer_forward (native/addon/layer_forward.cpp) ----
type FloatArray = Float32Array | Uint16Array;
type FloatName = 'f32' | 'bf16' | 'f16';
/** One MoELayer.forward in one call (lib/layer_native.ts builds it): route's fields under route's names
 *  (scored methods, no capacity), then the router GEMM, the experts, the scratch, the combine and
 *  router_stats' outputs. T = tokens, N = experts (every expert), E = ffnExperts, K = kmax. Every array the
 *  call writes overlaps no other, except that out may be exactly residual's memory. */
export interface LayerForwardNativeArgs extends RouteNativeArgs {
  /** Written: the router GEMM's output [T, N] (route reads it). */
  logits: Float32Array;
  scores: Float32Array;
  x: FloatArray;
  xDtype: FloatName;
  hidden: number;
  /** [N, hidden] f32, and [N]. */
  router: Float32Array;
  routerDtype: 'f32';
  routerBias?: Float32Array;
  ffnExperts: number;
  intermediate: number;
  inputScale: number;
  activation: 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'swiglu' | 'geglu' | 'tanh' | 'sigmoid';
  gluLayout: 'halves' | 'interleaved';
  /** [E, n1, hidden] (n1 = 2 · intermediate for swiglu / geglu), [E, hidden, intermediate]; biases f32. */
  w1: FloatArray;
  w1Dtype: FloatName;
  b1?: Float32Array;
  w2: FloatArray;
  w2Dtype: FloatName;
  b2?: Float32Array;
  /** Present = a shared expert: [n1s, hidden] and [hidden, sharedIntermediate], scratch in xDtype. */
  sharedIntermediate?: number;
  sharedW1?: FloatArray;
  sharedW1Dtype?: FloatName;
  sharedW2?: FloatArray;
  sharedW2Dtype?: FloatName;
  sharedAct?: FloatArray;
  shared?: FloatArray;
  /** Scratch in xDtype: [T·K, hidden], [T·K, intermediate], [T·K, hidden]; Int32Array [T, K], [T·K], [E + 1]. */
  rows: FloatArray;
  act: FloatArray;
  y: FloatArray;
  slotToRow: Int32Array;
  rowToToken: Int32Array;
  offsets: Int32Array;
  zeroExperts: Int32Array;
  copyExperts: Int32Array;
  constantIds: Int32Array;
  wc?: Float32Array;
  v?: Float32Array;
  residual?: FloatArray;
  residualDtype?: FloatName;
  /** [T, hidden] in xDtype. */
  out: FloatArray;
  normalizeScores: boolean;
  /** router_stats' outputs: [N], [N], [N], and 32 bytes of 4 f64 (tokens, selections, zSquareSum, entropySum). */
  statCounts: Int32Array;
  statTop1Counts: Int32Array;
  statProbSum: Float32Array;
  statTotals: Uint8Array;
}
/** What layerPlan returns: an opaque object holding the checked args and the kept weights (layer_plan.cpp). */
export interface LayerPlanHandle {
  readonly __layerPlan: unique symbol;
}
/** layerForwardPlanned's arguments after the plan, in order: the per-call arrays of LayerForwardNativeArgs,
 *  each of exactly the type and length the plan's args object had (residual and residualDtype: undefined
 *  for none; sharedAct and shared: undefined without a shared expert). */
export type LayerForwardPlannedArgs = [
  x: FloatArray, out: FloatArray, residual: FloatArray | undefined, residualDtype: FloatName | undefined,
  logits: Float32Array, scores: Float32Array, ids: Int32Array, weights: Float32Array, counts: Int32Array,
  rows: FloatArray, act: FloatArray, y: FloatArray, slotToRow: Int32Array, rowToToken: Int32Array, offsets: Int32Array,
  statCounts: Int32Array, statTop1Counts: Int32Array, statProbSum: Float32Array, statTotals: Uint8Array,
  sharedAct: FloatArray | undefined, shared: FloatArray | undefined,
];
export interface NativeAddon {
  /** Absent from binaries built before it existed: MoELayer then runs op by op. */
  layerForward?(a: LayerForwardNativeArgs): void;
  layerForwardAsync?(a: LayerForwardNativeArgs): Promise<void>;
  /** Reads and checks `a` once (nothing runs) for layerForwardPlanned: the forwards of one layer at one
   *  token count and x dtype then pass only their per-call arrays. */
  layerPlan?(a: LayerForwardNativeArgs): LayerPlanHandle;
  layerForwardPlanned?(plan: LayerPlanHandle, ...arrays: LayerForwardPlannedArgs): void;
  layerForwardPlannedAsync?(plan: LayerPlanHandle, ...arrays: LayerForwardPlannedArgs): Promise<void>;
}

// ---- machine ceilings (native/addon/ceilings.cpp), for benchmarks/ceilings.ts ----
/** The f32 FMA peak on the SIMD path in effect: many independent FMA chains per thread. */
export interface FmaPeakResult {
  /** Best repetition: FLOP (2 per FMA lane) over wall time, all threads together. */
  gflops: number;
  /** The same work over each thread's CPU time, summed: the cores' rate while they ran (immune to other load). */
  cpuGflops: number;
  path: SimdPathName;
}
export interface NativeAddon {
  /** Runs for about `ms` milliseconds on exactly `threads` threads of its own (not the pool's). */
  measureFmaPeak?(threads: number, ms: number): FmaPeakResult;
  /** Best read bandwidth in GB/s (1e9 B/s) summing a fresh buffer of `bytes` split between `threads`. */
  measureBandwidth?(bytes: number, threads: number, reps?: number): number;
  /** One read pass over `data` on `threads` threads (a cache flush); GB/s of that pass. */
  streamRead?(data: Float32Array, threads: number): number;
}
