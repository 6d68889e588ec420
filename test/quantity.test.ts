import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ResourceKind, ResourceReading } from '../src/document.js';
import {
  formatQuantity,
  parseResourceName,
  readingFromValue,
  resourcesFromReadings,
  tokenizeName,
  type ResourceSpec,
} from '../src/quantity.js';

const KI = 1024;
const MI = 1024 ** 2;
const GI = 1024 ** 3;

describe('tokenizeName', () => {
  it('splits camelCase, acronyms and separators', () => {
    assert.deepEqual(tokenizeName('containerCpuRequestMilliCores'), ['container', 'cpu', 'request', 'milli', 'cores']);
    assert.deepEqual(tokenizeName('CONTAINER_MEMORY_LIMIT_KIBIBYTES'), ['container', 'memory', 'limit', 'kibibytes']);
    assert.deepEqual(tokenizeName('mem-request-MiB'), ['mem', 'request', 'mi', 'b']);
    assert.deepEqual(tokenizeName('requests.ephemeral-storage'), ['requests', 'ephemeral', 'storage']);
    assert.deepEqual(tokenizeName('containerCPURequest'), ['container', 'cpu', 'request']);
    assert.deepEqual(tokenizeName('limits/memory'), ['limits', 'memory']);
  });
});

describe('parseResourceName', () => {
  const cases: [string, ResourceSpec | undefined][] = [
    // flat names seen in real pods and docs
    ['containerCpuRequestMilliCores', { kind: 'cpu', side: 'requests', granularity: 1 }],
    ['containerCpuLimitMilliCores', { kind: 'cpu', side: 'limits', granularity: 1 }],
    ['containerMemoryLimitBytes', { kind: 'memory', side: 'limits', granularity: 1 }],
    ['CONTAINER_MEMORY_LIMIT_KIBIBYTES', { kind: 'memory', side: 'limits', granularity: KI }],
    ['CONTAINER_MEMORY_REQUEST_MIBIBYTES', { kind: 'memory', side: 'requests', granularity: MI }],
    ['CONTAINER_CPU_REQUEST_MILLICORES', { kind: 'cpu', side: 'requests', granularity: 1 }],
    ['containerEphemeralStorageLimitGibibytes', { kind: 'ephemeral-storage', side: 'limits', granularity: GI }],
    ['cpu_limit', { kind: 'cpu', side: 'limits', granularity: 1000 }],
    ['mem_request', { kind: 'memory', side: 'requests', granularity: 1 }],
    ['mem-request-MiB', { kind: 'memory', side: 'requests', granularity: MI }],
    ['cpu-limit-in-millicores', { kind: 'cpu', side: 'limits', granularity: 1 }],
    // nested names
    ['requests/cpu', { kind: 'cpu', side: 'requests', granularity: 1000 }],
    ['requests/memory', { kind: 'memory', side: 'requests', granularity: 1 }],
    ['limits/cpu', { kind: 'cpu', side: 'limits', granularity: 1000 }],
    ['limits/memory', { kind: 'memory', side: 'limits', granularity: 1 }],
    ['limits/ephemeral-storage', { kind: 'ephemeral-storage', side: 'limits', granularity: 1 }],
    ['requests.ephemeral-storage', { kind: 'ephemeral-storage', side: 'requests', granularity: 1 }],
    ['resources/limits/cpu', { kind: 'cpu', side: 'limits', granularity: 1000 }],
    ['limitsMemoryMi', { kind: 'memory', side: 'limits', granularity: MI }],
    // not resources
    ['cpu', undefined],
    ['limits', undefined],
    ['memory_notes', undefined],
    ['labels', undefined],
    ['podName', undefined],
    ['someOtherItem', undefined],
    ['storage_limit', undefined],
    ['my_cpu_limit', undefined],
    ['cpu_limit_1m', undefined],
    ['cpu_limit_in', undefined],
    ['', undefined],
    // unit on the wrong kind
    ['cpu_limit_bytes', undefined],
    ['cpu_limit_KiB', undefined],
    ['cpu_limit_k', undefined],
    ['memory_limit_millicores', undefined],
    ['memory_limit_cores', undefined],
    ['memory_limit_furlongs', undefined],
  ];
  for (const [name, expected] of cases) {
    it(`${JSON.stringify(name)} → ${expected ? `${expected.side}.${expected.kind} /${expected.granularity}` : 'undefined'}`, () => {
      assert.deepEqual(parseResourceName(name), expected);
    });
  }

  it('every cpu unit spelling, in any case and separator style', () => {
    const units: [string, number][] = [
      ['millicores', 1],
      ['millicore', 1],
      ['milli-cores', 1],
      ['MilliCores', 1],
      ['MILLICORES', 1],
      ['m', 1],
      ['M', 1], // cpu divisors are only 1m and 1, so M on cpu can only mean milli
      ['cores', 1000],
      ['core', 1000],
      ['Cores', 1000],
    ];
    for (const [unit, granularity] of units) {
      for (const name of [`cpu_limit_${unit}`, `containerCpuLimit-${unit}`, `CPU.REQUEST.${unit}`]) {
        const spec = parseResourceName(name);
        assert.equal(spec?.kind, 'cpu', name);
        assert.equal(spec?.granularity, granularity, name);
      }
    }
  });

  it('every memory unit spelling, for memory and ephemeral-storage', () => {
    const units: [string, number][] = [
      ['bytes', 1],
      ['byte', 1],
      ['b', 1],
      ['B', 1],
      ['kibibytes', KI],
      ['KiB', KI],
      ['Ki', KI],
      ['kilobytes', 1e3],
      ['kB', 1e3],
      ['KB', 1e3],
      ['k', 1e3],
      ['mebibytes', MI],
      ['mibibytes', MI],
      ['MiB', MI],
      ['Mi', MI],
      ['megabytes', 1e6],
      ['MB', 1e6],
      ['M', 1e6],
      ['m', 1e6], // 1m is not a valid memory divisor; in any case it means mega here
      ['gibibytes', GI],
      ['GiB', GI],
      ['Gi', GI],
      ['gigabytes', 1e9],
      ['GB', 1e9],
      ['G', 1e9],
      ['tebibytes', 2 ** 40],
      ['TiB', 2 ** 40],
      ['terabytes', 1e12],
      ['TB', 1e12],
      ['pebibytes', 2 ** 50],
      ['Pi', 2 ** 50],
      ['petabytes', 1e15],
      ['P', 1e15],
      ['exbibytes', 2 ** 60],
      ['EiB', 2 ** 60],
      ['exabytes', 1e18],
      ['E', 1e18],
    ];
    for (const [unit, granularity] of units) {
      for (const name of [`mem_limit_${unit}`, `containerMemoryRequest_${unit}`, `ephemeral-storage-limit-${unit}`]) {
        const spec = parseResourceName(name);
        assert.ok(spec, name);
        assert.notEqual(spec.kind, 'cpu', name);
        assert.equal(spec.granularity, granularity, name);
      }
    }
  });
});

