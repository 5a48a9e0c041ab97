// What a run produces: the console table, JSON, a self-contained HTML report with inline SVG charts, and
// the Markdown of BENCHMARKS.md. Every row carries its napkin math against the ceilings of the same run.

import { ceilingFor } from './ceilings';
import type { MachineInfo, CeilingSet, Ceiling } from './ceilings';
import type { BenchOptions } from './context';
import { BenchResult, derive, fmtErr, fmtMs, fmtNum, peerOf, referenceOf } from './results';
import { SHAPES } from './shapes';
import { barChart, esc, lineChart, Series } from './svg';
import type { PairedResult } from './paired';
import { targetStatus } from './targets';
import type { TargetResult } from './targets';

export interface BenchRun {
  machine: MachineInfo;
  ceilings: CeilingSet;
  options: BenchOptions;
  results: BenchResult[];
  skipped: string[];
  targets: TargetResult[];
  /** Issue 3's targets measured as side-by-side pairs (./paired); the targets are judged on these. */
  paired?: PairedResult[];
  onnxruntime: string | null;
  durationS: number;
}

const OP_ORDER = ['layer', 'grouped_gemm.w1', 'grouped_gemm.w2', 'route', 'permute', 'unpermute', 'router_stats', 'convert'];
const BACKEND_ORDER = ['reference', 'cpu', 'cuda', 'onnxruntime'];
const COLUMNS = ['op', 'T', 'dtype', 'backend', 'thr', 'time', 'cpu%', 'GFLOP/s', '%peak', 'GB/s', '%bw', 'x floor', 'x ref', 'x ort', 'check'];

export function sortRows(rows: readonly BenchResult[]): BenchResult[] {
  const shapeIdx = (s: string) => SHAPES.findIndex((x) => x.key === s);
  return [...rows].sort((a, b) => shapeIdx(a.shape) - shapeIdx(b.shape) || OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) ||
    a.tokens - b.tokens || a.dtype.localeCompare(b.dtype) || BACKEND_ORDER.indexOf(a.backend) - BACKEND_ORDER.indexOf(b.backend) ||
    (a.threads ?? 0) - (b.threads ?? 0));
}

/** The cells of one row (strings), with the ratios to the reference and to onnxruntime. */
export function cells(r: BenchResult, all: readonly BenchResult[], c: CeilingSet): string[] {
  const d = derive(r, c);
  const ref = r.backend !== 'reference' ? referenceOf(r, all) : undefined;
  const ort = r.backend === 'cpu' ? peerOf(r, all) : undefined;
  return [
    r.op, r.tokens ? String(r.tokens) : '-', r.dtype, r.backend, r.threads === null ? '-' : String(r.threads), fmtMs(r.ms),
    r.cpuShare === null || r.cpuShare === undefined ? '-' : (100 * r.cpuShare).toFixed(0),
    r.flop ? fmtNum(d.gflops) : '-', fmtNum(d.pctPeak), fmtNum(d.gbs, 2), fmtNum(d.pctBw), fmtNum(d.xFloor, 2),
    ref ? `${fmtNum(ref.ms / r.ms)}x` : '-', ort ? `${fmtNum(ort.ms / r.ms, 2)}x` : '-', fmtErr(r.validation),
  ];
}

function shapeTitle(key: string): string {
  const s = SHAPES.find((x) => x.key === key);
  return s ? `${key}: ${s.model}` : key;
}

export function formatTable(run: BenchRun): string {
  const rows = sortRows(run.results);
  const out: string[] = [];
  for (const shape of [...new Set(rows.map((r) => r.shape))]) {
    const table = [COLUMNS, ...rows.filter((r) => r.shape === shape).map((r) => cells(r, run.results, run.ceilings))];
    const width = COLUMNS.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
    out.push(`\n== ${shapeTitle(shape)} ==`);
    for (const t of table) out.push(t.map((v, i) => (i < 4 ? v.padEnd(width[i]!) : v.padStart(width[i]!))).join('  '));
  }
  return out.join('\n');
}

function ceilingRows(cs: Ceiling[] | undefined): string[][] {
  return (cs ?? []).map((c) => [String(c.threads), fmtNum(c.fmaGflops), fmtNum(c.fmaCpuGflops), fmtNum(c.bwGBs, 2), c.path]);
}

