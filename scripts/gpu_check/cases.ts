// The GPU check's case table: what one correctness case is, and the full list for a run. Sizes include odd
// ones (7, 255, 4097, ...) so no kernel can lean on multiples of a warp or a tile.

import type { BackendName } from '../../lib/backends/backend';
import type { OpId } from '../../lib/backends/backend';
import type { Out } from './compare';
import { routeCases } from './cases_route';
import { convertCases, gemmCases, permuteCases, statsCases, unpermuteCases } from './cases_ops';

export interface CheckCase {
  op: OpId;
  /** Printable: what the case covers. */
  name: string;
  /** Small enough for the sanitizer run. */
  small: boolean;
  /** Runs the case on `backend` (through the public op, so validation runs too) and returns its outputs. */
  run(backend: BackendName): Record<string, Out>;
}

export interface CaseOptions {
  /** Small sizes only (the sanitizer mode). */
  small: boolean;
  /** Fewer sizes (a faster smoke run). */
  quick: boolean;
}

export function allCases(o: CaseOptions): CheckCase[] {
  const sizes = o.small ? [1, 7, 33] : o.quick ? [1, 7, 255] : [1, 7, 255, 4097];
  const cases = [
    ...routeCases(sizes),
    ...permuteCases(sizes),
    ...gemmCases(o.quick || o.small),
    ...unpermuteCases(o.small ? [1, 7] : sizes.slice(0, 3)),
    ...statsCases(sizes),
    ...convertCases(o.small ? [1, 7, 4099] : [1, 7, 4099, 1 << 20]),
  ];
  return o.small ? cases.filter((c) => c.small) : cases;
}
