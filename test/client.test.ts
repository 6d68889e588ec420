// @podmeta/client one-shot methods against the real agent over real sockets: get (whole, parts, typed),
// text, the per-path ETag cache (If-None-Match → 304 → cached value), errors (404, no agent, black hole,
// timeouts), isAvailable, the long-poll, the URL rules, and retries only where safe.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createClient, PodmetaError } from '../client/src/index.js';
import { resolveBaseUrl } from '../client/src/url.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { formatMap } from './support/kubelet-volume.js';
import { FaultProxy, blackHole, freePort } from './support/client-proxy.js';
import { openSse } from './support/sse.js';

async function rejection(p: Promise<unknown>): Promise<PodmetaError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PodmetaError, `a PodmetaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('get(): the whole document equals GET /metadata, typed and deep-frozen', async (t) => {
  const a = await startAgent(t);
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const doc = await pm.get();
  assert.deepEqual(doc, await (await a.get('/metadata')).json());
  assert.equal(doc.pod.name, 'downward');
  assert.equal(typeof doc.revision, 'number');
  assert.ok(Object.isFrozen(doc) && Object.isFrozen(doc.pod) && Object.isFrozen(doc.pod.labels));
  assert.throws(() => {
    (doc.pod as { name?: string }).name = 'changed';
  }, TypeError);
  assert.equal((await pm.get()).pod.name, 'downward', 'a caller cannot corrupt the cache');
});

test('get(path): parts, keys with slashes, array indexes and container names; text(path) is raw', async (t) => {
  const a = await startAgent(t, { files: sampleFiles({ 'app.kubernetes.io/name': 'web', 'a%b c': 'x' }) });
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const labels = await pm.get('pod/labels');
  assert.deepEqual(labels, { 'app.kubernetes.io/name': 'web', 'a%b c': 'x' });
  const name: string = await pm.get('pod/labels/app.kubernetes.io/name');
  assert.equal(name, 'web');
  assert.equal(await pm.get('pod/labels/a%b c'), 'x', 'a key with % and a space is encoded');
  assert.equal(await pm.get('/pod/name/'), 'downward', 'leading and trailing slashes are ignored');
  assert.equal(await pm.get('pod/ips/0'), '10.244.1.38');
  assert.equal(await pm.get('resources/requests/cpuMillicores'), 15);
  assert.equal(await pm.text('pod/name'), 'downward');
  assert.equal(await pm.text('pod/labels'), formatMap({ 'app.kubernetes.io/name': 'web', 'a%b c': 'x' }));
  assert.equal(await pm.text('pod/annotations/key2'), 'multi\nline\nvalue\n');
});

test('ETag per path: a repeat sends If-None-Match, the 304 returns the cached value; a change is read anew', async (t) => {
  const a = await startAgent(t);
  const proxy = await FaultProxy.start(t, a.base);
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  const first = await pm.get('pod/labels');
  const second = await pm.get('pod/labels');
  assert.equal(second, first, 'the very cached (frozen) object');
  const reqs = proxy.to('/metadata/pod/labels');
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0]!.headers['if-none-match'], undefined);
  assert.equal(reqs[1]!.headers['if-none-match'], pm.etag('pod/labels'));
  assert.equal(reqs[1]!.status, 304);
  for (const r of proxy.requests) assert.equal(r.headers.metadata, 'true', 'Metadata: true on every request');
  // the whole document and text have their own tags
  await pm.get();
  await pm.get();
  assert.equal(proxy.to('/metadata').filter((r) => r.url === '/metadata').at(-1)!.status, 304);
  assert.equal(await pm.text('pod/labels'), 'foo="bar"');
  assert.equal(await pm.text('pod/labels'), 'foo="bar"');
  assert.equal(proxy.requests.at(-1)!.status, 304);
  await a.volume!.update(sampleFiles({ foo: 'changed' }));
  const third = await eventually(async () => {
    const v = await pm.get('pod/labels');
    return v.foo === 'changed' ? v : undefined;
  });
  assert.deepEqual(third, { foo: 'changed' });
  assert.equal(proxy.to('/metadata/pod/labels').at(-1)!.status, 200);
});

test('a missing path is PodmetaError code 404 with the agent\'s reason and message, and is not retried', async (t) => {
  const a = await startAgent(t);
  const proxy = await FaultProxy.start(t, a.base);
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  const err = await rejection(pm.get('pod/labels/nope'));
  assert.equal(err.code, 404);
  assert.equal(err.reason, 'NotFound');
  assert.equal(err.message, 'no field pod/labels/nope');
  assert.deepEqual(err.toJSON(), { code: 404, reason: 'NotFound', message: 'no field pod/labels/nope' });
  assert.equal(proxy.to('/metadata/pod/labels/nope').length, 1, 'never retried');
  const e2 = await rejection(pm.text('nope'));
  assert.equal(e2.code, 404);
});

test('no agent: code 0 at once on connection refused (not after the timeout); isAvailable() false', { timeout: 20_000 }, async () => {
  const port = await freePort();
  // a timeout far beyond the test's own: only the refusal itself can end these calls in time
  const pm = createClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 600_000 });
  const err = await rejection(pm.get());
  assert.equal(err.code, 0);
  assert.equal(err.reason, 'ConnectionRefused');
  assert.equal((err.cause as { code?: string }).code, 'ECONNREFUSED');
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.equal(await pm.isAvailable(), false);
  pm.close();
});

test('a black-hole server (accepts, never answers): get, text, isAvailable and the long-poll all end at their deadline', { timeout: 20_000 }, async (t) => {
  const url = await blackHole(t);
  const pm = createClient({ url, timeoutMs: 300 });
  t.after(() => pm.close());
  const err = await rejection(pm.get('pod/name'));
  assert.equal(err.code, 0);
  assert.equal(err.reason, 'Timeout');
  assert.equal((await rejection(pm.text('pod/name'))).reason, 'Timeout');
  assert.equal((await rejection(pm.get('pod', { timeoutMs: 100 }))).reason, 'Timeout');
  assert.equal(await pm.isAvailable(), false);
  // the long-poll's own deadline is timeoutS + the client's timeout, never the bare request timeout
  const lp = await rejection(pm.waitForChange('pod/labels', { etag: '"x"', timeoutS: 1 }));
  assert.equal(lp.reason, 'Timeout');
  assert.match(lp.message, /1300 ms/);
});

test('isAvailable(): true with an agent, and a negative answer is never cached', { timeout: 20_000 }, async (t) => {
  const port = await freePort();
  const pm = createClient({ url: `http://127.0.0.1:${port}` });
  t.after(() => pm.close());
  assert.equal(await pm.isAvailable(), false);
  const a = await startAgent(t, { config: { PODMETA_LISTEN: `127.0.0.1:${port}` } });
  assert.equal(a.base, `http://127.0.0.1:${port}`);
  assert.equal(await pm.isAvailable(), true);
  await a.stop();
  assert.equal(await pm.isAvailable(), false);
});