function bestCeilings(c: CeilingSet): Ceiling[] {
  return c.start.map((x) => ceilingFor(c, x.threads) ?? x);
}

function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');
}

function gib(b: number | null): string {
  return b === null ? '?' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(0)} MiB`;
}

function machineLines(m: MachineInfo): string[] {
  return [
    `machine: ${m.cpu}${m.cpuId ? ` (${m.cpuId})` : ''}, ${m.logicalCpus} logical CPUs, LLC ${gib(m.l3Bytes)}, ${gib(m.memBytes)} RAM; ${m.os}; node ${m.node}`,
    `commit: ${m.commit}; SIMD path ${m.simd ?? 'none (no addon)'}; CUDA ${m.cuda}`,
    `native binary: ${m.binary ?? 'unknown'}`,
    `load average (1/5/15 min) at start ${m.loadStart.map((x) => x.toFixed(2)).join(' / ')}${m.loadEnd ? `, at end ${m.loadEnd.map((x) => x.toFixed(2)).join(' / ')}` : ''}; ${m.date}`,
  ];
}

const HOW = [
  'time: median of the samples (warm-up and validation first; the caches are flushed before each sample of a call whose weights would otherwise stay in the LLC, since in a model the other layers evict them). The single ops grouped_gemm, permute, unpermute and convert write into outputs allocated once per case (their `out` option), as a model\'s loop calls them: a fresh output is zeroed by calloc, and one over glibc\'s 32 MiB mmap threshold faults on every 4 KiB page (permute T=512 f32: 17.5 ms fresh, 1.87 ms into given arrays); validation uses fresh outputs. The other ops and the layer allocate their outputs in every call.',
  '%bw over 100: the op\'s tensors stayed in the caches (the memory-bound ops run without a flush: in a model their inputs come hot from the op before).',
  'GFLOP/s: 2 FLOP per multiply-add. GB/s: for the layer and the GEMMs, the routed experts\' weights streamed (each used expert once); for the other ops, the tensors read and written.',
  '%peak, %bw: of the f32 FMA peak and the read bandwidth measured in this run with the same thread count (cpu and onnxruntime rows). x floor: time / max(bytes / bandwidth, FLOP / peak).',
  'cpu%: this process\'s CPU time over wall time x threads during the samples (median): well below 100 means the threads did not all run throughout, because of other load on the machine or work that does not split. Samples of a few ms under-read it: Linux adds a running thread\'s CPU time at its scheduler ticks, so another thread\'s share of a short sample is counted whole or not at all (a 1.2 ms T=1 grouped_gemm row read 51% on 2 threads with the pool\'s workers made to spin throughout, MOE_SPIN_US=1000000; Zen 5 VM).',
  'x ref: the reference\'s time / this time, only where the reference was timed (never extrapolated). x ort: onnxruntime\'s time / ours, same threads. check: norm-wise relative error against the reference (exact: bitwise / exact ids).',
];

const PAIRED_HOW = 'Side by side: each target is measured again at the end of its shape as interleaved pairs, the two halves milliseconds apart ' +
  '(the layer forward and a read pass over a 256 MiB buffer; the f32 and the bf16 layer; the f32 expert GEMMs and the FMA peak loops; the f32 and the bf16 GEMMs), ' +
  'and judged on the median of the pairs\' ratios, because the table\'s rows are timed minutes apart on a machine whose bandwidth swings from minute to minute. ' +
  'The rows\' own numbers (against the best ceiling of the whole run) follow each verdict. benchmarks/paired.ts has the details.';

export function toMarkdown(run: BenchRun): string {
  const o = run.options;
  const md: string[] = ['# Benchmarks', '', `Generated by \`${o.command}\` in ${run.durationS.toFixed(0)} s. Every number below comes from that one run; regenerate with the same command.`, ''];
  md.push(...machineLines(run.machine).map((l) => `- ${l}`), `- onnxruntime-node: ${run.onnxruntime ?? 'not loaded'}`, '');
  md.push('## The machine\'s ceilings, measured in the same run', '', mdTable(['threads', 'f32 FMA peak GFLOP/s (wall)', 'same, on CPU time', 'read bandwidth GB/s', 'path'], ceilingRows(run.ceilings.start)), '');
  if (run.ceilings.between?.length || run.ceilings.end) {
    md.push(`Measured again ${run.ceilings.between?.length ? `before each of the ${run.ceilings.between.length} later shapes ` : ''}${run.ceilings.end ? 'and at the end ' : ''}of the run; the percentages use the best of all measurements:`, '',
      mdTable(['threads', 'f32 FMA peak GFLOP/s (wall)', 'same, on CPU time', 'read bandwidth GB/s', 'path'], ceilingRows(bestCeilings(run.ceilings))), '');
  }
  md.push('The FMA peak runs many independent FMA chains per thread on the SIMD path in effect; the bandwidth sums a buffer four times the LLC. Wall-time figures include whatever else the machine was doing; the CPU-time figure shows what the cores do when they run.', '');
  md.push('## Issue 3 targets (Qwen3-30B-A3B layer, 2 threads)', '', mdTable(['target', 'measured', 'met'], run.targets.map((t) => [t.target, t.measured + (t.detail ? `. ${t.detail}` : '') + (t.na ? `. Not applicable: ${t.na}` : ''), targetStatus(t)])), '');
  if (run.paired?.length) md.push(PAIRED_HOW, '');
  md.push('## Results', '', ...HOW.map((h) => `- ${h}`), '');
  const rows = sortRows(run.results);
  for (const shape of [...new Set(rows.map((r) => r.shape))]) {
    const s = SHAPES.find((x) => x.key === shape);
    md.push(`### ${shapeTitle(shape)}`, '');
    if (s?.note) md.push(`Note: ${s.note}.`, '');
    md.push(mdTable(COLUMNS, rows.filter((r) => r.shape === shape).map((r) => cells(r, run.results, run.ceilings))), '');
  }
  const ort = rows.filter((r) => r.backend === 'onnxruntime');
  if (ort.length) {
    md.push('## Peers: agreement with our outputs', '', mdTable(['shape', 'T', 'threads', 'check', 'detail'],
      ort.map((r) => [r.shape, String(r.tokens), String(r.threads), fmtErr(r.validation), `${r.validation.against}${r.validation.note ? `; ${r.validation.note}` : ''}`])), '');
  }
  const notes = rows.filter((r) => r.validation.note && r.backend !== 'onnxruntime');
  if (notes.length) md.push('## Validation notes', '', ...notes.map((r) => `- ${r.op} ${r.shape} T=${r.tokens} ${r.dtype} ${r.backend}${r.threads ? ` ${r.threads} thr` : ''}: ${r.validation.note}`), '');
  if (run.skipped.length) md.push('## Not run, and why', '', ...run.skipped.map((s) => `- ${s}`), '');
  return md.join('\n');
}

