// Backend selection, per op. 'auto' picks CUDA, then CPU, then the reference, among the backends that are
// usable on this machine AND implement the op, so a native backend can take over op by op.
// Native backends register lazily, on the first selection: importing the package never loads the addon.

import { OP_IDS } from './backend';
import type { Backend, BackendChoice, BackendName, OpId } from './backend';
import { createCpuBackend } from './cpu';
import { createCudaBackend, cudaUsable } from './cuda';
import { referenceBackend } from './reference';
import { Check } from '../errors';
import { loadNative, nativeLoadError } from '../native';

const nativeBackends: Partial<Record<Exclude<BackendName, 'reference'>, Backend>> = {};
let nativeTried = false;
let cudaWhyNot = 'the native addon is not loaded';

let generation = 0;

export function registerBackend(b: Backend): void {
  if (b.name !== 'reference') nativeBackends[b.name] = b;
  generation++;
}

/** Changes whenever a backend is registered: a choice cached over selectBackend's answers is stale then. */
export function backendGeneration(): number {
  return generation;
}

/** Registers the cpu backend when the addon loads; a missing or broken addon leaves the reference only. */
function ensureNativeBackends(): void {
  if (nativeTried) return;
  nativeTried = true;
  const addon = loadNative(); // never throws
  if (addon !== null && !nativeBackends.cpu) registerBackend(createCpuBackend(addon));
  // CUDA only with a usable device (capabilities() initialises CUDA here, at the first selection).
  if (addon !== null && !nativeBackends.cuda) {
    const u = cudaUsable(addon);
    if (u.ok) registerBackend(createCudaBackend(addon, cudaFallback));
    else cudaWhyNot = u.why;
  }
}

/** Where the cuda backend sends what its kernels do not cover: cpu when it implements the op. */
function cudaFallback(op: OpId): Backend {
  const cpu = nativeBackends.cpu;
  return cpu && cpu.implements(op) ? cpu : referenceBackend;
}

const isOp = (op: string): op is OpId => (OP_IDS as readonly string[]).includes(op);

/** The backend that will run `op` (an op id: 'route', 'grouped_gemm', ...) for `choice` (default 'auto'). */
export function selectBackend(op: string, choice: unknown = 'auto'): Backend {
  const c = new Check(op).oneOf('backend', choice, ['auto', 'reference', 'cpu', 'cuda'] as const) as BackendChoice;
  if (c === 'reference') return referenceBackend;
  ensureNativeBackends();
  if (c === 'auto') {
    for (const name of ['cuda', 'cpu'] as const) {
      const b = nativeBackends[name];
      if (b && isOp(op) && b.implements(op)) return b;
    }
    return referenceBackend;
  }
  const b = nativeBackends[c];
  if (!b) {
    const why = c === 'cpu' ? `the native addon is not loaded (${nativeLoadError() ?? 'unknown reason'})` : cudaWhyNot;
    throw new Error(`${op}: the '${c}' backend cannot be used: ${why}; use 'reference' or 'auto' (see capabilities())`);
  }
  if (!isOp(op) || !b.implements(op)) {
    const why = (b as Backend & { whyNot?(op: OpId): string | null }).whyNot?.(op as OpId) ?? 'not implemented';
    throw new Error(`${op}: the '${c}' backend does not implement '${op}': ${why}; use backend 'reference' or 'auto'`);
  }
  return b;
}

/** Names of the backends that can run ops now (each may implement only some ops: see selectBackend). */
export function availableBackends(): BackendName[] {
  ensureNativeBackends();
  return ['reference', ...(['cuda', 'cpu'] as const).filter((n) => nativeBackends[n] !== undefined)];
}

export type { Backend, BackendChoice, BackendName, OpId };
