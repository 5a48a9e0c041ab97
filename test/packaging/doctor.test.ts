// `moe-kernels doctor`: the report's facts agree with the loader, capabilities() and selectBackend; the layer
// check catches a backend that computes wrong numbers; the CLI's usage errors and exit codes.

import { doctorReport, formatReport, ENV_SWITCHES } from '../../lib/cli/doctor';
import { main } from '../../lib/cli/main';
import { availableBackends, registerBackend, selectBackend } from '../../lib/backends';
import { OP_IDS } from '../../lib/backends/backend';
import type { Backend } from '../../lib/backends/backend';
import { referenceBackend } from '../../lib/backends/reference';
import { capabilities, nativeLoadInfo } from '../../lib/native';

/** Runs the CLI in-process; returns its exit code and what it printed. */
function cli(argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = main(argv); // every command but `bench` answers synchronously
    if (typeof code !== 'number') throw new Error('cli(): only synchronous commands are tested here');
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

const savedProbe = process.env.MOE_KERNELS_PROBE;
afterAll(() => {
  if (savedProbe === undefined) delete process.env.MOE_KERNELS_PROBE;
  else process.env.MOE_KERNELS_PROBE = savedProbe;
});

describe('doctorReport', () => {
  test('agrees with the loader, capabilities() and selectBackend, op by op', () => {
    process.env.MOE_KERNELS_PROBE = '1';
    const r = doctorReport({ check: false });
    const caps = capabilities();
    expect(r.package.name).toBe('moe-kernels');
    expect(r.package.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.platform.summary).toContain(`${process.platform}-${process.arch}`);
    expect(r.binary).toEqual(nativeLoadInfo());
    expect(r.binary.path !== null).toBe(caps.native);
    if (caps.native) {
      expect(r.cpu).toEqual({ simd: caps.simd, ...caps.cpu });
      expect(r.cuda!.compiled).toBe(caps.cuda.compiled);
      expect(r.cuda!.devices).toBe(caps.cuda.devices);
      expect(r.cuda!.error).toBe(caps.cuda.error);
      if (caps.cuda.runtimeVersion !== null) expect(r.cuda!.runtime).toBe(`${Math.floor(caps.cuda.runtimeVersion / 1000)}.${Math.floor((caps.cuda.runtimeVersion % 1000) / 10)}`);
    } else {
      expect(r.cpu).toBeNull();
      expect(r.cuda).toBeNull();
    }
    expect(r.backends.available).toEqual(availableBackends());
    expect(Object.keys(r.backends.ops)).toEqual(OP_IDS);
    for (const op of OP_IDS) expect(r.backends.ops[op].auto).toBe(selectBackend(op, 'auto').name);
    expect(r.backends.reasons.reference).toBe('always available (pure TypeScript, the oracle)');
    expect(r.env).toEqual({ MOE_KERNELS_PROBE: '1' });
    expect(r.checks).toEqual([]);
    const text = formatReport(r);
    expect(text).toMatch(/^package +moe-kernels \d/);
    for (const op of OP_IDS) expect(text).toMatch(new RegExp(`^(auto +)?\\s*${op} +(cuda|cpu|reference)`, 'm'));
    expect(text).toContain('MOE_KERNELS_PROBE=1');
    expect(ENV_SWITCHES).toContain('PREBUILDS_ONLY');
  });
});

describe('the layer check and per-op choices', () => {
  const fake = (over: Partial<Backend>): Backend => ({ ...referenceBackend, name: 'cpu', implements: () => true, ...over });

  beforeAll(() => availableBackends()); // the real backends register first; ours replace them below

  test("a backend implementing some ops: 'auto' uses it there and says why not elsewhere", () => {
    registerBackend(fake({ implements: (op) => op === 'convert' }));
    const r = doctorReport();
    expect(r.backends.ops.convert).toEqual({ auto: 'cpu', passedOver: {} });
    expect(r.backends.ops.route).toEqual({ auto: 'reference', passedOver: { cpu: 'not implemented' } });
    expect(r.checks).toHaveLength(1);
    expect(r.checks[0]).toMatchObject({ ok: true, relErr: 0, error: null });
  });

  test('a correct backend passes; one whose GEMMs are 1% off (2% at the output) fails the check and the exit code', () => {
    registerBackend(fake({}));
    const good = cli(['doctor', '--json']);
    const report = JSON.parse(good.out);
    for (const op of OP_IDS) expect(report.backends.ops[op].auto).toBe('cpu');
    expect(report.checks[0]).toMatchObject({ ok: true, relErr: 0 });
    expect(good.code).toBe(report.binary.path === null ? 1 : 0);

    registerBackend(fake({
      groupedGemm: (a) => {
        const r = referenceBackend.groupedGemm(a);
        const y = r.y.data as Float32Array;
        for (let i = 0; i < y.length; i++) y[i]! *= 1.01;
        return r;
      },
    }));
    const bad = cli(['doctor']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^check +FAILED: layer \(mixtral preset/m);
    expect(bad.out).toMatch(/output differs from the reference \(relative error 2\.0\de-2 > 0\.0001\)/);
  });
});

describe('the CLI', () => {
  test('usage errors exit with 2 and print what is wrong, then the usage, on stderr', () => {
    const none = cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^Usage: moe-kernels \[options\] \[command\]/);
    expect(none.out).toBe('');
    const unknown = cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^moe-kernels: unknown command 'frobnicate'\n\nUsage: moe-kernels /);
    const badOpt = cli(['doctor', '--jsn']);
    expect(badOpt.code).toBe(2);
    expect(badOpt.err).toMatch(/^moe-kernels doctor: unknown option '--jsn'\n\(Did you mean --json\?\)\n\nUsage: moe-kernels doctor /);
    const extra = cli(['doctor', 'now']);
    expect(extra.code).toBe(2);
    expect(extra.err).toMatch(/^moe-kernels doctor: too many arguments/);
    expect(cli(['--json', 'doctor']).code).toBe(2); // doctor's options come after it
  });

  test('doctor --no-check --json: one JSON object, and no layer run', () => {
    const r = cli(['doctor', '--no-check', '--json']);
    const report = JSON.parse(r.out);
    expect(report.checks).toEqual([]);
    expect(r.code).toBe(report.binary.path === null ? 1 : 0);
  });

  test('help and version', () => {
    for (const argv of [['help'], ['--help'], ['-h']]) {
      const h = cli(argv);
      expect(h.code).toBe(0);
      expect(h.out).toMatch(/^Usage: moe-kernels \[options\] \[command\]/);
      for (const c of ['doctor [options]', 'bench [options...]', 'version', 'help [command]']) expect(h.out).toContain(c);
    }
    for (const argv of [['help', 'doctor'], ['doctor', '--help']]) {
      const h = cli(argv);
      expect(h.code).toBe(0);
      expect(h.out).toMatch(/^Usage: moe-kernels doctor \[options\]/);
      expect(h.out).toMatch(/--json +the same as one JSON object/);
      expect(h.out).toMatch(/--no-check +skip the layer run/);
    }
    for (const argv of [['--version'], ['-v'], ['version']]) expect(cli(argv)).toMatchObject({ code: 0, out: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
  });
});
