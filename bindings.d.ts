// The TypeScript type of build/Release/moe_kernels.node: exactly what native/addon/addon.cpp exports.
// Only lib/native.ts imports this file; everything else goes through the loader.

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

export interface Capabilities {
  /** package.json version the binary was built from. */
  version: string;
  /** SIMD path the CPU kernels dispatch to: min(MOE_SIMD, best supported), chosen once at load. */
  simd: 'avx512' | 'avx2' | 'scalar';
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
}
