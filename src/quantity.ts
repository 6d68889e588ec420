// Downward-API resource readings: recognising resource item names, turning kubelet's `ceil(q / divisor)`
// integers back into base units, canonical Kubernetes quantity strings, and merging readings (finest wins).
// Kubernetes: pkg/api/v1/resource/helpers.go (resourceFieldRef: ceil(quantity / divisor)) and apimachinery's resource.Quantity (canonical form). Base units: millicores for cpu, bytes for memory / ephemeral-storage.

import type { ResourceKind, ResourceReading, ResourceSide, ResourceValues } from './document.js';

export interface ResourceSpec {
  kind: ResourceKind;
  side: ResourceSide;
  /** the divisor in base units: 1 for `1m`, 1000 for cores, 1024 for KiB, ... */
  granularity: number;
}

/**
 * Split a name into lower-case words: at `_`, `-`, `.`, `/`, whitespace, and camelCase boundaries.
 * Runs of capitals stay together (`CPURequest` → cpu, request; `MiB` → mi, b; `kB` → k, b); digits are their own word.
 */
export function tokenizeName(name: string): string[] {
  const words = name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? [];
  return words.map((w) => w.toLowerCase());
}

const KIND_WORDS: ReadonlyArray<readonly [readonly string[], ResourceKind]> = [
  [['ephemeral', 'storage'], 'ephemeral-storage'],
  [['cpu'], 'cpu'],
  [['memory'], 'memory'],
  [['mem'], 'memory'],
];

const SIDE_WORDS: Readonly<Record<string, ResourceSide>> = {
  request: 'requests',
  requests: 'requests',
  limit: 'limits',
  limits: 'limits',
};

const CPU_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1000],
  ['core', 1000],
  ['cores', 1000],
  ['m', 1],
  ['milli', 1],
  ['millis', 1],
  ['millicore', 1],
  ['millicores', 1],
  ['millicpu', 1],
  ['millicpus', 1],
]);

const DECIMAL = [
  ['k', 'kilo', 1e3],
  ['m', 'mega', 1e6],
  ['g', 'giga', 1e9],
  ['t', 'tera', 1e12],
  ['p', 'peta', 1e15],
  ['e', 'exa', 1e18],
] as const;
const BINARY = [
  ['ki', 'kibi', 2 ** 10],
  ['mi', 'mebi', 2 ** 20],
  ['gi', 'gibi', 2 ** 30],
  ['ti', 'tebi', 2 ** 40],
  ['pi', 'pebi', 2 ** 50],
  ['ei', 'exbi', 2 ** 60],
] as const;

const BYTE_UNITS: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>([
    ['', 1],
    ['b', 1],
    ['byte', 1],
    ['bytes', 1],
    ['mibibyte', 2 ** 20], // a common misspelling of mebibyte (used in Kubernetes examples)
    ['mibibytes', 2 ** 20],
  ]);
  for (const [sym, prefix, value] of [...DECIMAL, ...BINARY]) {
    // Ki, KiB, kibibyte(s); k, kB, kilobyte(s)
    for (const spelling of [sym, `${sym}b`, `${prefix}byte`, `${prefix}bytes`]) m.set(spelling, value);
  }
  return m;
})();

function matchKind(tokens: readonly string[], at: number): [ResourceKind, number] | undefined {
  for (const [words, kind] of KIND_WORDS) {
    if (words.every((w, k) => tokens[at + k] === w)) return [kind, words.length];
  }
  return undefined;
}

/**
 * Recognise a resource item name (volume path or env var name): kind (cpu, memory/mem, ephemeral-storage),
 * side (request(s)/limit(s)), in either order, then an optional unit, in any case and separator style:
 * `containerCpuRequestMilliCores`, `CONTAINER_MEMORY_LIMIT_KIBIBYTES`, `cpu_limit`, `mem-request-MiB`,
 * `requests/cpu`, `limits.memory`, `resources/limits/ephemeral-storage`. Optional leading words `container`
 * and `resources`, and an optional `in` before the unit (`cpu_limit_in_millicores`) are allowed.
 *
 * Units are matched case-insensitively per kind, which resolves `m`/`M`: for cpu it is milli (the only valid
 * cpu divisors are 1m and 1), for memory it is mega (1m is not a valid memory divisor). A cpu unit on memory
 * or a byte unit on cpu → undefined. No unit → divisor 1 (1 core for cpu = granularity 1000; 1 byte otherwise).
 * Anything else → undefined, so the caller treats it as an unknown file.
 */