test('retries only where safe: a connection cut before the answer is repeated; a 4xx never is', async (t) => {
  const a = await startAgent(t);
  const proxy = await FaultProxy.start(t, a.base);
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  proxy.cut(1);
  assert.equal(await pm.get('pod/name'), 'downward');
  assert.equal(proxy.to('/metadata/pod/name').length, 2, 'cut once, repeated once');
  proxy.cut(5);
  const err = await rejection(pm.get('pod/name'));
  assert.equal(err.code, 0);
  assert.equal(err.reason, 'ConnectionFailed');
  assert.equal(proxy.to('/metadata/pod/name').length, 2 + 3, 'bounded: the first try and two retries');
  proxy.cut(0);
});

test('503 with Retry-After (the agent\'s stream cap) is waited out and retried within the deadline', { timeout: 20_000 }, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '1' } });
  const proxy = await FaultProxy.start(t, a.base);
  const held = await openSse(a.base + '/events'); // takes the only slot
  t.after(() => held.close());
  await held.next();
  const pm = createClient({ url: proxy.url, timeoutMs: 3000 });
  t.after(() => pm.close());
  await pm.get('pod/labels');
  // the long-poll needs a slot: the agent answers 503 Retry-After: 1 until the held stream goes
  const waiting = pm.waitForChange('pod/labels', { timeoutS: 30 });
  await eventually(() => proxy.to('/metadata/pod/labels?wait').some((r) => r.status === 503));
  held.close();
  await eventually(() => proxy.to('/metadata/pod/labels?wait').length >= 2, 5000, 'the retry');
  await a.volume!.update(sampleFiles({ foo: 'after-503' }));
  const r = await waiting;
  assert.equal(r.changed, true);
  assert.deepEqual(r.value, { foo: 'after-503' });
  const statuses = proxy.to('/metadata/pod/labels?wait').map((x) => x.status);
  assert.equal(statuses[0], 503);
  assert.equal(statuses.at(-1), 200);
  // a Retry-After beyond the call's deadline is not waited for: the 503 is the answer
  const held2 = await openSse(a.base + '/events');
  t.after(() => held2.close());
  await held2.next();
  const quick = createClient({ url: a.base, timeoutMs: 500 });
  t.after(() => quick.close());
  const err = await rejection(quick.waitForChange('pod/labels', { etag: pm.etag('pod/labels')!, timeoutS: 0 }));
  assert.equal(err.code, 503);
  assert.equal(err.reason, 'ServiceUnavailable');
  assert.match(err.message, /PODMETA_MAX_STREAMS/);
});

