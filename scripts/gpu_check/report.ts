// The GPU check's output: a log that goes to stdout and to check.log, the closing table, and results.json,
// all in the results directory ($MOE_RESULTS_DIR).

import * as fs from 'fs';
import * as path from 'path';
import type { Measurement } from './timing';

export interface CaseResult {
  op: string;
  name: string;
  backend: string;
  ok: boolean;
  detail: string;
}

export interface Peer {
  op: string;
  label: string;
  ms: number;
  tflops?: number;
  gbps?: number;
}

export interface Report {
  status: 'pass' | 'fail' | 'no-gpu';
  started: string;
  commit: string;
  device: string[];
  driver: string;
  capabilities: unknown;
  cases: CaseResult[];
  ceilings: { d2dCopyGbps?: number; bf16MatmulTflops?: number; torch?: string };
  timings: Measurement[];
  peers: Peer[];
  sanitizer: { tool: string; exitCode: number | null; log: string }[];
  notes: string[];
}

export class Log {
  private readonly lines: string[] = [];
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }
  print(s = ''): void {
    console.log(s);
    this.lines.push(s);
  }
  save(report: Report): void {
    fs.writeFileSync(path.join(this.dir, 'check.log'), this.lines.join('\n') + '\n');
    fs.writeFileSync(path.join(this.dir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  }
}

const fmt = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/** The closing table: correctness per op and backend, then every timing with its ceiling and peer. */
export function summary(log: Log, r: Report): void {
  log.print('== summary');
  log.print(`commit ${r.commit}; device ${r.device.join('; ') || '?'}; driver ${r.driver}`);
  const byOp = new Map<string, { pass: number; fail: number }>();
  for (const c of r.cases) {
    const key = `${c.op} [${c.backend}]`;
    const s = byOp.get(key) ?? { pass: 0, fail: 0 };
    if (c.ok) s.pass++;
    else s.fail++;
    byOp.set(key, s);
  }
  for (const [k, s] of byOp) log.print(`  ${k.padEnd(28)} ${String(s.pass).padStart(4)} passed ${s.fail ? `${s.fail} FAILED` : ''}`);
  for (const s of r.sanitizer) log.print(`  compute-sanitizer ${s.tool.padEnd(10)} exit ${s.exitCode} (${s.log})`);
  if (r.timings.length) {
    const copy = r.ceilings.d2dCopyGbps;
    const mm = r.ceilings.bf16MatmulTflops;
    log.print(`ceilings: D2D copy ${fmt(copy)} GB/s; bf16 matmul (torch) ${mm === undefined ? 'n/a' : `${fmt(mm)} TFLOP/s`}`);
    const widths = [52, 12, 10, 9, 9, 7, 30];
    log.print(pad(['op / shape', 'variant', 'ms (med)', 'GB/s', 'TFLOP/s', '% ceil', 'peer'], widths));
    for (const t of r.timings) {
      const pct = t.tflops !== undefined && mm ? (100 * t.tflops) / mm : t.gbps !== undefined && copy && t.tflops === undefined ? (100 * t.gbps) / copy : undefined;
      const peer = r.peers.find((p) => p.op === t.op && p.label.startsWith(t.label));
      const peerText = peer ? `${fmt(peer.ms, 3)} ms${peer.tflops ? ` ${fmt(peer.tflops)} TF/s` : peer.gbps ? ` ${fmt(peer.gbps)} GB/s` : ''}` : '';
      log.print(pad([`${t.op}: ${t.label}`.slice(0, 52), t.variant ?? '', fmt(t.msMedian, 4), fmt(t.gbps), fmt(t.tflops), fmt(pct, 0), peerText], widths) +
        (t.validated === 'ok' || t.validated.startsWith('ok ') ? '' : `  [${t.validated}]`) + (t.hostBound ? '  [host-bound]' : ''));
    }
  }
  log.print(`status: ${r.status}`);
}
