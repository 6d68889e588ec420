// watch(): the live view over /events against the real agent — kubelet-style volume swaps and API-side
// changes, always equal to GET /metadata once settled; resume after a drop without a lost or duplicated
// change; a half-open connection noticed by the idle timeout; an agent restart; and, from a scripted
// server, what the agent never does (a patch that does not apply, a revision gap, another run's id, a 4xx).
import test from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { createClient, PodmetaError, type Watch, type WatchItem, type MetadataDocument } from '../client/src/index.js';
import { startAgent, sampleFiles, eventually, type TestAgent } from './support/agent.js';
import { FaultProxy, freePort } from './support/client-proxy.js';
import { scripted, sse, stream } from './support/client-sse-script.js';
import { FakeApiServer, samplePod, sampleNode } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { FAST } from './support/api-harness.js';

const FASTER = { retryMs: 30 }; // the agent's `retry:` hint: quick reconnects in tests

function collect<T>(w: Watch<T>): WatchItem<T>[] {
  const items: WatchItem<T>[] = [];
  void (async () => {
    for await (const item of w) items.push(item);
  })();
  return items;
}

async function doc(a: TestAgent): Promise<MetadataDocument> {
  return (await (await a.get('/metadata')).json()) as MetadataDocument;
}

/** Wait until the agent serves `labels`, then until the watch is at the agent's revision; compare. */
async function settled(a: TestAgent, w: Watch<MetadataDocument>, labels?: Record<string, string>): Promise<MetadataDocument> {
  const d = await eventually(async () => {
    const x = await doc(a);
    return labels === undefined || isDeepStrictEqual(x.pod.labels ?? {}, labels) ? x : undefined;
  });
  await eventually(() => w.revision === d.revision, 5000, `watch at revision ${d.revision} (is ${w.revision})`);
  assert.deepEqual(w.current, d, 'the watch equals GET /metadata at the same revision');
  return d;
}

test('watch(): snapshot first, then every kubelet-style volume swap; equal to GET /metadata after each', async (t) => {
  const a = await startAgent(t, { agent: FASTER });
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const w = pm.watch();
  const labels = pm.watch('pod/labels');
  const items = collect(w);
  const labelItems = collect(labels);
  const first = await w.ready;
  assert.deepEqual(first.value, await doc(a));
  assert.deepEqual((await labels.ready).value, { foo: 'bar' });
  const steps: Record<string, string>[] = [{ foo: 'one' }, { foo: 'two', 'app.kubernetes.io/name': 'web' }, {}, { 'a~b/c': 'tilde and slash' }];
  for (const [i, next] of steps.entries()) {
    await a.volume!.update(sampleFiles(next, { [`extra${i}`]: `file ${i}` }));
    await settled(a, w, next);
    await eventually(() => isDeepStrictEqual(labels.current ?? {}, next), 5000, 'the labels watch');
  }
  const revs = items.map((x) => x.revision);
  assert.deepEqual(revs, [...revs].sort((x, y) => x - y), 'in order');
  assert.equal(new Set(revs).size, revs.length, 'no revision twice');
  assert.deepEqual(
    labelItems.map((x) => x.value),
    [{ foo: 'bar' }, { foo: 'one' }, { foo: 'two', 'app.kubernetes.io/name': 'web' }, {}, { 'a~b/c': 'tilde and slash' }],
    'the labels watch yields exactly each new value once',
  );
  assert.equal(w.stats.snapshots, 1);
  assert.equal(w.stats.resyncs, 0, 'every patch applied');
});

test('watch(): values are deep-frozen; a caller mutating one cannot corrupt the view', async (t) => {
  const a = await startAgent(t, { agent: FASTER });
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const w = pm.watch('pod');
  const { value } = await w.ready;
  assert.ok(Object.isFrozen(value) && Object.isFrozen(value!.labels));
  assert.throws(() => {
    (value!.labels as Record<string, string>).foo = 'hacked';
  }, TypeError);
  await a.volume!.update(sampleFiles({ foo: 'bar', more: '1' }));
  await eventually(() => w.current?.labels?.more === '1');
  assert.deepEqual(w.current!.labels, { foo: 'bar', more: '1' });
  assert.deepEqual(value!.labels, { foo: 'bar' }, 'the old value is unchanged (a copy was patched)');
});

