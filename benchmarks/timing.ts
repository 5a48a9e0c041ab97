// Timing for the benchmark suite. Every timed series is: the caller has already run and
// validated the call once (that is the warm-up), then before each sample `flush()` evicts the caches (so
// weights stream from memory as they do in a real model, whose layers never fit in the cache), then the
// call is timed with the wall clock. The result is the median of the samples.

export interface TimingPlan {
  /** At least this many samples... */
  minReps: number;
  /** ...and at most this many... */
  maxReps: number;
  /** ...stopping once the samples add up to this many milliseconds (after minReps). */
  targetMs: number;
}

export const FULL_PLAN: TimingPlan = { minReps: 3, maxReps: 15, targetMs: 1500 };
export const QUICK_PLAN: TimingPlan = { minReps: 3, maxReps: 7, targetMs: 300 };
/** For calls that take seconds (the reference at real shapes): one sample, no warm-up beyond validation. */
export const ONCE_PLAN: TimingPlan = { minReps: 1, maxReps: 1, targetMs: 0 };

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Wall time of each sample and this process's CPU time (every thread: ours, the addon's pool,
 *  onnxruntime's) during it, both in ms. CPU / (wall x threads) below 1 means the threads did not all run
 *  the whole time: other load on the machine, or work that does not split. */
export interface Samples {
  ms: number[];
  cpuMs: number[];
}

const cpuNowMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One timed call (for calls that take seconds: their first run is the sample). */
export function timeOnce<T>(fn: () => T): { result: T; samples: Samples } {
  const c0 = cpuNowMs();
  const t0 = nowMs();
  const result = fn();
  return { result, samples: { ms: [nowMs() - t0], cpuMs: [cpuNowMs() - c0] } };
}

/** Samples of `fn(rep)`; `rep` counts from 0 so the caller can rotate inputs. */
export function timeSync(fn: (rep: number) => void, plan: TimingPlan, flush?: () => void): Samples {
  const s: Samples = { ms: [], cpuMs: [] };
  let total = 0;
  while (s.ms.length < plan.maxReps && (s.ms.length < plan.minReps || total < plan.targetMs)) {
    flush?.();
    const c0 = cpuNowMs();
    const t0 = nowMs();
    fn(s.ms.length);
    const dt = nowMs() - t0;
    s.cpuMs.push(cpuNowMs() - c0);
    s.ms.push(dt);
    total += dt;
  }
  return s;
}

/** timeSync for calls that return a promise (onnxruntime's session.run). */
export async function timeAsync(fn: (rep: number) => Promise<unknown>, plan: TimingPlan, flush?: () => void): Promise<Samples> {
  const s: Samples = { ms: [], cpuMs: [] };
  let total = 0;
  while (s.ms.length < plan.maxReps && (s.ms.length < plan.minReps || total < plan.targetMs)) {
    flush?.();
    const c0 = cpuNowMs();
    const t0 = nowMs();
    await fn(s.ms.length);
    const dt = nowMs() - t0;
    s.cpuMs.push(cpuNowMs() - c0);
    s.ms.push(dt);
    total += dt;
  }
  return s;
}

/** The fields of a result row that come from its samples: median time and the median CPU share. */
export function summarise(s: Samples, threads: number | null): { ms: number; samples: number[]; cpuShare: number | null } {
  const share = threads === null ? null : median(s.ms.map((ms, i) => s.cpuMs[i]! / Math.max(ms, 1e-9) / threads));
  return { ms: median(s.ms), samples: s.ms, cpuShare: share };
}
