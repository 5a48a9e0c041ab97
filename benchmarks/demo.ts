// The main job (README quick start): what this machine offers, then one MoE layer of every preset on every
// backend that can run ops here, timed (median of a few runs), with the routing statistics and losses.
// The native backends join the table as they land (issues 3 and 4); until then 'auto' is the reference.
//
//   node dist/benchmarks/demo.js [--tokens 16] [--full]     (--full: the published layer sizes)

import { auxLoss, availableBackends, capabilities, MoELayer, preset, PRESET_NAMES, Rng } from '../lib';
import type { BackendName, Tensor } from '../lib';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const T = arg('tokens', 16);
  const full = process.argv.includes('--full');
  const caps = capabilities();
  console.log('moe-kernels demo');
  console.log(`native: ${JSON.stringify(caps)}`);
  const backends: BackendName[] = availableBackends();
  console.log(`backends that run ops here: ${backends.join(', ')}\n`);

  const rows: string[][] = [['preset', 'shape (H, I, E, k)', 'backend', 'tokens', 'median ms', 'GFLOP/s', 'mean k', 'L_aux', 'L_z']];
  for (const name of PRESET_NAMES) {
    // Reduced sizes by default so the reference finishes in seconds; --full runs the published sizes.
    const cfg = preset(name, full ? {} : { hidden: 256, intermediate: 128 });
    const layer0 = MoELayer.random(cfg, 1);
    const { hidden: H, intermediate: I, experts: E, topK } = layer0.config;
    const x: Tensor<'f32'> = { data: new Rng(2).f32(T * H), shape: [T, H], dtype: 'f32' };
    for (const backend of backends) {
      const layer = MoELayer.random(cfg, 1, { backend });
      const times: number[] = [];
      let last = layer.forward({ x });
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        last = layer.forward({ x });
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const ms = median(times);
      // FLOPs of the routed FFN rows actually computed (2 per multiply-add), router excluded.
      const glu = cfg.activation === 'swiglu' || cfg.activation === 'geglu' ? 3 : 2;
      const ffnRows = last.routing.ids.data.reduce((n, id) => n + (id >= 0 && id < E ? 1 : 0), 0);
      const flops = 2 * ffnRows * H * I * glu;
      const s = last.stats!;
      const loss = auxLoss({ counts: s.counts.data, tokens: s.tokens, probSum: s.probSum.data, localTokens: s.tokens, k: topK, fNormalization: 'selections', selections: s.selections, zSquareSum: s.zSquareSum ?? 0, zTokens: s.tokens });
      rows.push([name, `${H}, ${I}, ${E}, ${topK}`, backend, String(T), ms.toFixed(2), (flops / ms / 1e6).toFixed(2),
        (s.selections / s.tokens).toFixed(2), loss.loadBalance.toFixed(4), loss.zLoss.toFixed(3)]);
    }
  }
  const width = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((v, c) => v.padStart(width[c]!)).join('  '));
  console.log('\nTimes are medians of 3 runs on this machine; the reference is the correctness oracle, not a fast path.');
}

main();
