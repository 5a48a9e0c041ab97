// Process-wide CPU backend settings: the thread pool size and the SIMD path. Both live in the addon; without
// it they are a clear Error (the reference backend has no threads to set).

import { loadNative, nativeLoadError, NativeAddon } from './native';
import { Check } from './errors';

function addon(fn: string): NativeAddon {
  const a = loadNative();
  if (!a) throw new Error(`${fn}: the native addon is not loaded (${nativeLoadError() ?? 'unknown reason'})`);
  return a;
}

/** Threads the CPU backend uses for every op (default: the cores this process may run on). */
export function getNumThreads(): number {
  return addon('getNumThreads').getNumThreads();
}

/** Set the CPU backend's thread count for the whole process; 0 restores the default. Results are bitwise
 *  the same for every count. */
export function setNumThreads(n: number): void {
  new Check('setNumThreads').int('n', n, 0, 1024);
  addon('setNumThreads').setNumThreads(n);
}

/** Switch the CPU kernels' SIMD path ('auto' = the best the CPU and OS support); returns the path in effect. */
export function setSimdPath(path: 'scalar' | 'avx2' | 'avx512' | 'auto'): 'scalar' | 'avx2' | 'avx512' {
  new Check('setSimdPath').oneOf('path', path, ['scalar', 'avx2', 'avx512', 'auto'] as const);
  return addon('setSimdPath').setSimdPath(path);
}
