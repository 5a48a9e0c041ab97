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
   * Switches the CPU kernels' SIMD path for the whole process (every path gives bitwise the same results;
   * tests use this to cover each one). 'auto' = the best the CPU supports, ignoring MOE_SIMD.
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
