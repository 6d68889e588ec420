// Contract promises that had no test that would fail without them (issue 10, "Tests that fail when behaviour
// breaks"): each test names the contract line it guards. Real agent, real sockets, kubelet-style volume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { formatMap } from './support/kubelet-volume.js';
import { openSse } from './support/sse.js';
import { FakeApiServer, samplePod } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

test('contract "Security": a request with Forwarded (or X-Forwarded-For) is refused with 403 naming the header', async (t) => {
  const a = await startAgent(t);
  for (const [name, value] of [
    ['Forwarded', 'for=192.0.2.60;proto=http'],
    ['X-Forwarded-For', '192.0.2.60'],
  ] as const) {
    for (const path of ['/metadata', '/metadata/pod/name', '/events', '/status']) {
      const res = await a.get(path, { headers: { [name]: value } });
      assert.equal(res.status, 403, `${name} on ${path}`);
      const body = (await res.json()) as { code: number; reason: string; message: string };
      assert.equal(body.code, 403);
      assert.match(body.message, new RegExp(name, 'i'), 'the message says what to remove');
    }
  }
  // probes need no header and are not refused for it
  assert.equal((await fetch(a.probe + '/livez', { headers: { 'X-Forwarded-For': '192.0.2.60' } })).status, 200);
});

test('contract "ETag": the JSON and the text rendering of one part have different tags, and each 304s only on its own', async (t) => {
  const a = await startAgent(t);
  const json = await a.get('/metadata/pod/labels');
  const text = await a.get('/metadata/pod/labels?format=text');
  const accept = await a.get('/metadata/pod/labels', { headers: { Accept: 'text/plain' } });
  const [ej, et, ea] = [json.headers.get('etag'), text.headers.get('etag'), accept.headers.get('etag')];
  assert.ok(ej && et && ea);
  assert.notEqual(ej, et, 'JSON and text bytes differ, so must their tags');
  assert.equal(et, ea, '?format=text and Accept: text/plain are the same representation');
  assert.equal((await a.get('/metadata/pod/labels', { headers: { 'If-None-Match': ej } })).status, 304);
  assert.equal((await a.get('/metadata/pod/labels?format=text', { headers: { 'If-None-Match': et } })).status, 304);
  const cross = await a.get('/metadata/pod/labels?format=text', { headers: { 'If-None-Match': ej } });
  assert.equal(cross.status, 200, 'a JSON tag never validates the text representation');
  assert.equal(await cross.text(), 'foo="bar"');
});

test('contract "Excluded annotations never appear, in any endpoint or event": JSON, sub-path, text, long-poll, SSE', async (t) => {
  const secret = '{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"password":"hunter2"}}}';
  const files = (lastApplied: string, key1: string) =>
    sampleFiles({ foo: 'bar' }, { annotations: formatMap({ key1, [LAST_APPLIED]: lastApplied, 'other.example/keep': 'yes' }) });
  const a = await startAgent(t, { files: files(secret, 'value1') });
  const mentions = (s: string): boolean => s.includes('hunter2') || s.includes('last-applied');

  const doc = await (await a.get('/metadata')).text();
  assert.ok(!mentions(doc), 'GET /metadata');
  assert.match(doc, /other\.example\/keep/, 'other annotations are served');
  assert.ok(!mentions(await (await a.get('/metadata/pod/annotations')).text()), 'sub-path JSON');
  const text = await (await a.get('/metadata/pod/annotations?format=text')).text();
  assert.ok(!mentions(text), 'text');
  assert.match(text, /^key1="value1"$/m);
  assert.equal((await a.get(`/metadata/pod/annotations/${LAST_APPLIED}`)).status, 404, 'the key itself is not found');

  const etag = (await a.get('/metadata/pod/annotations')).headers.get('etag')!;
  const poll = a.get('/metadata/pod/annotations?wait=true&timeout=20', { headers: { 'If-None-Match': etag } });
  const all = await openSse(a.base + '/events');
  const part = await openSse(a.base + '/events?path=/pod/annotations');
  t.after(() => {
    all.close();
    part.close();
  });
  const snapAll = await all.next((e) => e.event === 'snapshot');
  const snapPart = await part.next((e) => e.event === 'snapshot');
  assert.ok(!mentions(snapAll.data) && !mentions(snapPart.data), 'SSE snapshots');

  // a change of the excluded annotation alone is no change at all: no revision, no event
  const rev = ((await (await a.get('/metadata')).json()) as { revision: number }).revision;
  await a.volume!.update(files(secret.replace('hunter2', 'hunter3'), 'value1'));
  // then a real change alongside another excluded-annotation change
  await a.volume!.update(files(secret.replace('hunter2', 'hunter4'), 'value2'));
  const change = await all.next((e) => e.event === 'change');
  const changePart = await part.next((e) => e.event === 'change');
  const answered = await poll;
  assert.equal(answered.status, 200);
  const polled = await answered.text();
  assert.ok(!mentions(polled), 'long-poll answer');
  assert.match(polled, /"key1":"value2"/);
  for (const c of [change, changePart]) {
    assert.ok(!mentions(c.data), `SSE change ${c.data}`);
    const { revision } = JSON.parse(c.data) as { revision: number };
    assert.equal(revision, rev + 1, 'the excluded-only update made no revision');
  }
});