export function parseResourceName(name: string): ResourceSpec | undefined {
  const tokens = tokenizeName(name);
  let i = 0;
  if (tokens[i] === 'container') i++;
  if (tokens[i] === 'resources' || tokens[i] === 'resource') i++;

  let kind: ResourceKind | undefined;
  let side: ResourceSide | undefined;
  const k1 = matchKind(tokens, i);
  if (k1) {
    kind = k1[0];
    i += k1[1];
    side = SIDE_WORDS[tokens[i] ?? ''];
    if (side !== undefined) i++;
  } else {
    side = SIDE_WORDS[tokens[i] ?? ''];
    if (side !== undefined) {
      i++;
      const k2 = matchKind(tokens, i);
      if (k2) {
        kind = k2[0];
        i += k2[1];
      }
    }
  }
  if (kind === undefined || side === undefined) return undefined;

  let rest = tokens.slice(i);
  if (rest.length > 1 && rest[0] === 'in') rest = rest.slice(1);
  const unit = rest.join('');
  const granularity = (kind === 'cpu' ? CPU_UNITS : BYTE_UNITS).get(unit);
  if (granularity === undefined) return undefined;
  return { kind, side, granularity };
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * kubelet's reported integer (`ceil(q / divisor)`: plain digits, surrounding whitespace allowed) → a reading in
 * base units (`value * granularity`).
 * @throws Error for anything that is not a non-negative integer, or whose base value exceeds MAX_SAFE_INTEGER
 */
export function readingFromValue(spec: ResourceSpec, raw: string): ResourceReading {
  const text = raw.trim();
  const what = `${spec.side}.${spec.kind}`;
  if (!/^[0-9]+$/.test(text)) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new Error(`${what}: expected a non-negative integer, got ${JSON.stringify(shown)}`);
  }
  const base = BigInt(text) * BigInt(spec.granularity);
  if (base > MAX) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new Error(`${what}: value ${shown} (× ${spec.granularity}) is too large (above ${Number.MAX_SAFE_INTEGER})`);
  }
  return { kind: spec.kind, side: spec.side, base: Number(base), granularity: spec.granularity };
}

const BINARY_SUFFIXES = [
  ['Ei', 2n ** 60n],
  ['Pi', 2n ** 50n],
  ['Ti', 2n ** 40n],
  ['Gi', 2n ** 30n],
  ['Mi', 2n ** 20n],
  ['Ki', 2n ** 10n],
] as const;
const DECIMAL_SUFFIXES = [
  ['E', 10n ** 18n],
  ['P', 10n ** 15n],
  ['T', 10n ** 12n],
  ['G', 10n ** 9n],
  ['M', 10n ** 6n],
  ['k', 10n ** 3n],
] as const;

/**
 * Canonical Kubernetes quantity string for a base-unit amount (a safe integer; negatives get a leading '-').
 * cpu (millicores): whole cores as plain digits, else millicores with `m` (15 → "15m", 1000 → "1", 1500 → "1500m").
 * bytes: the largest binary suffix that divides exactly (102400 → "100Ki", 4194304 → "4Mi"), else the largest
 * decimal suffix that divides exactly (5000 → "5k", 1000000 → "1M"), else plain digits (1023 → "1023"). 0 → "0".
 * When BOTH families divide exactly, the one with the smaller number wins (binary on a tie), so a common
 * `128M` limit reads "128M" rather than "125000Ki" (and 1e12 → "1T", 1024000 → "1000Ki").
 * @throws RangeError when `base` is not a safe integer
 */