test('waitForChange(): answers when the part changes; changed: false after the agent\'s timeout', { timeout: 20_000 }, async (t) => {
  const a = await startAgent(t);
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const none = await pm.waitForChange('pod/labels', { timeoutS: 5 });
  assert.equal(none.changed, true, 'no tag known: answers at once with the value');
  assert.deepEqual(none.value, { foo: 'bar' });
  const idle = await pm.waitForChange('pod/labels', { timeoutS: 1 });
  assert.equal(idle.changed, false);
  assert.deepEqual(idle.value, { foo: 'bar' });
  assert.equal(idle.etag, none.etag);
  const pending = pm.waitForChange('pod/labels', { timeoutS: 30 });
  await new Promise((r) => setTimeout(r, 100));
  await a.volume!.update(sampleFiles({ foo: 'baz' }));
  const hit = await pending;
  assert.equal(hit.changed, true);
  assert.deepEqual(hit.value, { foo: 'baz' });
  assert.notEqual(hit.etag, none.etag);
  // a caller's own etag (not from this client): a 304 is answered with a fresh read
  const other = createClient({ url: a.base });
  t.after(() => other.close());
  const same = await other.waitForChange('pod/labels', { etag: hit.etag, timeoutS: 0 });
  assert.equal(same.changed, false);
  assert.deepEqual(same.value, { foo: 'baz' });
  await assert.rejects(pm.waitForChange('pod/labels', { timeoutS: 301 }), TypeError);
});

test('an AbortSignal (client-wide or per call) ends a pending call with reason Aborted', { timeout: 20_000 }, async (t) => {
  const a = await startAgent(t);
  const ac = new AbortController();
  const pm = createClient({ url: a.base, signal: ac.signal });
  t.after(() => pm.close());
  await pm.get('pod/labels');
  const pending = pm.waitForChange('pod/labels', { timeoutS: 60 });
  setTimeout(() => ac.abort(), 50);
  assert.equal((await rejection(pending)).reason, 'Aborted');
  const pm2 = createClient({ url: a.base });
  t.after(() => pm2.close());
  await pm2.get('pod/labels');
  const call = new AbortController();
  const p2 = pm2.waitForChange('pod/labels', { timeoutS: 60, signal: call.signal });
  setTimeout(() => call.abort(), 50);
  assert.equal((await rejection(p2)).reason, 'Aborted');
  assert.equal(await pm2.get('pod/name'), 'downward', 'the client still works');
});

test('URL: option, else PODMETA_URL, else http:// + PODMETA_LISTEN (any-address → loopback), else 127.0.0.1:9977', async (t) => {
  assert.equal(resolveBaseUrl(undefined, {}), 'http://127.0.0.1:9977');
  assert.equal(resolveBaseUrl('http://127.0.0.1:1/', { PODMETA_URL: 'http://127.0.0.1:2' }), 'http://127.0.0.1:1');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_URL: 'http://127.0.0.1:2', PODMETA_LISTEN: '127.0.0.1:3' }), 'http://127.0.0.1:2');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_LISTEN: '127.0.0.1:3' }), 'http://127.0.0.1:3');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_LISTEN: '0.0.0.0:3' }), 'http://127.0.0.1:3');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_LISTEN: '[::]:3' }), 'http://[::1]:3');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_LISTEN: '[::1]:3' }), 'http://[::1]:3');
  assert.equal(resolveBaseUrl(undefined, { PODMETA_URL: ' ', PODMETA_LISTEN: '' }), 'http://127.0.0.1:9977', 'empty = unset');
  assert.throws(() => resolveBaseUrl(undefined, { PODMETA_LISTEN: 'nope' }), /PODMETA_LISTEN/);
  assert.throws(() => resolveBaseUrl('https://127.0.0.1:1', {}), /only http/);
  assert.throws(() => createClient({ url: 'http://x', timeoutMs: 0 }), TypeError);
  // for real: an agent found through PODMETA_LISTEN
  const a = await startAgent(t);
  const pm = createClient({ env: { PODMETA_LISTEN: a.base.slice('http://'.length) } });
  t.after(() => pm.close());
  assert.equal(pm.url, a.base);
  assert.equal(await pm.get('pod/name'), 'downward');
});
