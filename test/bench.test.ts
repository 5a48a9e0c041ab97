// The benchmark suite's own checks: the onnxruntime peer agrees with our layer, the ONNX writer and the
// W1 interleaving are right, the runner validates before it times (and catches a wrong kernel), options
// are checked, the targets are judged from the rows, and the charts render. Small shapes only: the real
// ones are what `npm run bench` is for.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MoELayer, preset } from '../lib';
import type { FloatDType, Tensor } from '../lib';
import { Flusher } from '../benchmarks/ceilings';
import { BenchContext, BenchOptions, OpCase, runOpCase } from '../benchmarks/context';
import { groupedGemmCases } from '../benchmarks/grouped_gemm.bench';
import { benchLayer } from '../benchmarks/layer.bench';
import { interleaveW1, loadOrt, moeModel } from '../benchmarks/peers/onnxruntime';
import { toHtml, toMarkdown, formatTable, BenchRun } from '../benchmarks/report';
import type { BackendId, BenchResult } from '../benchmarks/results';
import { dimsOf, makeInputs, makeWeights, SHAPES, toDtype } from '../benchmarks/shapes';
import { barChart, lineChart } from '../benchmarks/svg';
import { evaluateTargets } from '../benchmarks/targets';
import { Progress, QUICK_PLAN } from '../benchmarks/timing';
import { opInputs } from '../benchmarks/workload';
import { parseBenchArgs, benchMain } from '../benchmarks/cli';
import { availableBackends } from '../lib';
import { relErr } from './util';

const small = preset('qwen3-moe', { hidden: 64, intermediate: 24, experts: 8, topK: 2 });

function options(backends: BackendId[]): BenchOptions {
  return {
    quick: true, backends, shapes: ['qwen3'], tokens: [3], threads: [1, 2], dtypes: ['f32'], ops: ['layer'],
    progress: false, refBudget: 1e9, forceReference: [], command: 'test',
  };
}

function context(backends: BackendId[]): BenchContext {
  return new BenchContext(null, options(backends), { ...QUICK_PLAN, maxReps: 2, targetMs: 0 }, { start: [] }, new Flusher(null, 1 << 20), new Progress(0, false));
}

