// Pod QoS, as kubelet computes it (pkg/apis/core/helper/qos): Guaranteed when every container and init
// container has cpu and memory limits and its requests (defaulted to the limits) equal them. Quantities are
// compared exactly, as fractions (`100m` == `0.1`, `1Gi` == `1024Mi`).

type Fraction = { num: bigint; den: bigint };

const SUFFIX: Record<string, Fraction> = {
  n: { num: 1n, den: 1_000_000_000n },
  u: { num: 1n, den: 1_000_000n },
  m: { num: 1n, den: 1000n },
  '': { num: 1n, den: 1n },
  k: { num: 1000n, den: 1n },
  M: { num: 10n ** 6n, den: 1n },
  G: { num: 10n ** 9n, den: 1n },
  T: { num: 10n ** 12n, den: 1n },
  P: { num: 10n ** 15n, den: 1n },
  E: { num: 10n ** 18n, den: 1n },
  Ki: { num: 1n << 10n, den: 1n },
  Mi: { num: 1n << 20n, den: 1n },
  Gi: { num: 1n << 30n, den: 1n },
  Ti: { num: 1n << 40n, den: 1n },
  Pi: { num: 1n << 50n, den: 1n },
  Ei: { num: 1n << 60n, den: 1n },
};

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** A Kubernetes quantity (string or number) as an exact fraction; undefined when it does not parse. */
export function parseQuantity(value: unknown): Fraction | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string') return undefined;
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const [int = '', frac = ''] = m[2]!.split('.');
  let num = BigInt((int || '0') + frac) * (m[1] === '-' ? -1n : 1n);
  let den = 10n ** BigInt(frac.length);
  if (m[3] !== undefined) {
    const e = BigInt(m[3]);
    if (e > 100n || e < -100n) return undefined;
    if (e >= 0n) num *= 10n ** e;
    else den *= 10n ** -e;
  }
  const s = SUFFIX[m[4] ?? '']!;
  return { num: num * s.num, den: den * s.den };
}

export function sameQuantity(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && x.num * y.den === y.num * x.den;
}

type Resources = { requests?: Record<string, unknown>; limits?: Record<string, unknown> };

function guaranteedContainer(c: unknown): boolean {
  const r = ((c as { resources?: Resources } | null)?.resources ?? {}) as Resources;
  for (const name of ['cpu', 'memory']) {
    const limit = r.limits?.[name];
    if (limit === undefined || parseQuantity(limit)?.num === 0n) return false;
    const request = r.requests?.[name];
    if (request !== undefined && !sameQuantity(request, limit)) return false;
  }
  return true;
}

/** True when the pod spec's QoS class is Guaranteed (and would stay so only if podmeta's requests == limits). */
export function isGuaranteed(spec: { containers?: unknown; initContainers?: unknown }): boolean {
  const all = [
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
    ...(Array.isArray(spec.containers) ? spec.containers : []),
  ];
  return all.length > 0 && all.every(guaranteedContainer);
}
