// Issue 3's performance targets (2-core machine, 2 threads, the whole Qwen3-30B-A3B layer), each evaluated
// from a run's rows against the ceilings measured in the same run, with the number behind met / missed and,
// for a miss, where the time went (the layer against the sum of its ops).

import { CeilingSet, ceilingFor } from './ceilings';
import type { BenchResult } from './results';

export interface TargetResult {
  target: string;
  measured: string;
  /** null: the rows it needs were not run. */
  met: boolean | null;
  detail?: string;
}

const SHAPE = 'qwen3';

export function evaluateTargets(rows: readonly BenchResult[], c: CeilingSet): TargetResult[] {
  const cpuThreads = rows.filter((r) => r.backend === 'cpu' && r.threads !== null).map((r) => r.threads!);
  const thr = cpuThreads.includes(2) ? 2 : cpuThreads.length ? Math.max(...cpuThreads) : 2;
  const find = (op: string, T: number, dtype: string, backend = 'cpu', threads: number | null = thr) =>
    rows.find((r) => r.op === op && r.shape === SHAPE && r.tokens === T && r.dtype === dtype && r.backend === backend && r.threads === threads);
  const bw = ceilingFor(c, thr)?.bwGBs ?? null;
  const peak = ceilingFor(c, thr)?.fmaGflops ?? null;
  const thrNote = thr === 2 ? '' : ` (${thr} threads: no 2-thread rows in this run)`;

  /** Where a layer's time went: its ops at the same T, dtype and threads. */
  const breakdown = (T: number, dtype: string): string => {
    const layer = find('layer', T, dtype);
    const parts = ['route', 'permute', 'grouped_gemm.w1', 'grouped_gemm.w2', 'unpermute', 'router_stats']
      .map((op) => [op, find(op, T, op.startsWith('route') ? 'f32' : dtype)] as const)
      .filter(([, r]) => r !== undefined);
    if (!layer || !parts.length) return '';
    const sum = parts.reduce((a, [, r]) => a + r!.ms, 0);
    const list = parts.map(([op, r]) => `${op} ${r!.ms.toFixed(2)}`).join(', ');
    const other = layer.ms - sum;
    return `where the time goes: its ops timed alone (ms): ${list}, sum ${sum.toFixed(2)}; ` +
      (other >= 0 ? `the router GEMM and the glue between ops: about ${other.toFixed(2)} ms` : 'the ops timed alone sum to more than the layer (run-to-run variation)');
  };

  const share = (r: BenchResult): string => (r.cpuShare === null || r.cpuShare === undefined ? '' : `, cpu ${(100 * r.cpuShare).toFixed(0)}%`);
  const out: TargetResult[] = [];
  const stream = (T: number, limit: number): TargetResult => {
    const r = find('layer', T, 'f32');
    const target = `T=${T}, f32 weights: layer within ${limit}x of streaming the routed experts' weights at the measured bandwidth${thrNote}`;
    if (!r || bw === null) return { target, measured: 'not measured in this run', met: null };
    const floor = r.bytes / bw / 1e6;
    const x = r.ms / floor;
    return {
      target,
      measured: `${r.ms.toFixed(2)} ms${share(r)} vs ${floor.toFixed(2)} ms floor (${(r.bytes / 1e6).toFixed(1)} MB at ${bw.toFixed(1)} GB/s): ${x.toFixed(2)}x`,
      met: x <= limit,
      ...(x > limit ? { detail: breakdown(T, 'f32') } : {}),
    };
  };
  out.push(stream(1, 1.1));
  {
    const f = find('layer', 1, 'f32');
    const b = find('layer', 1, 'bf16');
    const target = `T=1, bf16 weights: at most 0.55x the f32 time${thrNote}`;
    if (!f || !b) out.push({ target, measured: 'not measured in this run', met: null });
    else {
      const x = b.ms / f.ms;
      out.push({ target, measured: `${b.ms.toFixed(2)} ms vs ${f.ms.toFixed(2)} ms: ${x.toFixed(2)}x`, met: x <= 0.55, ...(x > 0.55 ? { detail: breakdown(1, 'bf16') } : {}) });
    }
  }
  out.push(stream(32, 1.25));
  const gemms = (dtype: string) => {
    const a = find('grouped_gemm.w1', 512, dtype);
    const b = find('grouped_gemm.w2', 512, dtype);
    return a && b ? { ms: a.ms + b.ms, flop: a.flop + b.flop, cpu: share(a).replace(',', ' (W1') + (share(a) ? ')' : '') } : null;
  };
  {
    const g = gemms('f32');
    const target = `T=512: the expert GEMMs (W1 + W2, f32) at >= 70% of the measured f32 FMA peak${thrNote}`;
    if (!g || peak === null) out.push({ target, measured: 'not measured in this run', met: null });
    else {
      const rate = g.flop / g.ms / 1e6;
      const pct = (100 * rate) / peak;
      out.push({ target, measured: `${rate.toFixed(1)} GFLOP/s of ${peak.toFixed(1)}: ${pct.toFixed(1)}%${g.cpu}`, met: pct >= 70 });
    }
  }
  {
    const f = gemms('f32');
    const b = gemms('bf16');
    const target = `T=512: the expert GEMMs with bf16 weights (vdpbf16ps) >= 1.7x faster than f32${thrNote}`;
    if (!f || !b) out.push({ target, measured: 'not measured in this run', met: null });
    else {
      const x = f.ms / b.ms;
      const layerF = find('layer', 512, 'f32'), layerB = find('layer', 512, 'bf16');
      const lay = layerF && layerB ? `; whole layer ${(layerF.ms / layerB.ms).toFixed(2)}x` : '';
      out.push({ target, measured: `${f.ms.toFixed(1)} ms vs ${b.ms.toFixed(1)} ms: ${x.toFixed(2)}x${lay}`, met: x >= 1.7 });
    }
  }
  {
    const n = find('layer', 512, 'f32');
    const ref = find('layer', 512, 'f32', 'reference', null);
    const target = `T=512: the native layer >= 100x faster than the reference${thrNote}`;
    if (!n || !ref) out.push({ target, measured: 'not measured in this run', met: null });
    else {
      const x = ref.ms / n.ms;
      out.push({ target, measured: `reference ${(ref.ms / 1000).toFixed(1)} s vs ${n.ms.toFixed(1)} ms: ${x.toFixed(0)}x`, met: x >= 100 });
    }
  }
  return out;
}
