// Backend selection. 'auto' picks CUDA, then CPU, then the reference, among the backends that are usable
// on this machine; until the native backends implement the ops, 'auto' is the reference.

import type { Backend, BackendChoice, BackendName } from './backend';
import { referenceBackend } from './reference';
import { Check } from '../errors';

/** Native backends register themselves here once they implement every op (issues 3 and 4). */
const nativeBackends: Partial<Record<Exclude<BackendName, 'reference'>, Backend>> = {};

export function registerBackend(b: Backend): void {
  if (b.name !== 'reference') nativeBackends[b.name] = b;
}

/** The backend that will run an op for `choice` (default 'auto'). */
export function selectBackend(op: string, choice: unknown = 'auto'): Backend {
  const c = new Check(op).oneOf('backend', choice, ['auto', 'reference', 'cpu', 'cuda'] as const) as BackendChoice;
  if (c === 'reference') return referenceBackend;
  if (c === 'auto') return nativeBackends.cuda ?? nativeBackends.cpu ?? referenceBackend;
  const b = nativeBackends[c];
  if (!b) {
    throw new Error(`${op}: the '${c}' backend does not implement the ops yet in this version; use 'reference' or 'auto' (see capabilities())`);
  }
  return b;
}

/** Names of the backends that can run ops now. */
export function availableBackends(): BackendName[] {
  return ['reference', ...(Object.keys(nativeBackends) as BackendName[])];
}

export type { Backend, BackendChoice, BackendName };
