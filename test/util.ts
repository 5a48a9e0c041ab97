// Shared test helpers: error measures (SPEC §12) and argument-error assertions.

/** Norm-wise relative error ‖a − b‖ / ‖b‖ (0 when both are zero). NaN if either holds a NaN. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/** Every element of `a` within `tol` of `b` (absolute), elementwise. */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= tol)) {
      throw new Error(`element ${i}: got ${a[i]}, expected ${b[i]} (tol ${tol})\n got: [${Array.from(a).join(', ')}]\nwant: [${Array.from(b).join(', ')}]`);
    }
  }
}

/** `fn` throws an instance of `ctor` whose message names `arg` in quotes. */
export function expectArgError(fn: () => unknown, ctor: typeof TypeError | typeof RangeError, arg: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new Error(`expected a ${ctor.name} naming '${arg}', but nothing was thrown`);
  if (!(caught instanceof ctor) || caught.constructor !== ctor) {
    throw new Error(`expected a ${ctor.name} naming '${arg}', got ${String(caught)}`);
  }
  if (!String((caught as Error).message).includes(`'${arg}`)) {
    throw new Error(`expected the message to name '${arg}': ${(caught as Error).message}`);
  }
}