describe('readingFromValue', () => {
  const spec = (name: string): ResourceSpec => {
    const s = parseResourceName(name);
    assert.ok(s, name);
    return s;
  };

  it('the four real-world examples', () => {
    // requests.cpu 15m, divisor 1m → 15
    const cpu = readingFromValue(spec('requests/cpu/millicores'), '15');
    assert.deepEqual(cpu, { kind: 'cpu', side: 'requests', base: 15, granularity: 1 });
    assert.equal(formatQuantity('cpu', cpu.base), '15m');
    // limits.memory 4Mi, divisor 1Ki → 4096
    const mem4 = readingFromValue(spec('CONTAINER_MEMORY_LIMIT_KIBIBYTES'), '4096');
    assert.deepEqual(mem4, { kind: 'memory', side: 'limits', base: 4194304, granularity: 1024 });
    assert.equal(formatQuantity('memory', mem4.base), '4Mi');
    // limits.memory 6Mi, divisor 1 → 6291456
    const mem6 = readingFromValue(spec('limits/memory'), '6291456');
    assert.deepEqual(mem6, { kind: 'memory', side: 'limits', base: 6291456, granularity: 1 });
    assert.equal(formatQuantity('memory', mem6.base), '6Mi');
    // requests.memory 16Mi, divisor 1Mi → 16
    const mem16 = readingFromValue(spec('mem-request-MiB'), '16');
    assert.deepEqual(mem16, { kind: 'memory', side: 'requests', base: 16 * MI, granularity: MI });
    assert.equal(formatQuantity('memory', mem16.base), '16Mi');
    // cpu 15m with divisor 1 → 1 (coarse)
    const coarse = readingFromValue(spec('requests/cpu'), '1');
    assert.deepEqual(coarse, { kind: 'cpu', side: 'requests', base: 1000, granularity: 1000 });
    assert.equal(formatQuantity('cpu', coarse.base), '1');
  });

  it('accepts surrounding whitespace (a trailing newline from hand-made files)', () => {
    assert.equal(readingFromValue(spec('limits/memory'), ' 42\n').base, 42);
    assert.equal(readingFromValue(spec('limits/memory'), '0').base, 0);
  });

  it('rejects anything that is not a non-negative integer, naming the resource', () => {
    for (const bad of ['', ' ', '-1', '+1', '1.5', '1e3', '15m', '4Mi', '0x10', 'abc', '1 2', 'NaN', 'Infinity', '١٢']) {
      assert.throws(() => readingFromValue(spec('limits/cpu'), bad), /limits\.cpu: expected a non-negative integer/, bad);
    }
  });

  it('rejects values whose base amount overflows MAX_SAFE_INTEGER', () => {
    assert.equal(readingFromValue(spec('limits/memory'), String(Number.MAX_SAFE_INTEGER)).base, Number.MAX_SAFE_INTEGER);
    assert.throws(() => readingFromValue(spec('limits/memory'), '9007199254740992'), /too large/);
    assert.throws(() => readingFromValue(spec('limits/memory'), '9'.repeat(400)), /too large/);
    assert.throws(() => readingFromValue(spec('limits/memory/Gi'), String(2 ** 24)), /too large/);
    assert.throws(() => readingFromValue(spec('limits/memory/Ei'), '8'), /too large/);
    assert.equal(readingFromValue(spec('limits/memory/Ei'), '0').base, 0);
  });
});