const COLORS: Record<string, string> = { reference: '#888888', cpu: '#1f77b4', cuda: '#2ca02c', onnxruntime: '#d62728' };
const THREAD_SHADE = ['#1f77b4', '#17becf', '#9467bd', '#8c564b'];

function seriesKey(r: BenchResult): string {
  return `${r.backend}${r.threads ? ` ${r.threads}t` : ''} ${r.dtype}`;
}

function colorOf(r: BenchResult, threads: number[]): string {
  if (r.backend === 'cpu' && r.threads !== null) return THREAD_SHADE[Math.max(0, threads.indexOf(r.threads)) % THREAD_SHADE.length]!;
  return COLORS[r.backend] ?? '#333';
}

function htmlTable(head: string[], rows: string[][], failCol = -1): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((x, i) =>
    `<td${i === failCol && x.startsWith('FAIL') ? ' class="fail"' : ''}>${esc(x)}</td>`).join('')}</tr>`).join('')}</table>`;
}

export function toHtml(run: BenchRun): string {
  const rows = sortRows(run.results);
  const threads = [...new Set(rows.map((r) => r.threads).filter((t): t is number => t !== null))].sort((a, b) => a - b);
  const body: string[] = [`<h1>moe-kernels benchmarks</h1><p><code>${esc(run.options.command)}</code>, ${run.durationS.toFixed(0)} s</p>`,
    `<ul>${machineLines(run.machine).map((l) => `<li>${esc(l)}</li>`).join('')}<li>onnxruntime-node: ${esc(run.onnxruntime ?? 'not loaded')}</li></ul>`,
    '<h2>Ceilings measured in this run</h2>', htmlTable(['threads', 'FMA peak GFLOP/s (wall)', 'on CPU time', 'bandwidth GB/s', 'path'], ceilingRows(run.ceilings.start)),
    ...(run.ceilings.between?.length || run.ceilings.end ? ['<p>The best of every measurement of the run (what the percentages use):</p>', htmlTable(['threads', 'FMA peak GFLOP/s (wall)', 'on CPU time', 'bandwidth GB/s', 'path'], ceilingRows(bestCeilings(run.ceilings)))] : []),
    '<h2>Issue 3 targets</h2>', htmlTable(['target', 'measured', 'met'], run.targets.map((t) => [t.target, t.measured + (t.detail ? `. ${t.detail}` : '') + (t.na ? `. Not applicable: ${t.na}` : ''), targetStatus(t)])),
    ...(run.paired?.length ? [`<p>${esc(PAIRED_HOW)}</p>`] : []),
    `<ul>${HOW.map((h) => `<li>${esc(h)}</li>`).join('')}</ul>`];
  for (const shape of [...new Set(rows.map((r) => r.shape))]) {
    const mine = rows.filter((r) => r.shape === shape);
    body.push(`<h2>${esc(shapeTitle(shape))}</h2>`);
    const layer = mine.filter((r) => r.op === 'layer');
    const groups = new Map<string, BenchResult[]>();
    for (const r of layer) groups.set(seriesKey(r), [...(groups.get(seriesKey(r)) ?? []), r]);
    const series: Series[] = [...groups.entries()].map(([name, rs]) => ({ name, color: colorOf(rs[0]!, threads), dashed: rs[0]!.dtype !== 'f32', points: rs.map((r) => [r.tokens, r.ms] as [number, number]) }));
    body.push('<div class="charts">', lineChart('Layer time against tokens', 'tokens per call', 'ms (log)', series));
    const Ts = [...new Set(layer.map((r) => r.tokens))].sort((a, b) => a - b);
    const onCpu = [...groups.entries()].filter(([, rs]) => rs[0]!.backend === 'cpu' || rs[0]!.backend === 'onnxruntime');
    body.push(barChart('Layer: % of the roofline floor (100 / x floor)', Ts.map((t) => `T=${t}`), '% of floor', onCpu.map(([name, rs]) => ({
      name, color: colorOf(rs[0]!, threads), values: Ts.map((t) => {
        const r = rs.find((x) => x.tokens === t);
        const x = r ? derive(r, run.ceilings).xFloor : null;
        return x ? 100 / x : null;
      }),
    }))));
    const gemm = mine.filter((r) => r.op.startsWith('grouped_gemm') && r.backend === 'cpu');
    const gKeys = [...new Set(gemm.map((r) => `${r.op.slice(13)} ${r.dtype} ${r.threads}t`))];
    body.push(barChart('Expert GEMMs: % of the f32 FMA peak', gKeys, '% of peak', Ts.map((t, i) => ({
      name: `T=${t}`, color: THREAD_SHADE[i % THREAD_SHADE.length]!, values: gKeys.map((k) => {
        const r = gemm.find((x) => x.tokens === t && `${x.op.slice(13)} ${x.dtype} ${x.threads}t` === k);
        return r ? derive(r, run.ceilings).pctPeak : null;
      }),
    }))), '</div>');
    body.push(htmlTable(COLUMNS, mine.map((r) => cells(r, run.results, run.ceilings)), COLUMNS.length - 1));
  }
  if (run.skipped.length) body.push('<h2>Not run, and why</h2>', `<ul>${run.skipped.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`);
  const css = 'body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;margin:8px 0;font-size:12px}' +
    'td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}td:nth-child(-n+4){text-align:left}' +
    '.fail{background:#fdd}.charts{display:flex;flex-wrap:wrap;gap:12px}';
  return `<!doctype html><html><head><meta charset="utf-8"><title>moe-kernels benchmarks</title><style>${css}</style></head><body>${body.join('\n')}</body></html>\n`;
}

export function toJson(run: BenchRun): string {
  return JSON.stringify({ ...run, results: run.results.map((r) => ({ ...r, derived: derive(r, run.ceilings) })) }, null, 1);
}
