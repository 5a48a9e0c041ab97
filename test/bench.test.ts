// The benchmark suite's own checks: the onnxruntime peer agrees with our layer, the ONNX writer and the
// W1 interleaving are right, the runner validates before it times (and catches a wrong kernel), options
// are checked, the targets are judged from the rows, and the charts render. Small shapes only: the real
// ones are what `npm run bench` is for.

import { spawnSync } from 'child_process';
import { Writable } from 'stream';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MoELayer, preset } from '../lib';
import type { FloatDType, Tensor } from '../lib';
import { cpuId, Flusher } from '../benchmarks/ceilings';
import { BenchContext, BenchOptions, OpCase, runOpCase } from '../benchmarks/context';
import { groupedGemmCases } from '../benchmarks/grouped_gemm.bench';
import { benchLayer } from '../benchmarks/layer.bench';
import { interleaveW1, loadOrt, moeModel } from '../benchmarks/peers/onnxruntime';
import { toHtml, toMarkdown, formatTable, BenchRun } from '../benchmarks/report';
import type { BackendId, BenchResult } from '../benchmarks/results';
import { dimsOf, makeInputs, makeWeights, SHAPES, toDtype } from '../benchmarks/shapes';
import { barChart, lineChart } from '../benchmarks/svg';
import { evaluateTargets, targetStatus } from '../benchmarks/targets';
import { measurePaired } from '../benchmarks/paired';
import type { PairedKind, PairedResult } from '../benchmarks/paired';
import { loadNative } from '../lib/native';
import { Progress } from '../benchmarks/progress';
import { QUICK_PLAN } from '../benchmarks/timing';
import { opInputs } from '../benchmarks/workload';
import { parseBenchArgs, benchMain } from '../benchmarks/cli';
import { main } from '../lib/cli/main';
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

  test('timed calls write into given outputs; a case whose into-call differs from its fresh call fails validation', () => {
    const backends: BackendId[] = ['reference', ...(availableBackends().includes('cpu') ? ['cpu' as const] : [])];
    const w = makeWeights(small, 1);
    const inp = opInputs(small, w, 'f32', 6, 2);
    const [c] = groupedGemmCases(inp, 'tiny', 0) as OpCase<{ y: Tensor }>[];
    const outs = new Set<ArrayBufferLike>();
    const spy: OpCase<{ y: Tensor }> = { ...c!, into: (b, rep) => { const r = c!.into!(b, rep); outs.add(r.y.data.buffer); return r; } };
    const ctx = context(backends);
    runOpCase(ctx, spy as OpCase<unknown>);
    expect(ctx.results.every((r) => r.validation.ok)).toBe(true);
    // One output per input set (2 here), reused by every timed call of every backend.
    expect(outs.size).toBe(2);

    const wrong: OpCase<{ y: Tensor }> = { ...c!, into: (b, rep) => { const r = c!.into!(b, rep); (r.y.data as Float32Array)[0]! += 1; return r; } };
    const ctx2 = context(backends);
    runOpCase(ctx2, wrong as OpCase<unknown>);
    const native = ctx2.results.filter((r) => r.backend !== 'reference');
    expect(native.length).toBe(backends.includes('cpu') ? ctx2.opts.threads.length : 0);
    expect(native.every((r) => !r.validation.ok && /into given arrays differs/.test(r.validation.note ?? ''))).toBe(true);
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
  /** Runs `f` with console.log / console.error captured; returns its result and what each printed. */
  async function captured<T>(f: () => T | Promise<T>): Promise<{ result: T; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      return { result: await f(), out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  }

  test.each([
    [['--shape', 'qwen3,gpt-5'], "moe-kernels bench: option '--shape <list>' argument 'qwen3,gpt-5' is invalid. 'gpt-5' is not one of: qwen3, mixtral, deepseek-v3, moe++, switch."],
    [['--backend', 'gpu'], "'gpu' is not one of: reference, cpu, cuda, onnxruntime."],
    [['--ops=layer,gemm'], "'gemm' is not one of: route, permute, grouped_gemm, unpermute, router_stats, convert, layer."],
    [['--tokens', '0'], "Values must be integers in [1, 65536], got '0'."],
    [['--threads', '2.5'], "Values must be integers in [1, 1024], got '2.5'."],
    [['--dtype', ','], 'It needs a comma-separated list.'],
    [['--ref-budget', 'x'], 'It must be a number >= 0.'],
    [['--json'], "moe-kernels bench: option '--json <file>' argument missing"],
    [['--frobnicate'], "moe-kernels bench: unknown option '--frobnicate'"],
    [['--quik'], '(Did you mean --quick?)'],
    [['--no-progress=1'], "unknown option '--no-progress=1'"],
    [['qwen3'], 'moe-kernels bench: too many arguments'],
  ])('bad options %j: a usage error (exit code 2) that says what is wrong, then the usage', async (argv, message) => {
    const r = await captured(() => benchMain(argv));
    expect(r.result).toBe(2);
    expect(r.err.split('\n\n')[0]).toContain(message); // the message (and commander's suggestion), then the usage
    expect(r.err).toContain('Usage: moe-kernels bench [options]');
    expect(r.out).toBe('');
  });

  test('options: lists, --quick defaults, inline values, --no-progress, --help', async () => {
    const o = parseBenchArgs(['--quick', '--tokens=1,4', '--threads', '1', '--backend', 'reference', '--dtype', 'bf16', '--json', 'r.json']);
    expect(o).toMatchObject({ quick: true, tokens: [1, 4], threads: [1], shapes: ['qwen3'], backends: ['reference'], dtypes: ['bf16'], json: 'r.json', progress: true, refBudget: 0.4e9, forceReference: [] });
    expect(o.command).toBe('moe-kernels bench --quick --tokens=1,4 --threads 1 --backend reference --dtype bf16 --json r.json');
    expect('report' in o).toBe(false);
    const full = parseBenchArgs(['--no-progress', '--ref-budget', '0', '--ops', 'layer', '--shape', 'mixtral,switch']);
    expect(full).toMatchObject({ quick: false, progress: false, refBudget: 0, ops: ['layer'], shapes: ['mixtral', 'switch'], tokens: [1, 32, 512], dtypes: ['f32', 'bf16'] });
    expect(full.forceReference).toEqual([{ shape: 'qwen3', tokens: 512 }]);
    expect(parseBenchArgs(['--tokens', '1', '--tokens', '8']).tokens).toEqual([8]); // the last one counts

    const help = await captured(() => benchMain(['--help']));
    expect(help.result).toBe(0);
    expect(help.out).toMatch(/^Usage: moe-kernels bench \[options\]/);
    for (const opt of ['--quick', '--backend <list>', '--shape <list>', '--tokens <list>', '--threads <list>', '--dtype <list>', '--ops <list>',
      '--json <file>', '--report <file>', '--markdown <file>', '--ref-budget <G>', '--no-progress', '--help']) expect(help.out).toContain(opt);
  });

  test('`moe-kernels bench ARGS` hands every argument, --help included, to the suite', async () => {
    const help = await captured(() => main(['bench', '--help']));
    expect(help.result).toBe(0);
    expect(help.out).toMatch(/^Usage: moe-kernels bench \[options\]/);
    const bad = await captured(() => main(['bench', '--quick', '--tokens', '-3']));
    expect(bad.result).toBe(2);
    expect(bad.err).toMatch(/^moe-kernels bench: option '--tokens <list>' argument '-3' is invalid/);
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

  test('side-by-side pairs, where a run has them, decide the targets; the rows are shown next to them', () => {
    const pair = (kind: PairedKind, tokens: number, ratio: number, first: number, second: number, amount = 0): PairedResult =>
      ({ kind, tokens, threads: 2, ratio, lo: ratio * 0.9, hi: ratio * 1.1, pairs: 5, first, second, amount, samples: [[first, second]] });
    const paired = [
      pair('floor', 1, 1.2, 12, 10, 100e6), // the row says 1.05x (met), the pairs 1.2x: missed
      pair('bf16', 1, 0.5, 10, 5), // the row says 0.57x, the pairs 0.5x: met
      pair('floor', 32, 1.1, 11, 10, 100e6), // the row 1.3x, the pairs 1.1x: met
      pair('peak', 512, 0.65, 150, 110, 12e9), // the row 80%, the pairs 65%: missed
      pair('dp', 512, 1.8, 150, 83), // the row 1.67x, the pairs 1.8x: met
    ];
    const t = evaluateTargets(rows, ceilings, paired);
    expect(t.map((x) => x.met)).toEqual([false, true, true, false, true, true]);
    expect(t[0]!.measured).toMatch(/^side by side: 1\.20x \(median of 5 interleaved pairs, middle half 1\.08x-1\.32x\).*Table rows: .*1\.05x/);
    expect(t[3]!.measured).toContain('65.0%');
    expect(t[3]!.measured).toContain('80.0%');
    // Pairs alone (no rows) still decide; a kind the run did not pair falls back to the rows.
    expect(evaluateTargets([], ceilings, paired).map((x) => x.met)).toEqual([false, true, true, false, true, null]);
    expect(evaluateTargets(rows, ceilings, [paired[1]!]).map((x) => x.met)).toEqual([true, true, false, true, false, true]);
  });

  test('the vdpbf16ps target does not apply to a CPU without AVX512_BF16: measured and shown, judged n/a', () => {
    const t = evaluateTargets(rows, ceilings, [], { avx512bf16: false });
    expect(t.map(targetStatus)).toEqual(['met', 'MISSED', 'MISSED', 'met', 'n/a', 'met']);
    expect(t[4]!.met).toBeNull();
    expect(t[4]!.measured).toContain('1.67x');
    expect(t[4]!.na).toMatch(/AVX512_BF16/);
    // With the instruction the same rows miss it.
    expect(targetStatus(evaluateTargets(rows, ceilings, [], { avx512bf16: true })[4]!)).toBe('MISSED');
  });

  (availableBackends().includes('cpu') ? test : test.skip)('measurePaired times every kind of pair on a small layer', () => {
    const cfg32 = preset('qwen3-moe', { hidden: 64, intermediate: 24, experts: 8, topK: 2 });
    const cfg16 = { ...cfg32, dtype: 'bf16' as const };
    const w32 = makeWeights(cfg32, 3);
    const addon = loadNative()!;
    const logs: string[] = [];
    const out = measurePaired({
      addon, flusher: new Flusher(addon, 1 << 20), threads: 2, cfg32, w32, cfg16, w16: toDtype(w32, 'bf16'),
      layerTokens: [1, 32], gemms: true, log: (m) => logs.push(m),
    });
    expect(out.map((p) => `${p.kind} ${p.tokens}`)).toEqual(['floor 1', 'bf16 1', 'floor 32', 'peak 512', 'dp 512']);
    for (const p of out) {
      expect(p.pairs).toBeGreaterThanOrEqual(5);
      for (const v of [p.ratio, p.lo, p.hi, p.first, p.second]) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(p.lo).toBeLessThanOrEqual(p.ratio);
      expect(p.ratio).toBeLessThanOrEqual(p.hi);
      expect(p.samples).toHaveLength(p.pairs);
    }
    // floor: 2 experts' W1 + W2 at T = 1 (f32); peak: 2 FLOP per multiply-add of W1 and W2 for 512 x 2 rows.
    expect(out[0]!.amount).toBe(2 * (48 * 64 + 64 * 24) * 4);
    expect(out[3]!.amount).toBe(2 * 512 * 2 * (48 * 64 + 64 * 24));
    expect(logs.join('\n')).toContain('side-by-side pairs');
  });

  test('cpuId names the vendor, family, model and the SIMD extensions from /proc/cpuinfo', () => {
    const one = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nflags\t\t: ${flags}\n`;
    expect(cpuId(`${one('fpu sse avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_bf16')}\n${one('sse')}`))
      .toBe('AuthenticAMD family 26 model 2; avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_bf16');
    expect(cpuId(one('fpu sse2'))).toBe('AuthenticAMD family 26 model 2; no AVX2 / AVX-512');
    expect(cpuId('processor : 0\nBogoMIPS : 50\n')).toBeNull();  // no x86 fields (e.g. arm64)
  });

  test('the table, Markdown and HTML carry the rows, ratios and charts, with no external assets', () => {
    const run: BenchRun = {
      machine: { cpu: 'test cpu', cpuId: 'AuthenticAMD family 25 model 1; avx2 fma f16c', logicalCpus: 2, l3Bytes: null, memBytes: 1, os: 'x', node: 'v20', commit: 'abc', simd: 'avx512', cuda: 'none', binary: 'test.node', loadStart: [0, 0, 0], date: 'now' },
      ceilings, options: options(['cpu']), results: rows, skipped: ['something <skipped>'], targets: evaluateTargets(rows, ceilings), onnxruntime: null, durationS: 1,
    };
    expect(formatTable(run)).toContain('150.0x');
    const md = toMarkdown(run);
    expect(md).toContain('| met |');
    expect(md).toContain('MISSED');
    expect(md).toContain('machine: test cpu (AuthenticAMD family 25 model 1; avx2 fma f16c), 2 logical CPUs');
    const html = toHtml(run);
    expect(html).toContain('<svg');
    expect(html).toContain('something &lt;skipped&gt;');
    expect(html).not.toMatch(/(src|href)=["']https?:/);
    expect(lineChart('t', 'x', 'y', [{ name: 'a<b', color: '#000', points: [[1, 2], [32, 5]] }])).toContain('a&lt;b');
    expect(barChart('t', ['T=1'], 'y', [{ name: 's', color: '#000', values: [150] }])).toContain('150');
  });
});

/** A stream that records what is written to it; `isTTY` says whether it poses as a terminal. */
class Recorder extends Writable {
  readonly chunks: string[] = [];
  readonly columns = 60;
  constructor(readonly isTTY: boolean) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk.toString());
    done();
  }

  /** What a terminal would show on the current line and above: escape sequences and carriage-return
   *  overwrites resolved the simple way (each line keeps its last drawing). */
  get text(): string {
    return this.chunks.join('').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\r').split('\n').map((l) => l.split('\r').filter(Boolean).pop() ?? '').join('\n');
  }
}

describe('progress bar', () => {
  const on = (stream: Recorder, enabled = true) => new Progress(3, enabled, stream as unknown as NodeJS.WriteStream);

  test('on a terminal: the bar counts steps, log lines go above it and it is drawn again below them', () => {
    const tty = new Recorder(true);
    const p = on(tty);
    p.step('qwen3 route T=1 f32');
    p.log('VALIDATION FAILED: something');
    p.step('qwen3 layer T=1 f32 with a label long enough to be cut at the width of the terminal');
    p.log('measuring the machine again...');
    p.end();
    p.end(); // a second end() is harmless (runSuite ends the bar however the run ends)
    const lines = tty.text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.slice(0, 2)).toEqual(['VALIDATION FAILED: something', 'measuring the machine again...']);
    expect(lines[2]).toMatch(/^\[################--------\] 2\/3 \d+s qwen3 layer T=1 f32 with/);
    expect(lines[2]!.length).toBeLessThan(tty.columns);
    expect(lines[3]).toBe('');
    expect(tty.chunks.join('')).toContain('] 1/3 ');
  });

  test('not on a terminal, or with --no-progress: no bar, the log lines as they are', () => {
    for (const [stream, enabled] of [[new Recorder(false), true], [new Recorder(true), false]] as const) {
      const p = on(stream, enabled);
      p.step('a');
      p.log('line one');
      p.step('b');
      p.log('line two');
      p.end();
      expect(stream.chunks.join('')).toBe('line one\nline two\n');
    }
  });
});
