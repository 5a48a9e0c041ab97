// Argument checks shared by every op. Each check throws a TypeError (wrong kind of value) or a RangeError
// (right kind, bad value) whose message starts with the op id and names the argument, before any work.

export class Check {
  constructor(readonly op: string) {}

  type(arg: string, what: string, got: unknown): never {
    throw new TypeError(`${this.op}: '${arg}' must be ${what}, got ${describe(got)}`);
  }

  range(arg: string, what: string): never {
    throw new RangeError(`${this.op}: '${arg}' ${what}`);
  }

  /** An integer in [min, max]. */
  int(arg: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number') this.type(arg, 'an integer', v);
    if (!Number.isInteger(v) || v < min || v > max) {
      this.range(arg, `must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}], got ${v}`);
    }
    return v;
  }

  /** A finite number within open/closed bounds. `lo`/`hi` are inclusive unless `loOpen`/`hiOpen`. */
  num(arg: string, v: unknown, lo = -Infinity, hi = Infinity, loOpen = false, hiOpen = false): number {
    if (typeof v !== 'number') this.type(arg, 'a number', v);
    const okLo = loOpen ? v > lo : v >= lo;
    const okHi = hiOpen ? v < hi : v <= hi;
    if (!Number.isFinite(v) || !okLo || !okHi) {
      this.range(arg, `must be a finite number in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${v}`);
    }
    return v;
  }

  bool(arg: string, v: unknown): boolean {
    if (typeof v !== 'boolean') this.type(arg, 'a boolean', v);
    return v;
  }

  oneOf<T extends string>(arg: string, v: unknown, options: readonly T[]): T {
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      if (typeof v !== 'string') this.type(arg, `one of ${options.map((o) => `'${o}'`).join(', ')}`, v);
      this.range(arg, `must be one of ${options.map((o) => `'${o}'`).join(', ')}, got '${v}'`);
    }
    return v as T;
  }

  object(arg: string, v: unknown): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.type(arg, 'an object', v);
    return v as Record<string, unknown>;
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string '${v}'`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}
