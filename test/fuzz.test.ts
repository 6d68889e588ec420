// Fuzzing every parser with fast-check: random bytes and strings in, only the documented outcome out —
// a value, or the documented error type (GoQuoteError, PathError, ConfigError, the line limit's Error) —
// never an uncaught exception of another kind. Plus random paths and query strings against a running
// agent: every answer is 2xx/304 or a JSON error (never 5xx), and the agent keeps serving.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import { GoQuoteError, parseGoMap, unquoteGo } from '../src/sources/goquote.js';
import { quoteGo } from '../src/goformat.js';
import { parseResourceName, readingFromValue } from '../src/quantity.js';
import { parseVolumeFile } from '../src/sources/volume-parse.js';
import { partFromEnv, RESOURCE_ENV_PATTERN } from '../src/sources/env.js';
import { ConfigError, DEFAULTS, parseConfig } from '../src/config.js';
import { LineDecoder } from '../src/apiserver/lines.js';
import { PathError, resolveKeys, selectValue, splitPath, toText } from '../src/select.js';
import { startAgent, type TestAgent } from './support/agent.js';
import { HOSTILE, raw } from './support/hostile.js';

const enc = new TextEncoder();
const RUNS = { numRuns: 400 };

/** Run fn; the only acceptable throw is an instance of `allowed`. Returns the value or the error. */
function only<T>(allowed: abstract new (...a: never[]) => Error, fn: () => T): T | Error {
  try {
    return fn();
  } catch (err) {
    assert.ok(err instanceof allowed, `expected ${allowed.name} or a value, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
    return err;
  }
}

/** Bytes biased towards what the Go-quote and map parsers care about. */
const edgyBytes = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
    { weight: 4, arbitrary: fc.constantFrom(0x22, 0x5c, 0x3d, 0x0a, 0x0d, 0x78, 0x75, 0x55, 0x30, 0x37, 0x66, 0x61, 0xe2, 0x80, 0xff) },
  ),
  { maxLength: 80 },
).map((a) => Uint8Array.from(a));

/** Strings made of Go-escape fragments (valid and broken). */
const escapeSoup = fc
  .array(fc.constantFrom('\\', '"', '\\x', '\\x4', '\\xZZ', '\\u00e9', '\\ud800', '\\U0010ffff', '\\U00110000', '\\377', '\\400', '\\q', "\\'", 'a', '=', '\n', '\r', 'é', '日'), {
    maxLength: 12,
  })
  .map((xs) => xs.join(''));

/** no lone UTF-16 surrogate (those have no UTF-8 form; quoteGo writes them as U+FFFD, like Go) */
const isWellFormed = (s: string): boolean => !/[\uD800-\uDFFF]/u.test(s);
const wellFormed = fc.string({ unit: 'binary', maxLength: 60 }).filter(isWellFormed);

describe('fuzz: Go-quoted strings (src/sources/goquote.ts)', () => {
  it('unquoteGo: random bytes give a string or a GoQuoteError with a sane offset', () => {
    fc.assert(
      fc.property(fc.oneof(edgyBytes, edgyBytes.map((b) => Uint8Array.from([0x22, ...b, 0x22])), escapeSoup.map((s) => enc.encode(`"${s}"`))), (input) => {
        const r = only(GoQuoteError, () => unquoteGo(input));
        if (r instanceof GoQuoteError) assert.ok(r.offset >= 0 && r.offset <= input.length, `offset ${r.offset} outside 0..${input.length}`);
        else assert.equal(typeof r, 'string');
      }),
      RUNS,
    );
  });

  it('unquoteGo inverts quoteGo for every well-formed string', () => {
    fc.assert(
      fc.property(wellFormed, (s) => {
        assert.equal(unquoteGo(enc.encode(quoteGo(s))), s);
      }),
      RUNS,
    );
  });

  it('parseGoMap: random bytes give a plain object or a GoQuoteError; nothing is polluted', () => {
    const line = fc.tuple(fc.string({ maxLength: 8 }), escapeSoup).map(([k, v]) => `${k}="${v}"`);
    const file = fc.oneof(edgyBytes, fc.array(line, { maxLength: 6 }).map((ls) => enc.encode(ls.join('\n'))));
    fc.assert(
      fc.property(file, (input) => {
        const r = only(GoQuoteError, () => parseGoMap(input));
        if (!(r instanceof GoQuoteError)) {
          assert.equal(Object.getPrototypeOf(r), Object.prototype);
          for (const v of Object.values(r)) assert.equal(typeof v, 'string');
        }
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      }),
      RUNS,
    );
  });

  it('parseGoMap reads back what toText (the text format) writes for any string map', () => {
    const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((k) => isWellFormed(k) && !/[=\n]/.test(k) && k !== '__proto__');
    fc.assert(
      fc.property(fc.dictionary(key, wellFormed, { maxKeys: 6 }), (m) => {
        assert.deepEqual(parseGoMap(enc.encode(toText(m))), { ...m });
      }),
      RUNS,
    );
  });
});

describe('fuzz: resource names and values (src/quantity.ts)', () => {
  const nameParts = fc.constantFrom('container', 'cpu', 'memory', 'mem', 'ephemeral', 'storage', 'request', 'requests', 'limit', 'limits', 'in', 'millicores', 'cores', 'bytes', 'kibibytes', 'MiB', 'Gi', 'm', 'M', 'k', 'x', '');
  const resourceName = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.tuple(fc.array(nameParts, { maxLength: 5 }), fc.constantFrom('_', '-', '/', '.', '', ' ')).map(([ps, sep]) => ps.join(sep)),
  );

  it('parseResourceName never throws; a spec it returns is well-formed', () => {
    fc.assert(
      fc.property(resourceName, (name) => {
        const spec = parseResourceName(name);
        if (spec !== undefined) {
          assert.ok(['cpu', 'memory', 'ephemeral-storage'].includes(spec.kind));
          assert.ok(['requests', 'limits'].includes(spec.side));
          assert.ok(Number.isSafeInteger(spec.granularity) && spec.granularity >= 1);
        }
      }),
      RUNS,
    );
  });

  it('readingFromValue: a safe reading or a plain Error, for any value text', () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String), fc.constantFrom(' 15 ', '-1', '1e3', '0x10', '１２', '15m', ''));
    const spec = fc.record({ kind: fc.constantFrom('cpu' as const, 'memory' as const, 'ephemeral-storage' as const), side: fc.constantFrom('requests' as const, 'limits' as const), granularity: fc.constantFrom(1, 1000, 1024, 1 << 20, 10 ** 9, 2 ** 50) });
    fc.assert(
      fc.property(spec, value, (s, v) => {
        const r = only(Error, () => readingFromValue(s, v));
        if (!(r instanceof Error)) {
          assert.ok(Number.isSafeInteger(r.base) && r.base >= 0);
          assert.equal(BigInt(r.base), BigInt(v.trim()) * BigInt(s.granularity));
        } else {
          assert.equal(r.constructor, Error);
        }
      }),
      RUNS,
    );
  });
});

describe('fuzz: volume files (src/sources/volume-parse.ts)', () => {
  const relPath = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('labels', 'annotations', 'pod/labels', 'podName', 'pod/name', 'uid', 'requests/cpu', 'limits/memory', 'containerCpuRequestMilliCores', '..data/labels', '', 'a//b', 'x/..y'),
  );
  it('parseVolumeFile never throws and returns one of the item types', () => {
    fc.assert(
      fc.property(relPath, fc.oneof(edgyBytes, fc.string().map((s) => enc.encode(s))), (p, content) => {
        const item = parseVolumeFile(p, content);
        assert.ok(['pod', 'map', 'resource', 'file', 'error'].includes(item.type), item.type);
        if (item.type === 'error') assert.equal(typeof item.message, 'string');
      }),
      RUNS,
    );
  });
});

describe('fuzz: downward env (src/sources/env.ts)', () => {
  const envName = fc.oneof(
    fc.constantFrom('POD_NAME', 'POD_NAMESPACE', 'POD_UID', 'POD_IP', 'POD_IPS', 'NODE_NAME', 'HOST_IP', 'HOST_IPS', 'SERVICE_ACCOUNT', 'SERVICE_ACCOUNT_NAME', 'CONTAINER_CPU_REQUEST_MILLICORES', 'CONTAINER_MEMORY_LIMIT_KIBIBYTES', 'CONTAINER_MEMORY_LIMIT', 'CONTAINER_CPU_LIMIT_FOO', '__proto__', 'constructor'),
    fc.string({ maxLength: 20 }),
  );
  const envValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('10.0.0.1', 'fd00::1', '10.0.0.1,fd00::1', ' 10.0.0.1 ', '$(POD_IP)', '15', '99999999999999999999', ''));

  it('partFromEnv never throws, and never serves a value of a variable it does not know', () => {
    const SECRET = 'sEcReT-7f3a9';
    fc.assert(
      fc.property(fc.dictionary(envName, envValue, { maxKeys: 8 }), fc.string({ maxLength: 12 }), (env, junkName) => {
        const withSecret: Record<string, string> = { ...env };
        const secretName = `APP_${junkName.replace(/[^A-Z0-9_]/gi, '')}_TOKEN`;
        withSecret[secretName] = SECRET;
        const { part, problems } = partFromEnv(withSecret);
        assert.ok(Array.isArray(problems));
        assert.ok(!JSON.stringify(part).includes(SECRET), 'an unknown variable leaked into the part');
        for (const p of problems) assert.ok(Object.hasOwn(withSecret, p.variable) && (p.variable.startsWith('POD_') || p.variable.startsWith('HOST_') || RESOURCE_ENV_PATTERN.test(p.variable)));
      }),
      RUNS,
    );
  });
});

describe('fuzz: configuration (src/config.ts)', () => {
  const names = Object.keys(DEFAULTS).concat(['PODMETA_PROXY_LISTEN', 'PODMETA_PROXY_ACCEPT_PATHS', 'PODMETA_PROXY_REJECT_PATHS', 'PODMETA_PROXY_REJECT_METHODS', 'PODMETA_PROXY_ACCEPT_HOSTS', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'PODMETA_UNKNOWN']);
  const value = fc.oneof(
    fc.string({ maxLength: 24 }),
    fc.constantFrom('', ' ', '0', '1', 'true', 'false', 'on', 'auto', 'debug', '127.0.0.1:0', '[::1]:9977', '0.0.0.0:65536', ':80', '/etc/podinfo', 'relative', '(', '[a-', '.*', '1024', '-1', '1e3', '99999999999999999999'),
  );
  it('parseConfig returns a Config or throws ConfigError naming the bad variables', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 8 }), (env) => {
        const r = only(ConfigError, () => parseConfig(env));
        if (r instanceof Error) {
          assert.match(r.message, /^invalid configuration \(\d+ problems?\):\n/);
          const named = [...r.message.matchAll(/^ {2}([A-Z_]+)=/gm)].map((m) => m[1]);
          assert.ok(named.length > 0 && named.every((n) => names.includes(n!)), r.message);
        } else {
          assert.ok(r.listen.port >= 0 && r.listen.port <= 65535);
          assert.ok(r.maxStreams >= 1);
        }
      }),
      RUNS,
    );
  });
});

describe('fuzz: watch line splitter (src/apiserver/lines.ts)', () => {
  const stream = fc.array(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 1, arbitrary: fc.constant(0x0a) }, { weight: 1, arbitrary: fc.constantFrom(0xe6, 0x97, 0xa5, 0x20, 0x7b, 0x7d) }), { maxLength: 300 }).map((a) => Uint8Array.from(a));

  it('any chunking of a byte stream yields the same lines as feeding it whole', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat({ max: 300 }), { maxLength: 10 }), (bytes, cuts) => {
        const whole = new LineDecoder();
        const expected = [...whole.push(bytes)];
        const tail = whole.rest();
        const d = new LineDecoder();
        const got: string[] = [];
        let at = 0;
        for (const c of [...new Set(cuts)].sort((a, b) => a - b).filter((c) => c <= bytes.length)) {
          got.push(...d.push(bytes.subarray(at, c)));
          at = c;
        }
        got.push(...d.push(bytes.subarray(at)));
        assert.deepEqual(got, expected);
        assert.equal(d.rest(), tail);
        // the reference: split at '\n', decode each line once, trim, drop empty ones
        const reference = Buffer.from(bytes)
          .toString('latin1')
          .split('\n')
          .slice(0, -1)
          .map((l) => new TextDecoder().decode(Buffer.from(l, 'latin1')).trim())
          .filter(Boolean);
        assert.deepEqual(expected, reference);
      }),
      RUNS,
    );
  });

  it('a line over the limit throws the documented Error, and only that', () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 64 }), (bytes, limit) => {
        const d = new LineDecoder(limit);
        for (let i = 0; i < bytes.length; i += 7) {
          try {
            d.push(bytes.subarray(i, i + 7));
          } catch (err) {
            assert.ok(err instanceof Error);
            assert.match(err.message, /^watch line longer than \d+ bytes$/);
            return;
          }
        }
      }),
      RUNS,
    );
  });
});

describe('fuzz: paths and rendering (src/select.ts)', () => {
  const rawPath = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.array(fc.constantFrom('pod', 'labels', 'annotations', 'node', 'files', 'containers', '0', 'main', '%2F', '%zz', '%E0%A4%A', '%', '__proto__', 'constructor', '', '..', 'a.b'), { maxLength: 6 }).map((s) => s.join('/')),
  );
  const doc = fc.record({
    revision: fc.nat(),
    pod: fc.record({ name: fc.string(), labels: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), containers: fc.array(fc.record({ name: fc.string({ maxLength: 5 }), ready: fc.boolean() }), { maxLength: 3 }) }, { requiredKeys: [] }),
    node: fc.record({ labels: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })) }, { requiredKeys: [] }),
    files: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 })),
  });

  it('splitPath → resolveKeys → selectValue → toText: a value, a miss, or a 400 PathError', () => {
    fc.assert(
      fc.property(rawPath, doc, (raw, d) => {
        const segs = only(PathError, () => splitPath(raw));
        if (segs instanceof Error) {
          assert.equal((segs as PathError).status, 400);
          return;
        }
        const keys = resolveKeys(segs);
        assert.ok(keys.length <= segs.length);
        const sel = selectValue(d, keys);
        if (sel.found) {
          assert.notEqual(sel.value, undefined);
          assert.equal(typeof toText(sel.value), 'string');
          assert.equal(typeof JSON.stringify(sel.value), 'string');
        }
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      }),
      RUNS,
    );
  });

  it('toText renders any JSON value without throwing', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
        assert.equal(typeof toText(v), 'string');
      }),
      RUNS,
    );
  });
});

describe('fuzz: random paths and query strings against a running agent', () => {
  let ta: TestAgent | undefined;
  before(async () => {
    ta = await startAgent(undefined);
  });
  after(async () => ta?.stop());

  /** GET with an arbitrary (already percent-encoded or raw-but-legal) request target. */
  function rawGet(base: string, target: string): Promise<{ status: number; type: string; body: string }> {
    const u = new URL(base);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, path: target, method: 'GET', headers: { Metadata: 'true' }, agent: false, timeout: 5000 }, (res) => {
        const type = String(res.headers['content-type'] ?? '');
        if (type.startsWith('text/event-stream')) {
          // an SSE stream stays open by design: its status and type are the answer
          resolve({ status: res.statusCode ?? 0, type, body: '' });
          req.destroy();
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within 5 s for ${target}`)));
      req.on('error', reject);
      req.end();
    });
  }

  function checkAnswer(target: string, r: { status: number; type: string; body: string }): void {
    assert.ok(r.status < 500, `${target} → ${r.status} ${r.body.slice(0, 200)}`);
    if (r.status >= 400) {
      assert.match(r.type, /^application\/json/, `${target}: error without a JSON body`);
      const e = JSON.parse(r.body) as { code: number; reason: string; message: string };
      assert.equal(e.code, r.status);
      assert.equal(typeof e.reason, 'string');
      assert.equal(typeof e.message, 'string');
    } else {
      assert.ok((r.status >= 200 && r.status < 300) || r.status === 304, `${target} → ${r.status}`);
    }
  }

  const pathChar = fc.constantFrom('a', 'Z', '0', '.', '-', '_', '~', '/', '%', '%2F', '%25', '%zz', '%E0%A4%A', '%C3%A9', '%00', '%FF', '__proto__', 'pod', 'labels', 'node', 'files', '+', ';', ',', '=', '&', ':', '@', '!', '$', "'", '(', ')', '*');
  const target = fc.oneof(
    fc.tuple(fc.constantFrom('/metadata', '/metadata/', '/metadata/pod/', '/metadata/pod/labels/', '/metadata/files/', '/events', '/status', '/', '/x'), fc.array(pathChar, { maxLength: 12 })).map(([p, cs]) => p + cs.join('')),
    fc
      .tuple(
        fc.constantFrom('/metadata', '/metadata/pod/name', '/metadata/pod/labels', '/events', '/status'),
        fc.array(fc.tuple(fc.constantFrom('format', 'wait', 'timeout', 'etag', 'path', 'lastEventId', 'verbose', 'x', ''), fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('text', 'json', 'true', '1', '0', '300', '301', '-1', '1e3', '%zz', '%', '/pod/labels', '')), fc.boolean()), { maxLength: 4 }),
      )
      .map(([p, qs]) => {
        const parts = qs
          // never a long-poll that could legitimately wait (a wildcard ETag matches)
          .filter(([k, v]) => !(k === 'etag' && v.includes('*')))
          .map(([k, v, encode]) => `${k}=${encode ? encodeURIComponent(v) : v.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)).replace(/[#]/g, '%23')}`);
        return parts.length ? `${p}?${parts.join('&')}` : p;
      }),
  );

  it('every answer is 2xx/304 or a JSON error, never 5xx; the agent keeps serving', async () => {
    assert.ok(ta);
    const agent = ta;
    await fc.assert(
      fc.asyncProperty(target, async (t) => {
        checkAnswer(t, await rawGet(agent.base, t));
      }),
      { numRuns: 300 },
    );
    // the same through fetch (WHATWG URL parsing and encoding of arbitrary strings)
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), async (p, q) => {
        if (q.includes('*')) q = q.replaceAll('*', '');
        const url = new URL(`${agent.base}/metadata/${p}`);
        url.searchParams.set('format', q);
        const r = await agent.get(url.pathname + url.search);
        checkAnswer(url.pathname + url.search, { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() });
      }),
      { numRuns: 200 },
    );
    const ok = await agent.get('/metadata');
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { pod: { name: string } }).pod.name, 'downward');
    const ready = await fetch(`${agent.probe}/readyz`);
    assert.equal(ready.status, 200);
    await ready.text();
    const errors = agent.logs.filter((l) => l.level === 'error');
    assert.deepEqual(errors, [], 'the agent logged errors while being fuzzed');
  });

  it('the shared hostile requests (test/support/hostile.ts, as in the soak), in random orders: each gets an allowed answer, never 5xx', async () => {
    assert.ok(ta);
    const u = new URL(ta.base);
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(HOSTILE, { minLength: 1 }), async (hs) => {
        for (const h of hs) {
          const r = await raw(u.hostname, Number(u.port), h.data());
          assert.ok(r.statuses.every((st) => st < 500), `${h.name}: ${r.statuses.join(',')}`);
          assert.ok(h.ok(r), `${h.name}: statuses ${JSON.stringify(r.statuses)} closed=${r.closed} body=${r.body.slice(0, 200)}`);
        }
      }),
      { numRuns: 8 },
    );
    assert.equal((await ta.get('/metadata')).status, 200, 'still serving');
  });
});