describe('onnxruntime peer', () => {
  const { ort, why } = loadOrt();

  test('interleaveW1 puts gate row j at 2j and up row j at 2j + 1', () => {
    const E = 2, I = 3, H = 2;
    const w = Float32Array.from({ length: E * 2 * I * H }, (_, i) => i);
    const out = interleaveW1(w, E, I, H);
    for (let e = 0; e < E; e++) for (let j = 0; j < I; j++) for (let h = 0; h < H; h++) {
      expect(out[((e * 2 * I) + 2 * j) * H + h]).toBe(w[(e * 2 * I + j) * H + h]);
      expect(out[((e * 2 * I) + 2 * j + 1) * H + h]).toBe(w[(e * 2 * I + I + j) * H + h]);
    }
  });

  test('the model bytes name the com.microsoft MoE node and its attributes', () => {
    const text = Buffer.from(moeModel({ H: 8, I: 4, E: 4, k: 2, normalize: true, threads: 1 })).toString('latin1');
    for (const s of ['com.microsoft', 'MoE', 'swiglu_fusion', 'normalize_routing_weights', 'activation_type', 'swiglu', 'Gemm']) expect(text).toContain(s);
  });

  // onnxruntime-node builds its output tensors with the main realm's Float32Array, which jest's sandbox does
  // not recognise, so the session runs in a child node process on files this test writes.
  (ort ? test : test.skip)(`MoE + Gemm agree with MoELayer on the same weights (${why ?? 'onnxruntime-node loaded'})`, () => {
    const d = dimsOf(small);
    const w = makeWeights(small, 3);
    const x = makeInputs(5, d.H, 'f32', 1)[0]!;
    const ours = new MoELayer(small, w, { backend: 'reference' }).forward({ x }).out;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-ort-'));
    try {
      const put = (name: string, a: Float32Array | Uint8Array) => fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      put('model.onnx', moeModel({ H: d.H, I: d.I, E: d.E, k: d.k, normalize: true, threads: 1 }));
      put('x', x.data as Float32Array);
      put('router_w', (w.router as Tensor).data as Float32Array);
      put('fc1', interleaveW1((w.w1 as Tensor).data as Float32Array, d.E, d.I, d.H));
      put('fc2', (w.w2 as Tensor).data as Float32Array);
      const script = `
        const ort = require('onnxruntime-node'), fs = require('fs'), p = require('path'), dir = process.argv[1];
        const rd = (n) => { const b = fs.readFileSync(p.join(dir, n)); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
        (async () => {
          const s = await ort.InferenceSession.create(fs.readFileSync(p.join(dir, 'model.onnx')), { intraOpNumThreads: 1 });
          const t = (n, dims) => new ort.Tensor('float32', rd(n), dims);
          const out = await s.run({ x: t('x', [5, ${d.H}]), router_w: t('router_w', [${d.E}, ${d.H}]), fc1: t('fc1', [${d.E}, ${2 * d.I}, ${d.H}]), fc2: t('fc2', [${d.E}, ${d.H}, ${d.I}]) });
          fs.writeFileSync(p.join(dir, 'y'), Buffer.from(out.y.data.buffer, out.y.data.byteOffset, out.y.data.byteLength));
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const r = spawnSync(process.execPath, ['-e', script, dir], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const b = fs.readFileSync(path.join(dir, 'y'));
      const y = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
      expect(relErr(y, ours.data as Float32Array)).toBeLessThan(1e-5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runner', () => {
  test('validates every backend before timing, and a wrong kernel fails validation', () => {
    const backends: BackendId[] = ['reference', ...(availableBackends().includes('cpu') ? ['cpu' as const] : [])];
    const ctx = context(backends);
    const w = makeWeights(small, 1);
    const inp = opInputs(small, w, 'f32', 6, 2);
    for (const c of groupedGemmCases(inp, 'tiny', 0)) runOpCase(ctx, c as OpCase<unknown>);
    expect(ctx.results.filter((r) => r.backend === 'reference')).toHaveLength(2);
    expect(ctx.results.every((r) => r.validation.ok && r.ms > 0 && r.samples.length >= 1)).toBe(true);

    const bad = groupedGemmCases(inp, 'tiny', 0)[0]!;
    const broken: OpCase<unknown> = { ...bad, refCost: Infinity, check: (out) => bad.check({ y: { ...(out as { y: Tensor }).y, data: new Float32Array((out as { y: Tensor }).y.data.length) } } as never, null) } as OpCase<unknown>;
    const ctx2 = context(['cpu']);
    if (backends.includes('cpu')) {
      runOpCase(ctx2, broken);
      expect(ctx2.results.length).toBeGreaterThan(0);
      expect(ctx2.results.every((r) => !r.validation.ok)).toBe(true);
    }
  });

  test.each(['f32', 'bf16'] as FloatDType[])('layer rows (%s) are validated on sampled tokens when the reference is not timed', async (dtype) => {
    const backends: BackendId[] = availableBackends().includes('cpu') ? ['cpu'] : ['reference'];
    const ctx = context(backends);
    const cfg = { ...small, dtype };
    const w = toDtype(makeWeights(small, 2), dtype);
    await benchLayer(ctx, { shape: SHAPES[0]!, cfg, d: dimsOf(cfg), dtype, w, flushBelow: 0 }, 9);
    expect(ctx.results.length).toBeGreaterThan(0);
    for (const r of ctx.results) {
      expect(r.validation.ok).toBe(true);
      expect(r.flop).toBeGreaterThan(0);
      expect(r.bytes).toBe(Math.round(r.bytes));
    }
  });
});

describe('options, targets, report', () => {
  test('bad options are usage errors (exit code 2)', async () => {
    const err = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await benchMain(['--shape', 'gpt-5'])).toBe(2);
      expect(await benchMain(['--tokens', '0'])).toBe(2);
      expect(await benchMain(['--frobnicate'])).toBe(2);
      expect(String(err.mock.calls[0]![0])).toContain("'--shape' must be among");
    } finally {
      err.mockRestore();
    }
    const o = parseBenchArgs(['--quick', '--tokens=1,4', '--threads', '1']);
    expect(o.tokens).toEqual([1, 4]);
    expect(o.threads).toEqual([1]);
    expect(o.shapes).toEqual(['qwen3']);
    expect(parseBenchArgs([]).forceReference).toEqual([{ shape: 'qwen3', tokens: 512 }]);
  });

  const row = (op: string, T: number, dtype: string, backend: BackendId, threads: number | null, ms: number, flop: number, bytes: number): BenchResult => ({
    op, shape: 'qwen3', tokens: T, dtype, backend, threads, ms, samples: [ms], flop, bytes, bytesKind: 'weights',
    validation: { ok: true, err: 0, tol: 1e-5, against: 'test' },
  });
  const ceilings = { start: [{ threads: 2, fmaGflops: 100, fmaCpuGflops: 100, bwGBs: 10, path: 'avx512', how: 'native' as const }] };
  const rows = [
    row('layer', 1, 'f32', 'cpu', 2, 10.5, 1e6, 100e6), // floor 10 ms: 1.05x
    row('layer', 1, 'bf16', 'cpu', 2, 6, 1e6, 50e6), // 0.57x of f32: missed
    row('layer', 32, 'f32', 'cpu', 2, 13, 1e8, 100e6), // 1.3x: missed
    row('grouped_gemm.w1', 512, 'f32', 'cpu', 2, 100, 8e9, 1e6), row('grouped_gemm.w2', 512, 'f32', 'cpu', 2, 50, 4e9, 1e6), // 80 GFLOP/s: 80%
    row('grouped_gemm.w1', 512, 'bf16', 'cpu', 2, 50, 8e9, 1e6), row('grouped_gemm.w2', 512, 'bf16', 'cpu', 2, 40, 4e9, 1e6), // 1.67x: missed
    row('layer', 512, 'f32', 'cpu', 2, 200, 1.3e10, 1e6), row('layer', 512, 'f32', 'reference', null, 30000, 1.3e10, 1e6), // 150x
  ];

  test('issue 3 targets are judged from the rows and the measured ceilings', () => {
    const t = evaluateTargets(rows, ceilings);
    expect(t.map((x) => x.met)).toEqual([true, false, false, true, false, true]);
    expect(t[0]!.measured).toContain('1.05x');
    expect(t[3]!.measured).toContain('80.0%');
    expect(evaluateTargets([], ceilings).every((x) => x.met === null)).toBe(true);
  });

  test('the table, Markdown and HTML carry the rows, ratios and charts, with no external assets', () => {
    const run: BenchRun = {
      machine: { cpu: 'test cpu', logicalCpus: 2, l3Bytes: null, memBytes: 1, os: 'x', node: 'v20', commit: 'abc', simd: 'avx512', cuda: 'none', binary: 'test.node', loadStart: [0, 0, 0], date: 'now' },
      ceilings, options: options(['cpu']), results: rows, skipped: ['something <skipped>'], targets: evaluateTargets(rows, ceilings), onnxruntime: null, durationS: 1,
    };
    expect(formatTable(run)).toContain('150.0x');
    const md = toMarkdown(run);
    expect(md).toContain('| met |');
    expect(md).toContain('MISSED');
    const html = toHtml(run);
    expect(html).toContain('<svg');
    expect(html).toContain('something &lt;skipped&gt;');
    expect(html).not.toMatch(/(src|href)=["']https?:/);
    expect(lineChart('t', 'x', 'y', [{ name: 'a<b', color: '#000', points: [[1, 2], [32, 5]] }])).toContain('a&lt;b');
    expect(barChart('t', ['T=1'], 'y', [{ name: 's', color: '#000', values: [150] }])).toContain('150');
  });
});
