// Huge sizes: element offsets past 2^31 (T·k·H in a real prefill) are computed in 64 bits, and sizes no typed
// array can hold are a RangeError naming the argument. Each case runs in a child process (huge.child.ts
// says what each one does): a 32-bit offset there would read or write the wrong row, or crash.
// The sparse cases cost little memory (untouched pages of a calloc'd array are the shared zero page); the
// full ones write 4 GiB and run only when that much memory is available. Skips say why.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { selectBackend } from '../../lib/backends';
import type { OpId } from '../../lib/backends/backend';

const REGISTER = path.join(__dirname, 'ts-register.js');
const GiB = 1024 ** 3;

function availableBytes(): number | null {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function nativeWhyNot(op: OpId): string | null {
  try {
    selectBackend(op, 'cpu');
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
}

interface Case {
  name: string;
  op: OpId;
  what: string;
  /** Bytes the case writes (0: sparse). */
  writes: number;
  /** Why the reference backend does not run it, or null when it does. */
  referenceSkip: string | null;
}

const CASES: Case[] = [
  { name: 'permute-sparse', op: 'permute', what: 'permute gathers rows of x [2^21 + 5, 1024] bf16 across element 2^31', writes: 0, referenceSkip: null },
  {
    name: 'gemm-sparse', op: 'grouped_gemm', what: 'grouped_gemm reads rows of A [65537, 32768] bf16 across element 2^31', writes: 0,
    referenceSkip: 'the reference decodes A to an f32 copy (8 GiB) and takes ~25 s; its indices are float64 JS numbers',
  },
  {
    name: 'convert-full', op: 'convert', what: 'convert bf16 -> f16 in place over 2^31 + 33 elements (4 GiB)', writes: 4 * GiB,
    referenceSkip: 'the reference converts element by element in JS (about a minute for 2^31); its indices are float64 JS numbers',
  },
  {
    name: 'unpermute-full', op: 'unpermute', what: 'unpermute writes out [2^21 + 5, 1024] bf16 (4 GiB) across element 2^31', writes: 4 * GiB,
    referenceSkip: 'the reference sums 2^31 elements in JS (about a minute); its indices are float64 JS numbers',
  },
  { name: 'limits', op: 'grouped_gemm', what: 'outputs past the typed-array limit and rows past int32 are RangeErrors naming the argument', writes: 0, referenceSkip: null },
];

describe('huge sizes', () => {
  const avail = availableBytes();
  for (const c of CASES) {
    for (const backend of ['cpu', 'reference'] as const) {
      const title = `${c.what} (${backend})`;
      let skip: string | null = backend === 'reference' ? c.referenceSkip : nativeWhyNot(c.op);
      // The child holds the array plus the runtime: ask for 2 GiB to spare.
      if (!skip && c.writes > 0 && (avail === null || avail < c.writes + 2 * GiB)) {
        skip = `needs ${(c.writes + 2 * GiB) / GiB} GiB of available memory, ${avail === null ? 'unknown here' : `${(avail / GiB).toFixed(1)} GiB available`}`;
      }
      if (skip) {
        test.skip(`${title}: ${skip}`, () => undefined);
        continue;
      }
      test(title, () => {
        const r = spawnSync(process.execPath, ['--max-old-space-size=512', '-r', REGISTER, path.join(__dirname, 'huge.child.ts'), c.name, backend], {
          encoding: 'utf8', timeout: 170_000,
        });
        if (r.status !== 0) throw new Error(`huge.child.ts ${c.name} ${backend} died (${r.signal ?? `exit ${r.status}`}):\n${`${r.stdout}${r.stderr}`.slice(-3000)}`);
        const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { problems: string[]; ms: number; rssMB: number };
        console.log(`huge ${c.name} (${backend}): ${out.ms} ms, peak RSS ${out.rssMB} MB`);
        expect(out.problems).toEqual([]);
      }, 180_000);
    }
  }
});
