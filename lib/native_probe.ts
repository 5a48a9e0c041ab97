// Probing a native binary in a child process before this process loads it (node-llama-cpp's
// testBindingBinary). A binary for another glibc fails to load, but a broken GPU driver can kill the process
// outright at CUDA's first call; only a child can take that blow. The child loads the binary and calls
// capabilities(), which initialises CUDA and, with a GPU, runs one tiny kernel. A passing result is cached
// per binary (real path, size, mtime) and driver, so the child (about 60 ms, more with a GPU) runs once per
// new binary, not once per process; a failure is not cached, so a fixed driver is noticed at once.

import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export type ProbeResult = { ok: true; how: 'cached' | 'probed' } | { ok: false; error: string };

export interface ProbeOptions {
  /** Where passing results are kept; default <tmpdir>/moe-kernels-probe-<uid>. */
  cacheDir?: string;
  /** The child's time limit. Default 60 s: a first CUDA init may JIT-compile PTX for a GPU newer than the build. */
  timeoutMs?: number;
}

/** The message for a module that is not ours (somebody else's binary, or a stale one). */
export function notOurBinary(file: string): string {
  return `${file} is not a moe-kernels binary (it does not export capabilities/setNumThreads/getNumThreads)`;
}

// Exit codes of the child: 3 = require() threw, 4 = not our exports, 5 = capabilities() threw.
const CHILD = `
const f = process.argv[1];
let m;
try { m = require(f); } catch (e) { process.stderr.write(String(e && e.message || e)); process.exit(3); }
if (!m || typeof m.capabilities !== 'function' || typeof m.setNumThreads !== 'function' ||
    typeof m.getNumThreads !== 'function') process.exit(4);
let c;
try { c = m.capabilities(); } catch (e) { process.stderr.write(String(e && e.message || e)); process.exit(5); }
process.stdout.write(JSON.stringify({ version: c.version, simd: c.simd, cuda: c.cuda }));
`;

function defaultCacheDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return path.join(os.tmpdir(), `moe-kernels-probe-${uid}`);
}

/** What decides whether an earlier pass still holds: the binary itself, the NVIDIA driver, visible GPUs. */
function cacheKey(file: string): string {
  const real = fs.realpathSync(file);
  const st = fs.statSync(real);
  let driver = 'none';
  try {
    driver = fs.readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0] ?? 'none';
  } catch {
    // no NVIDIA kernel driver loaded (or not Linux)
  }
  const parts = [real, st.size, st.mtimeMs, st.ino, process.platform, process.arch, driver,
    process.env.CUDA_VISIBLE_DEVICES ?? '*'];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

function lastLines(text: string): string {
  const t = text.trim();
  return t.length > 600 ? `...${t.slice(-600)}` : t;
}

/** Runs the child on `file` and says how it went; never throws. */
function runChild(file: string, timeoutMs: number): ProbeResult {
  const r = spawnSync(process.execPath, ['-e', CHILD, file], {
    encoding: 'utf8',
    timeout: timeoutMs,
    // An Electron host runs node through its own binary in this mode.
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    windowsHide: true,
  });
  const err = lastLines(r.stderr ?? '');
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return { ok: false, error: `the probe (a child process loading ${file}) did not finish within ${timeoutMs / 1000} s; set MOE_KERNELS_PROBE=0 to load without it` };
  }
  if (r.error) return { ok: false, error: `could not start the probe child process: ${r.error.message}` };
  if (r.signal) {
    return { ok: false, error: `loading ${file} and initialising CUDA crashed a child process (${r.signal})` +
      `${err ? `: ${err}` : ''}; a broken or mismatched GPU driver is the usual cause (try CUDA_VISIBLE_DEVICES= to run without the GPU)` };
  }
  if (r.status === 3) return { ok: false, error: err || `require('${file}') failed` };
  if (r.status === 4) return { ok: false, error: notOurBinary(file) };
  if (r.status === 5) return { ok: false, error: `${file}: capabilities() threw: ${err}` };
  if (r.status !== 0) return { ok: false, error: `the probe of ${file} exited with code ${r.status}${err ? `: ${err}` : ''}` };
  return { ok: true, how: 'probed' };
}

/**
 * Whether `file` loads and answers capabilities() in a child process. A cached pass answers at once
 * ('cached'); otherwise the child runs ('probed'), and a pass is recorded. Never throws.
 */
export function probeBinary(file: string, opts: ProbeOptions = {}): ProbeResult {
  let key: string;
  try {
    key = cacheKey(file);
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  const dir = opts.cacheDir ?? defaultCacheDir();
  const entry = path.join(dir, `${key}.json`);
  if (fs.existsSync(entry)) return { ok: true, how: 'cached' };
  const result = runChild(file, opts.timeoutMs ?? 60000);
  if (result.ok) {
    try {
      // Write then rename: processes probing the same binary at once never read half a file.
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${entry}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ file, passed: new Date().toISOString() }));
      fs.renameSync(tmp, entry);
    } catch {
      // An unwritable tmpdir costs a probe per process, nothing else.
    }
  }
  return result;
}