test('watch(): follows API-side label changes (fake API server) and equals GET /metadata', async (t) => {
  const POD = 'web-5d9c7b8f4-x7k2p';
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod());
  server.putNode(sampleNode());
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: 'default' });
  t.after(() => sa.remove());
  const a = await startAgent(t, {
    env: { POD_NAME: POD, POD_NAMESPACE: 'default', NODE_NAME: 'k8s-node1' },
    files: sampleFiles({ app: 'web', source: 'volume' }),
    config: { PODMETA_API: 'on', PODMETA_SA_DIR: sa.dir, KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: String(server.port) },
    agent: { apiTiming: FAST, ...FASTER },
  });
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const w = pm.watch();
  const labels = pm.watch('pod/labels');
  await eventually(() => w.current?.pod.phase === 'Running' && w.current.pod.labels?.['pod-template-hash'], 5000, 'API data in the watch');
  for (const tier of ['gold', 'silver']) {
    server.modifyPod('default', POD, (p) => {
      (p.metadata as { labels: Record<string, string> }).labels.tier = tier;
    });
    const d = await eventually(async () => {
      const x = await doc(a);
      return x.pod.labels?.tier === tier ? x : undefined;
    });
    await settled(a, w);
    assert.equal(d.pod.labels?.tier, tier);
    await eventually(() => labels.current?.tier === tier);
    assert.deepEqual(labels.current, d.pod.labels);
  }
});

test('resume after a dropped connection: Last-Event-ID, the missed changes replayed, none lost or repeated', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t, { agent: FASTER });
  const proxy = await FaultProxy.start(t, a.base);
  const dead = `http://127.0.0.1:${await freePort()}`;
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  const w = pm.watch();
  const items = collect(w);
  await w.ready;
  let n = 0;
  for (let round = 0; round < 3; round++) {
    // the agent becomes unreachable, the stream drops, changes happen meanwhile
    proxy.target = dead;
    proxy.drop();
    for (let i = 0; i < 3; i++) {
      n++;
      await a.volume!.update(sampleFiles({ foo: `v${n}` }));
      await eventually(async () => (await doc(a)).pod.labels?.foo === `v${n}`);
    }
    await eventually(() => w.stats.connects >= 2 + round * 2, 5000, 'a failed reconnect while unreachable');
    proxy.target = a.base;
    await settled(a, w, { foo: `v${n}` });
  }
  const revs = items.map((x) => x.revision);
  const start = revs[0]!;
  assert.deepEqual(revs, revs.map((_, i) => start + i), `every revision exactly once: ${revs.join(',')}`);
  assert.equal(w.stats.snapshots, 1, 'resumed by replay, never a fresh snapshot');
  const resumed = proxy.to('/events').filter((r) => r.headers['last-event-id'] !== undefined);
  assert.ok(resumed.length >= 3, 'reconnects carried Last-Event-ID');
  for (const r of resumed) assert.match(String(r.headers['last-event-id']), /^[\w-]+\.\d+$/);
});

test('a half-open connection (nothing arrives, the socket stays open) is noticed by the idle timeout and replaced', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t, { agent: { keepAliveMs: 200, ...FASTER } });
  const proxy = await FaultProxy.start(t, a.base);
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  const w = pm.watch('pod/labels');
  await w.ready;
  await new Promise((r) => setTimeout(r, 700)); // a few keep-alives: the cadence is learned
  proxy.freeze();
  await a.volume!.update(sampleFiles({ foo: 'while-frozen' }));
  await eventually(() => w.current?.foo === 'while-frozen', 10_000, 'the change, after the idle timeout and a reconnect');
  assert.equal(w.stats.idleTimeouts, 1);
  assert.equal(w.stats.snapshots, 1, 'resumed with Last-Event-ID');
  assert.ok(proxy.to('/events').at(-1)!.headers['last-event-id']);
});

