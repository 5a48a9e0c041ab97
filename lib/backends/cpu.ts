// The `cpu` backend: the native addon's CPU kernels. The wiring of each op lives in its own file,
// lib/backends/cpu/<op id>.ts, exporting `wiring: CpuWiring<method>`; this file looks the files up by op id,
// so adding an op adds a file and edits nothing here. An op whose file is missing, or whose native
// functions the loaded binary lacks (a stale build), is not implemented: implements(op) is false, 'auto'
// passes it to the reference, and an explicit backend 'cpu' throws an Error naming the op.

import type { NativeAddon } from '../native';
import { Backend, OP_IDS, OP_METHODS, OpArgs, OpId, OpMethod, OpResult } from './backend';

/** What lib/backends/cpu/<op id>.ts exports as `wiring`. Outputs come from validation or allocOutput()
 *  (./alloc); the addon writes into them and the wiring builds the result object. */
export interface CpuWiring<M extends OpMethod> {
  /** Addon functions the wiring calls (e.g. ['convert', 'convertAsync']); all must exist in the binary. */
  readonly natives: readonly string[];
  sync(addon: NativeAddon, a: OpArgs<M>): OpResult<M>;
  async(addon: NativeAddon, a: OpArgs<M>): Promise<OpResult<M>>;
}

type AnyWiring = CpuWiring<OpMethod>;

/** The wiring of `op`, or why there is none. Only a missing file counts as "not implemented": any other
 *  error in a wiring file is a bug and propagates. */
function loadWiring(op: OpId, addon: NativeAddon): { wiring: AnyWiring } | { why: string } {
  const spec = `./cpu/${op}`;
  let mod: { wiring?: AnyWiring };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(spec) as { wiring?: AnyWiring };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${spec}'`)) {
      return { why: `there is no native CPU implementation of it yet (no lib/backends/cpu/${op}.ts)` };
    }
    throw e;
  }
  const w = mod.wiring;
  if (!w) throw new Error(`lib/backends/cpu/${op}.ts exports no 'wiring'`);
  const fns = addon as unknown as Record<string, unknown>;
  const missing = w.natives.filter((n) => typeof fns[n] !== 'function');
  if (missing.length) return { why: `the loaded native binary lacks ${missing.join(', ')} (rebuild it: npm run build:native)` };
  return { wiring: w };
}

function notImplemented(op: string, backend: string, why: string): Error {
  return new Error(`${op}: the '${backend}' backend does not implement '${op}': ${why}; use backend 'reference' or 'auto'`);
}

const created = new WeakMap<Backend, NativeAddon>();

/** The addon behind `b` when `b` is a cpu backend made by createCpuBackend (not another one registered
 *  under the name 'cpu'), else null. */
export function nativeCpuAddon(b: Backend): NativeAddon | null {
  return created.get(b) ?? null;
}

/** The cpu backend over a loaded addon. `whyNot(op)` says why an op is not implemented (null when it is). */
export function createCpuBackend(addon: NativeAddon): Backend & { whyNot(op: OpId): string | null } {
  const methods: Record<string, unknown> = {};
  const reasons = new Map<OpId, string>();
  for (const op of OP_IDS) {
    const m = OP_METHODS[op];
    const found = loadWiring(op, addon);
    if ('wiring' in found) {
      const w = found.wiring;
      methods[m] = (a: OpArgs<OpMethod>) => w.sync(addon, a);
      methods[`${m}Async`] = (a: OpArgs<OpMethod>) => w.async(addon, a);
    } else {
      reasons.set(op, found.why);
      methods[m] = () => {
        throw notImplemented(op, 'cpu', found.why);
      };
      methods[`${m}Async`] = () => Promise.reject(notImplemented(op, 'cpu', found.why));
    }
  }
  const backend = {
    ...(methods as unknown as Omit<Backend, 'name' | 'implements'>),
    name: 'cpu' as const,
    implements: (op: OpId) => OP_IDS.includes(op) && !reasons.has(op),
    whyNot: (op: OpId) => (OP_IDS.includes(op) ? reasons.get(op) ?? null : `'${op}' is not a backend op`),
  };
  created.set(backend, addon);
  return backend;
}