test('contract "Probes": /metrics has podmeta_… metrics beside the standard process metrics', async (t) => {
  const a = await startAgent(t, { agent: { defaultMetrics: true } });
  const res = await fetch(a.probe + '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const body = await res.text();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds']) {
    assert.match(body, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'), name);
    assert.match(body, new RegExp(`^${name} [0-9.e+]+$`, 'm'), `${name} has a value`);
  }
  const rss = Number(/^process_resident_memory_bytes ([0-9.e+]+)$/m.exec(body)![1]);
  assert.ok(rss > 10 * 1024 * 1024 && rss < 4 * 1024 * 1024 * 1024, `a plausible RSS, got ${rss}`);
  assert.match(body, /^podmeta_/m);
  for (const line of body.split('\n')) if (line && !line.startsWith('#')) assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$/, line);
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

test('contract "/readyz": an API server that is down (not forbidden) never makes the agent unready', async (t) => {
  const token = fakeJwt('default', 'podmeta');
  // any CA will do: nothing answers on the port
  const ca = await FakeApiServer.start({ tokens: [token] });
  const caPem = ca.caPem;
  await ca.close();
  const sa = await SaDir.create({ token, caPem });
  t.after(() => sa.remove());
  const a = await startAgent(t, {
    config: { PODMETA_API: 'on', PODMETA_SA_DIR: sa.dir, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(await closedPort()) },
  });
  const ready = await fetch(a.probe + '/readyz');
  assert.equal(ready.status, 200, await ready.text());
  const st = await eventually(async () => {
    const s = (await (await a.get('/status')).json()) as { sources: Record<string, { state: string; error?: { message: string; hint: string } }> };
    return s.sources.api?.state !== 'ok' && s.sources.api?.error ? s.sources.api : undefined;
  }, 10_000, 'api source reports the outage');
  assert.match(st.state, /^(error|degraded)$/);
  assert.ok(st.error!.hint.length > 0, 'with a hint');
  assert.equal((await fetch(a.probe + '/readyz')).status, 200, 'still ready after the failure is known');
  assert.equal((await a.get('/metadata/pod/name?format=text').then((r) => r.text())), 'downward', 'local data still served');
});

test('contract "Security": the service-account token never appears in a log line, /status, /metrics or a response', async (t) => {
  const token = fakeJwt('default', 'podmeta', 'never-print-me-0123456789');
  const server = await FakeApiServer.start({ tokens: ['a-different-token'] }); // our token is refused: 401s
  t.after(() => server.close());
  server.putPod(samplePod());
  const sa = await SaDir.create({ token, caPem: server.caPem });
  t.after(() => sa.remove());
  const a = await startAgent(t, {
    config: { PODMETA_API: 'on', PODMETA_SA_DIR: sa.dir, KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: server.port, PODMETA_LOG_LEVEL: 'debug' },
    env: { POD_NAME: samplePod().metadata.name, POD_NAMESPACE: 'default' },
  });
  await eventually(async () => {
    const s = (await (await a.get('/status')).json()) as { sources: Record<string, { state: string }> };
    return s.sources.api?.state === 'error';
  }, 10_000, 'api source in error after 401');
  const pieces = [token, ...token.split('.').filter((p) => p.length > 8)];
  const seen = [
    JSON.stringify(a.logs),
    await (await a.get('/status')).text(),
    await (await a.get('/metadata')).text(),
    await (await fetch(a.probe + '/metrics')).text(),
    await (await fetch(a.probe + '/readyz?verbose')).text(),
  ].join('\n');
  assert.ok(a.logs.length > 0 && a.logs.some((l) => /401|Unauthorized|token/i.test(JSON.stringify(l))), 'the failure was logged');
  for (const p of pieces) assert.ok(!seen.includes(p), `token piece ${p.slice(0, 6)}… leaked`);
});
