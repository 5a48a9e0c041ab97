// Every ```ts block of README.md runs as written (imports of 'moe-kernels' resolve to this checkout), so the
// documented API cannot drift from the real one.

import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

function run(code: string): string[] {
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const printed: string[] = [];
  const req = (name: string): unknown => (name === 'moe-kernels' ? require('../lib') : require(name));
  const con = { log: (...a: unknown[]) => printed.push(a.map((v) => (ArrayBuffer.isView(v) ? `[${Array.from(v as unknown as ArrayLike<number>).join(', ')}]` : JSON.stringify(v))).join(' ')) };
  new Function('require', 'exports', 'module', 'console', js)(req, {}, { exports: {} }, con);
  return printed;
}

test('README has examples', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(10);
});

test.each(blocks.map((b, i) => [i, b.split('\n').find((l) => l.includes('moe-kernels')) ?? '', b]))('README block %i (%s) runs', (_i, _imp, code) => {
  const out = run(code as string);
  expect(out.length).toBeGreaterThan(0);
});

test('the route example prints SPEC §10 A', () => {
  const block = blocks.find((b) => b.includes("method: 'softmax_topk', k: 2, renormalize: true });\nconsole.log(r.ids.data"))!;
  const first = run(block)[0]!;
  expect(first.startsWith('[1, 0, 0, 2]')).toBe(true);
  const w = first.split(' [')[1]!.replace(']', '').split(', ').map(Number);
  [0.731059, 0.268941, 0.5, 0.5].forEach((v, i) => expect(Math.abs(w[i]! - v)).toBeLessThan(1e-6));
});

test('the loss example prints SPEC §10 A losses', () => {
  const block = blocks.find((b) => b.includes('auxLoss({'))!;
  const m = /^\[(.*)\] (\S+) (\S+)$/.exec(run(block)[0]!)!;
  const [, counts, lb, z] = m;
  expect(counts).toBe('3, 2, 1, 0');
  expect(Math.abs(Number(lb) - 1.200261)).toBeLessThan(1e-6);
  expect(Math.abs(Number(z) - 7.432897)).toBeLessThan(1e-5);
});