export function formatQuantity(kind: ResourceKind, base: number): string {
  if (!Number.isSafeInteger(base)) throw new RangeError(`quantity must be a safe integer, got ${base}`);
  if (base < 0) return `-${formatQuantity(kind, -base)}`;
  if (base === 0) return '0';
  if (kind === 'cpu') return base % 1000 === 0 ? String(base / 1000) : `${base}m`;
  const b = BigInt(base);
  const bin = BINARY_SUFFIXES.find(([, size]) => b % size === 0n);
  const dec = DECIMAL_SUFFIXES.find(([, size]) => b % size === 0n);
  const binMantissa = bin ? b / bin[1] : undefined;
  const decMantissa = dec ? b / dec[1] : undefined;
  if (bin && binMantissa !== undefined && (decMantissa === undefined || binMantissa <= decMantissa)) {
    return `${binMantissa}${bin[0]}`;
  }
  if (dec && decMantissa !== undefined) return `${decMantissa}${dec[0]}`;
  return String(base);
}

const VALUE_KEYS: Readonly<Record<ResourceKind, readonly [text: keyof ResourceValues, base: keyof ResourceValues]>> =
  {
    cpu: ['cpu', 'cpuMillicores'],
    memory: ['memory', 'memoryBytes'],
    'ephemeral-storage': ['ephemeralStorage', 'ephemeralStorageBytes'],
  };
const KIND_ORDER: readonly ResourceKind[] = ['cpu', 'memory', 'ephemeral-storage'];

/**
 * Merge readings from several sources into the document's `resources`: for one kind+side the reading with the
 * smallest granularity (the finest) wins; on a tie the first one. Keys per side, in this order and only when
 * present: cpu, cpuMillicores, memory, memoryBytes, ephemeralStorage, ephemeralStorageBytes. Sides with nothing
 * are absent (so no readings → `{}`).
 */
export function resourcesFromReadings(readings: readonly ResourceReading[]): {
  requests?: ResourceValues;
  limits?: ResourceValues;
} {
  const best = new Map<string, ResourceReading>();
  for (const r of readings) {
    const key = `${r.side}/${r.kind}`;
    const cur = best.get(key);
    if (cur === undefined || r.granularity < cur.granularity) best.set(key, r);
  }
  const out: { requests?: ResourceValues; limits?: ResourceValues } = {};
  for (const side of ['requests', 'limits'] as const) {
    const values: Record<string, string | number> = {};
    let any = false;
    for (const kind of KIND_ORDER) {
      const r = best.get(`${side}/${kind}`);
      if (r === undefined) continue;
      const [strKey, numKey] = VALUE_KEYS[kind];
      values[strKey] = formatQuantity(kind, r.base);
      values[numKey] = r.base;
      any = true;
    }
    if (any) out[side] = values as ResourceValues;
  }
  return out;
}

const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,3})?$/;
const SUFFIX_FACTOR: Readonly<Record<string, readonly [num: bigint, den: bigint]>> = {
  '': [1n, 1n],
  n: [1n, 10n ** 9n],
  u: [1n, 10n ** 6n],
  m: [1n, 1000n],
  ...Object.fromEntries(DECIMAL_SUFFIXES.map(([s, v]) => [s, [v, 1n] as const])),
  ...Object.fromEntries(BINARY_SUFFIXES.map(([s, v]) => [s, [v, 1n] as const])),
};

/**
 * A Kubernetes quantity string as the API server serves it (`"100m"`, `"1.5"`, `"4Mi"`, `"1e3"`, `"128M"`)
 * → base units (millicores for cpu, bytes otherwise), rounded up like Quantity.MilliValue()/Value().
 * `undefined` for anything else (negative, malformed, beyond MAX_SAFE_INTEGER).
 */
export function parseQuantity(kind: ResourceKind, text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const [int = '', frac = ''] = m[1]!.split('.');
  let num = BigInt((int || '0') + frac);
  let den = 10n ** BigInt(frac.length);
  const suffix = m[2] ?? '';
  if (/^[eE]./.test(suffix)) {
    const exp = Number(suffix.slice(1));
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  } else {
    const [fn, fd] = SUFFIX_FACTOR[suffix]!;
    num *= fn;
    den *= fd;
  }
  if (kind === 'cpu') num *= 1000n;
  const base = (num + den - 1n) / den;
  return base > MAX ? undefined : Number(base);
}
