// Bugs the fuzz found that are not fixed yet, each reproduced exactly by test/fuzz/findings.test.ts (which
// fails until the fix lands). While listed here, a fuzz case failing with the same signature is counted as
// "known" instead of failing the run, so the fuzz keeps looking for new problems. Delete the entry with the
// fix: the findings test then passes and the fuzz covers the case again.

export interface Known {
  id: string;
  target: string;
  /** Backends it happens on (default: all). */
  backends?: string[];
  /** Mutation label ('valid' for valid arguments), or null for any. */
  mutation: string | null;
  /** Matches the failure message. */
  message: RegExp;
}

/** Binding fuzz cases not to run at all while a bug is open (they crash the process or eat its memory). */
export interface KnownBinding {
  id: string;
  /** The op id whose binding it is. */
  op: string;
  /** The field broken, and the values that trigger the bug. */
  field: string;
  values: (v: unknown) => boolean;
}

export const KNOWN: Known[] = [];

export const KNOWN_BINDING: KnownBinding[] = [];

/** The known issue a failure matches, or null. */
export function knownIssue(target: string, backend: string, mutation: string, message: string): Known | null {
  return KNOWN.find((k) => k.target === target && (!k.backends || k.backends.includes(backend))
    && (k.mutation === null || k.mutation === mutation) && k.message.test(message)) ?? null;
}

/** The open binding bug a broken field would trigger, or null. */
export function knownBindingIssue(op: string, field: string, value: unknown): KnownBinding | null {
  return KNOWN_BINDING.find((k) => k.op === op && k.field === field && k.values(value)) ?? null;
}