test('an agent restart (new epoch) is followed transparently: fresh snapshot, the new values', { timeout: 30_000 }, async (t) => {
  const port = await freePort();
  const listen = { PODMETA_LISTEN: `127.0.0.1:${port}` };
  const a1 = await startAgent(t, { config: listen, agent: FASTER });
  const pm = createClient({ url: a1.base });
  t.after(() => pm.close());
  const w = pm.watch();
  const labels = pm.watch('pod/labels');
  const labelItems = collect(labels);
  await w.ready;
  await a1.volume!.update(sampleFiles({ foo: 'before' }));
  await settled(a1, w, { foo: 'before' });
  const epoch1 = w.epoch;
  await a1.stop();
  await eventually(() => !w.connected);
  const a2 = await startAgent(t, { config: listen, files: sampleFiles({ foo: 'after', new: 'agent' }), agent: FASTER });
  await settled(a2, w, { foo: 'after', new: 'agent' });
  assert.notEqual(w.epoch, epoch1);
  assert.equal(w.stats.snapshots, 2);
  await eventually(() => labels.current?.new === 'agent');
  assert.deepEqual(
    labelItems.map((x) => x.value),
    [{ foo: 'bar' }, { foo: 'before' }, { foo: 'after', new: 'agent' }],
  );
  // and it keeps following the new agent
  await a2.volume!.update(sampleFiles({ foo: 'later' }));
  await settled(a2, w, { foo: 'later' });
});

test('never a wrong value: a patch that does not apply, a revision gap, another run\'s id → a fresh snapshot', { timeout: 20_000 }, async (t) => {
  const s = await scripted(t, [
    stream(sse('snapshot', 'e1.1', { revision: 1, pod: { labels: { a: '1' } } }), sse('change', 'e1.2', { revision: 2, patch: [{ op: 'replace', path: '/pod/nope/x', value: 'bad' }] })),
    stream(sse('snapshot', 'e1.5', { revision: 5, pod: { labels: { a: '5' } } }), sse('change', 'e1.7', { revision: 7, patch: [{ op: 'replace', path: '/pod/labels/a', value: 'gap' }] })),
    stream(sse('snapshot', 'e1.7', { revision: 7, pod: { labels: { a: '7' } } }), sse('change', 'e2.8', { revision: 8, patch: [{ op: 'replace', path: '/pod/labels/a', value: 'other-run' }] })),
    stream(
      sse('snapshot', 'e2.8', { revision: 8, pod: { labels: { a: '8' } } }),
      sse('change', 'e2.8', { revision: 8, patch: [{ op: 'replace', path: '/pod/labels/a', value: 'repeat' }] }),
      sse('change', 'e2.9', { revision: 9, patch: [{ op: 'replace', path: '/pod/labels/a', value: '9' }] }),
      ': keep-alive\n\n',
    ),
  ]);
  const pm = createClient({ url: s.url });
  t.after(() => pm.close());
  const w = pm.watch() as unknown as Watch<{ revision: number; pod: { labels: Record<string, string> } }>;
  const items = collect(w);
  await eventually(() => w.revision === 9, 10_000, 'the last revision');
  assert.deepEqual(
    items.map((x) => [x.revision, x.value?.pod.labels.a]),
    [
      [1, '1'],
      [5, '5'],
      [7, '7'],
      [8, '8'],
      [9, '9'],
    ],
    'only values the server really had',
  );
  assert.equal(w.current!.revision, 9, 'the document carries its revision');
  assert.equal(w.stats.resyncs, 3);
  assert.equal(s.requests.length, 4);
  for (const r of s.requests.slice(1)) assert.equal(r.headers['last-event-id'], undefined, 'a resync asks for a fresh snapshot');
});