describe('formatQuantity', () => {
  const table: [ResourceKind, number, string][] = [
    ['cpu', 0, '0'],
    ['cpu', 1, '1m'],
    ['cpu', 15, '15m'],
    ['cpu', 100, '100m'],
    ['cpu', 999, '999m'],
    ['cpu', 1000, '1'],
    ['cpu', 1500, '1500m'],
    ['cpu', 2000, '2'],
    ['cpu', 64000, '64'],
    ['memory', 0, '0'],
    ['memory', 1, '1'],
    ['memory', 1023, '1023'],
    ['memory', 1024, '1Ki'],
    ['memory', 102400, '100Ki'],
    ['memory', 4194304, '4Mi'],
    ['memory', 6291456, '6Mi'],
    ['memory', 16 * MI, '16Mi'],
    ['memory', 1536 * KI, '1536Ki'],
    ['memory', 2 * GI, '2Gi'],
    ['memory', 2 ** 40, '1Ti'],
    ['memory', 3 * 2 ** 50, '3Pi'],
    ['memory', 5000, '5k'],
    ['memory', 1000000, '1M'],
    ['memory', 128 * 1e6, '128M'],
    ['memory', 1e9, '1G'],
    ['memory', 1e12, '1T'],
    ['memory', 2e15, '2P'],
    ['memory', 1000, '1k'],
    ['memory', 1001, '1001'],
    ['memory', 1024000, '1000Ki'], // both families divide: the smaller number wins
    ['memory', 2048000, '2000Ki'],
    ['memory', 256 * MI, '256Mi'],
    ['ephemeral-storage', 2 * GI, '2Gi'],
    ['ephemeral-storage', 10e9, '10G'],
    ['memory', Number.MAX_SAFE_INTEGER, '9007199254740991'],
  ];
  for (const [kind, base, expected] of table) {
    it(`${kind} ${base} → ${expected}`, () => assert.equal(formatQuantity(kind, base), expected));
  }

  it('negatives get a sign; non-integers throw', () => {
    assert.equal(formatQuantity('cpu', -1500), '-1500m');
    assert.equal(formatQuantity('memory', -1024), '-1Ki');
    assert.throws(() => formatQuantity('cpu', 1.5), RangeError);
    assert.throws(() => formatQuantity('memory', Number.NaN), RangeError);
    assert.throws(() => formatQuantity('memory', 2 ** 60), RangeError);
  });

  // A tiny Kubernetes quantity parser (integers with an optional suffix), independent of the code under test.
  const SUFFIX: Record<string, bigint> = {
    '': 1n,
    k: 10n ** 3n,
    M: 10n ** 6n,
    G: 10n ** 9n,
    T: 10n ** 12n,
    P: 10n ** 15n,
    E: 10n ** 18n,
    Ki: 2n ** 10n,
    Mi: 2n ** 20n,
    Gi: 2n ** 30n,
    Ti: 2n ** 40n,
    Pi: 2n ** 50n,
    Ei: 2n ** 60n,
  };
  /** Quantity string → base units (millicores for cpu, bytes otherwise). */
  function parseQuantity(kind: ResourceKind, q: string): bigint {
    const m = /^(-?)([0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q);
    assert.ok(m, `not a quantity: ${q}`);
    const sign = m[1] === '-' ? -1n : 1n;
    const n = BigInt(m[2]!);
    const suffix = m[3] ?? '';
    if (kind === 'cpu') {
      if (suffix === 'm') return sign * n;
      assert.equal(suffix, '', `cpu quantity with suffix ${suffix}`);
      return sign * n * 1000n;
    }
    assert.notEqual(suffix, 'm');
    return sign * n * SUFFIX[suffix]!;
  }

  it('property: formatQuantity output parses back to the same base amount, in canonical form', () => {
    const kind = fc.constantFrom<ResourceKind>('cpu', 'memory', 'ephemeral-storage');
    const amount = fc.oneof(
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.nat({ max: 100_000 }),
      // products of round factors, to hit the suffixes
      fc
        .tuple(fc.nat({ max: 4096 }), fc.constantFrom(1, 1000, 1024, 1e6, MI, 1e9, GI, 2 ** 40, 1e12, 2 ** 50, 1e15))
        .map(([a, b]) => a * b)
        .filter(Number.isSafeInteger),
    );
    fc.assert(
      fc.property(kind, amount, (k, base) => {
        const q = formatQuantity(k, base);
        assert.equal(parseQuantity(k, q), BigInt(base), q);
        // canonical: the smallest number among all exact spellings (binary preferred on a tie)
        const mantissa = BigInt(/^([0-9]+)/.exec(q)![1]!);
        if (base === 0) assert.equal(q, '0');
        else if (k === 'cpu') {
          if (q.endsWith('m')) assert.notEqual(base % 1000, 0, q);
          else assert.equal(mantissa * 1000n, BigInt(base), q);
        } else {
          for (const size of Object.values(SUFFIX)) {
            if (BigInt(base) % size === 0n) assert.ok(mantissa <= BigInt(base) / size, `${q} vs /${size}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('resourcesFromReadings', () => {
  const r = (kind: ResourceKind, side: 'requests' | 'limits', base: number, granularity: number): ResourceReading => ({
    kind,
    side,
    base,
    granularity,
  });

  it('no readings → {}', () => {
    assert.deepEqual(resourcesFromReadings([]), {});
  });

  it('builds both sides with strings and base numbers, in a fixed key order', () => {
    const out = resourcesFromReadings([
      r('memory', 'limits', 4194304, 1024),
      r('cpu', 'requests', 15, 1),
      r('memory', 'requests', 102400, 1),
      r('cpu', 'limits', 100, 1),
      r('ephemeral-storage', 'limits', 2 * GI, GI),
    ]);
    assert.deepEqual(out, {
      requests: { cpu: '15m', cpuMillicores: 15, memory: '100Ki', memoryBytes: 102400 },
      limits: {
        cpu: '100m',
        cpuMillicores: 100,
        memory: '4Mi',
        memoryBytes: 4194304,
        ephemeralStorage: '2Gi',
        ephemeralStorageBytes: 2 * GI,
      },
    });
    assert.deepEqual(Object.keys(out), ['requests', 'limits']);
    assert.deepEqual(Object.keys(out.limits!), [
      'cpu',
      'cpuMillicores',
      'memory',
      'memoryBytes',
      'ephemeralStorage',
      'ephemeralStorageBytes',
    ]);
  });

  it('a side with nothing is absent', () => {
    assert.deepEqual(resourcesFromReadings([r('cpu', 'limits', 500, 1)]), { limits: { cpu: '500m', cpuMillicores: 500 } });
  });

  it('the finer reading wins whatever the order (env cpu in cores vs volume cpu in millicores)', () => {
    const coarse = r('cpu', 'requests', 1000, 1000); // 15m reported with divisor 1 → "1"
    const fine = r('cpu', 'requests', 15, 1); // 15m reported with divisor 1m → "15"
    for (const list of [
      [coarse, fine],
      [fine, coarse],
    ]) {
      assert.deepEqual(resourcesFromReadings(list).requests, { cpu: '15m', cpuMillicores: 15 });
    }
    // memory: 1 byte beats 1Ki beats 1Mi
    const mem = [r('memory', 'limits', 5 * MI, MI), r('memory', 'limits', 4200448, 1), r('memory', 'limits', 4201 * KI, KI)];
    assert.equal(resourcesFromReadings(mem).limits?.memoryBytes, 4200448);
  });

  it('ties: the first reading wins', () => {
    const out = resourcesFromReadings([r('memory', 'requests', 2048, 1024), r('memory', 'requests', 3072, 1024)]);
    assert.equal(out.requests?.memoryBytes, 2048);
  });
});
