// The `cuda` backend: the addon's CUDA kernels (native/cuda, bound in native/addon/cuda_*.cpp). Each op's
// wiring lives in lib/backends/cuda/<op id>.ts. Registered only when capabilities().cuda.devices > 0 (see
// ./index.ts), so on a machine without a usable GPU 'auto' never picks it and an explicit 'cuda' says why.
// A configuration a kernel does not cover (wiring.supports() false, e.g. route with more than 1024 experts)
// runs on the fallback backend (cpu when it implements the op, else the reference), never half-done.

import type { NativeAddon } from '../native';
import { Backend, OP_IDS, OP_METHODS, OpArgs, OpId, OpMethod, OpResult } from './backend';
import type { CudaNatives } from './cuda/natives';
import { wiring as convert } from './cuda/convert';
import { wiring as groupedGemm } from './cuda/grouped_gemm';
import { wiring as permute } from './cuda/permute';
import { wiring as route } from './cuda/route';
import { wiring as routerStats } from './cuda/router_stats';
import { wiring as unpermute } from './cuda/unpermute';

/** The sync CUDA op exports (each has an `<name>Async` twin). */
export type CudaOpNative = 'cudaRoute' | 'cudaPermute' | 'cudaGroupedGemm' | 'cudaUnpermute' | 'cudaRouterStats' | 'cudaConvert';

/** What lib/backends/cuda/<op id>.ts exports as `wiring`. */
export interface CudaWiring<M extends OpMethod> {
  /** The addon export that runs the op (and `${native}Async`). */
  readonly native: CudaOpNative;
  /** False for configurations the CUDA kernels do not cover; the backend then uses its fallback. */
  supports(a: OpArgs<M>): boolean;
  /** The binding's args object (outputs allocated with allocOutput) and the result built from them once
   *  the binding has written them. */
  prepare(a: OpArgs<M>): { args: object; result: () => OpResult<M> };
}

type AnyWiring = CudaWiring<OpMethod>;
export const CUDA_WIRINGS: Record<OpMethod, AnyWiring> = {
  route, permute, groupedGemm, unpermute, routerStats, convert,
} as unknown as Record<OpMethod, AnyWiring>;

/** The exports an op needs that the binary lacks (one built before the op's binding, or without CUDA). */
function missingNatives(addon: NativeAddon, w: AnyWiring): string[] {
  const fns = addon as unknown as Record<string, unknown>;
  return [w.native, `${w.native}Async`].filter((n) => typeof fns[n] !== 'function');
}

/** Runs `w` on the addon, synchronously (the binding copies the host arrays in and out). */
export function runCudaSync<M extends OpMethod>(natives: CudaNatives, w: CudaWiring<M>, a: OpArgs<M>): OpResult<M> {
  const p = w.prepare(a);
  (natives[w.native] as (x: object) => void)(p.args);
  return p.result();
}

/** Runs `w` off the JS thread. */
export async function runCudaAsync<M extends OpMethod>(natives: CudaNatives, w: CudaWiring<M>, a: OpArgs<M>): Promise<OpResult<M>> {
  const p = w.prepare(a);
  await (natives[`${w.native}Async`] as (x: object) => Promise<void>)(p.args);
  return p.result();
}

/** The cuda backend over a loaded addon with a usable GPU; `fallback(op)` runs what the kernels do not cover. */
export function createCudaBackend(addon: NativeAddon, fallback: (op: OpId) => Backend): Backend & { whyNot(op: OpId): string | null } {
  const natives = addon as unknown as CudaNatives;
  const methods: Record<string, unknown> = {};
  const reasons = new Map<OpId, string>();
  for (const op of OP_IDS) {
    const m = OP_METHODS[op];
    const w = CUDA_WIRINGS[m];
    const missing = missingNatives(addon, w);
    if (missing.length) {
      const why = `the loaded native binary lacks ${missing.join(', ')} (rebuild it with CUDA: npm run build:native)`;
      reasons.set(op, why);
      methods[m] = () => {
        throw new Error(`${op}: the 'cuda' backend does not implement '${op}': ${why}; use backend 'reference' or 'auto'`);
      };
      methods[`${m}Async`] = () => Promise.reject(new Error(`${op}: the 'cuda' backend does not implement '${op}': ${why}`));
      continue;
    }
    const other = (): Record<string, (a: unknown) => unknown> => fallback(op) as unknown as Record<string, (a: unknown) => unknown>;
    methods[m] = (a: OpArgs<OpMethod>) => (w.supports(a) ? runCudaSync(natives, w, a) : other()[m]!(a));
    methods[`${m}Async`] = (a: OpArgs<OpMethod>) => (w.supports(a) ? runCudaAsync(natives, w, a) : other()[`${m}Async`]!(a));
  }
  return {
    ...(methods as unknown as Omit<Backend, 'name' | 'implements'>),
    name: 'cuda',
    implements: (op: OpId) => OP_IDS.includes(op) && !reasons.has(op),
    whyNot: (op: OpId) => (OP_IDS.includes(op) ? reasons.get(op) ?? null : `'${op}' is not a backend op`),
  };
}

/** Whether this addon can run CUDA ops now: compiled with CUDA and at least one usable device. */
export function cudaUsable(addon: NativeAddon): { ok: boolean; why: string } {
  const c = addon.capabilities().cuda;
  if (!c.compiled) return { ok: false, why: c.error ?? 'built without CUDA' };
  if (c.devices <= 0) return { ok: false, why: c.error ?? 'no CUDA device' };
  return { ok: true, why: '' };
}