test('a part\'s stream skips revisions that did not touch it (no resync); a repeat is never applied twice', { timeout: 20_000 }, async (t) => {
  const s = await scripted(t, [
    stream(
      sse('snapshot', 'e.3', { a: '3' }),
      sse('change', 'e.6', { revision: 6, patch: [{ op: 'replace', path: '/a', value: '6' }] }),
      sse('change', 'e.6', { revision: 6, patch: [{ op: 'replace', path: '/a', value: 'again' }] }),
      sse('change', 'e.9', { revision: 9, patch: [{ op: 'remove', path: '' }] }),
      sse('change', 'e.10', { revision: 10, patch: [{ op: 'add', path: '', value: { b: '10' } }] }),
    ),
  ]);
  const pm = createClient({ url: s.url });
  t.after(() => pm.close());
  const w = pm.watch('pod/labels');
  const items = collect(w);
  await eventually(() => w.revision === 10);
  assert.deepEqual(items.map((x) => [x.revision, x.value]), [
    [3, { a: '3' }],
    [6, { a: '6' }],
    [9, undefined],
    [10, { b: '10' }],
  ]);
  assert.equal(w.stats.resyncs, 0);
  assert.equal(s.requests[0]!.url, '/events?path=%2Fpod%2Flabels');
});

test('a 4xx from /events ends the watch with that PodmetaError (no reconnect loop)', { timeout: 20_000 }, async (t) => {
  const s = await scripted(t, [
    (res) => {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: 403, reason: 'Forbidden', message: 'add the header Metadata: true' }));
    },
  ]);
  const pm = createClient({ url: s.url });
  t.after(() => pm.close());
  const w = pm.watch();
  await assert.rejects(w.ready, (e: unknown) => e instanceof PodmetaError && e.code === 403 && e.reason === 'Forbidden');
  await assert.rejects(
    (async () => {
      for await (const _ of w) assert.fail('no item');
    })(),
    (e: unknown) => e instanceof PodmetaError && e.code === 403,
  );
  assert.equal(w.closed, true);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.requests.length, 1);
});

test('no agent yet: the watch keeps retrying with backoff and picks the agent up when it starts', { timeout: 30_000 }, async (t) => {
  const port = await freePort();
  const pm = createClient({ url: `http://127.0.0.1:${port}` });
  t.after(() => pm.close());
  const w = pm.watch('pod/name', { maxBackoffMs: 200 });
  await eventually(() => w.stats.connects >= 3, 10_000, 'retries');
  assert.equal(w.error?.reason, 'ConnectionRefused');
  assert.equal(w.current, undefined);
  assert.equal(w.revision, undefined);
  await startAgent(t, { config: { PODMETA_LISTEN: `127.0.0.1:${port}` }, agent: FASTER });
  assert.equal((await w.ready).value, 'downward');
  assert.equal(w.current, 'downward');
});

test('close(), an AbortSignal and leaving a for-await loop all end the watch and its stream', { timeout: 20_000 }, async (t) => {
  const a = await startAgent(t, { agent: FASTER });
  const streams = async (): Promise<number> => Number(/^podmeta_sse_subscribers (\d+)$/m.exec(await (await fetch(a.probe + '/metrics')).text())?.[1] ?? 0);
  const baseline = await streams();
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const w1 = pm.watch('pod/labels');
  await w1.ready;
  assert.ok((await streams()) > baseline, 'the stream is open');
  const done1 = (async () => {
    let n = 0;
    for await (const _ of w1) n++;
    return n;
  })();
  w1.close();
  assert.equal(await done1, 1, 'the loop saw the current value, then ended');
  const ac = new AbortController();
  const w2 = pm.watch('pod/labels', { signal: ac.signal });
  await w2.ready;
  ac.abort();
  assert.equal(w2.closed, true);
  const w3 = pm.watch('pod/name');
  for await (const { value } of w3) {
    assert.equal(value, 'downward');
    break;
  }
  assert.equal(w3.closed, true, 'break closes the watch');
  await eventually(async () => (await streams()) === baseline, 5000, 'the agent saw every stream end');
  const w4 = createClient({ url: a.base, signal: AbortSignal.abort() }).watch();
  assert.equal(w4.closed, true);
  await assert.rejects(w4.ready, (e: unknown) => e instanceof PodmetaError && e.reason === 'Aborted');
});
