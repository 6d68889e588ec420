// Contract promises found without a test that would fail without them while walking /work/shared/contract.md
// line by line (docs/contract-tests.md has the whole table). Each test names its contract section. Real agent
// in-process, real sockets, kubelet-style volume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import jsonpatch from 'fast-json-patch';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { openSse } from './support/sse.js';
import { FakeApiServer, samplePod } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';

const STATES = new Set(['ok', 'disabled', 'missing', 'degraded', 'error']);

interface Status {
  state: string;
  since: string;
  error?: { message?: string; hint?: string };
}

test('contract "Probes": the probe listener serves /livez, /healthz, /readyz and /metrics only — never metadata, events or /status', async (t) => {
  const a = await startAgent(t);
  for (const p of ['/livez', '/healthz', '/readyz', '/metrics']) {
    const r = await fetch(a.probe + p);
    assert.equal(r.status, 200, p);
    await r.arrayBuffer();
  }
  for (const p of ['/metadata', '/metadata/pod/name', '/events', '/status', '/metadata?wait=true']) {
    const r = await fetch(a.probe + p, { headers: { Metadata: 'true' } });
    assert.equal(r.status, 404, `${p} on the probe port`);
    const body = (await r.json()) as { code: number; reason: string; message: string };
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'reason']);
    assert.equal(body.code, 404);
    assert.doesNotMatch(JSON.stringify(body), /downward|default|foo/, 'no document content on the probe port');
  }
});

test('contract "GET /status": env, downward, api and node, each with a state and since; everything not ok has error.message and error.hint', async (t) => {
  // a missing volume (missing), the API off (disabled): every not-ok state this start-up can show
  const a = await startAgent(t, { files: null });
  const res = await a.get('/status');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const { sources } = (await res.json()) as { sources: Record<string, Status> };
  assert.deepEqual(Object.keys(sources).sort(), ['api', 'downward', 'env', 'node']);
  for (const [name, s] of Object.entries(sources)) {
    assert.ok(STATES.has(s.state), `${name}: state ${s.state}`);
    assert.ok(!Number.isNaN(Date.parse(s.since)) && /^\d{4}-\d\d-\d\dT/.test(s.since), `${name}: since ${s.since}`);
    if (s.state !== 'ok') {
      assert.ok(s.error?.message, `${name} is ${s.state}: error.message`);
      assert.ok(s.error?.hint, `${name} is ${s.state}: error.hint says how to fix it`);
    }
  }
  assert.equal(sources.downward!.state, 'missing');
  assert.equal(sources.api!.state, 'disabled');
  assert.match(sources.api!.error!.hint!, /PODMETA_API/, 'the hint names the variable that turns it on');
  assert.equal(sources.node!.state, 'disabled');
});

test('contract "GET /status": with the API on and PODMETA_NODE_LABELS empty, node is disabled with a message and a hint', async (t) => {
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod());
  const sa = await SaDir.create({ token, caPem: server.caPem });
  t.after(() => sa.remove());
  const a = await startAgent(t, {
    config: { PODMETA_API: 'on', PODMETA_SA_DIR: sa.dir, KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: server.port, PODMETA_NODE_LABELS: '' },
    env: { POD_NAME: samplePod().metadata.name, POD_NAMESPACE: 'default' },
  });
  const sources = await eventually(async () => {
    const s = ((await (await a.get('/status')).json()) as { sources: Record<string, Status> }).sources;
    return s.api!.state === 'ok' ? s : undefined;
  }, 10_000, 'the api source ok');
  assert.equal(sources.node!.state, 'disabled');
  assert.ok(sources.node!.error?.message, 'a message');
  assert.match(sources.node!.error?.hint ?? '', /PODMETA_NODE_LABELS/, 'a hint naming the variable');
});

test('contract "ETag": JSON and text tags differ even where the bytes are the same (a number), and never validate each other', async (t) => {
  const a = await startAgent(t);
  const path = '/metadata/resources/requests/cpuMillicores';
  const json = await a.get(path);
  const text = await a.get(`${path}?format=text`);
  assert.equal(await json.text(), '15');
  assert.equal(await text.text(), '15', 'the same bytes in both representations');
  const [ej, et] = [json.headers.get('etag')!, text.headers.get('etag')!];
  assert.notEqual(ej, et, 'a different representation has a different tag');
  assert.equal((await a.get(`${path}?format=text`, { headers: { 'If-None-Match': ej } })).status, 200);
  assert.equal((await a.get(path, { headers: { 'If-None-Match': et } })).status, 200);
  assert.equal((await a.get(path, { headers: { Accept: 'text/plain', 'If-None-Match': et } })).status, 304);
});

/** The first bytes of a response body, read raw (no SSE parser in between). */
function firstBytes(url: string, headers: Record<string, string>, n: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.length >= n) {
          req.destroy();
          resolve({ status: res.statusCode!, text });
        }
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

test('contract "GET /events": the stream starts with `retry: <ms>`, then the snapshot (id names the revision, data is the whole document)', async (t) => {
  const a = await startAgent(t);
  const doc = await (await a.get('/metadata')).text();
  const { status, text } = await firstBytes(a.base + '/events', { Metadata: 'true' }, 40 + doc.length);
  assert.equal(status, 200);
  const m = /^retry: (\d+)\n\nevent: snapshot\nid: ([^\n]+)\ndata: ([^\n]*)\n\n/.exec(text);
  assert.ok(m, `retry first, then the snapshot: ${JSON.stringify(text.slice(0, 80))}`);
  assert.ok(Number(m[1]) > 0);
  assert.equal(m[2], `${a.agent.store.epoch}.1`);
  assert.equal(m[3], doc, 'data: is exactly what GET /metadata returns');
});

test('contract "GET /metadata": ETag and Cache-Control: no-store on every answer — whole, sub-path, text, HEAD, 304, long-poll', async (t) => {
  const a = await startAgent(t);
  const check = (r: Response, what: string, type?: string): string => {
    const tag = r.headers.get('etag');
    assert.match(tag ?? '', /^"[^"]+"$/, `${what}: ETag`);
    assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: Cache-Control`);
    if (type) assert.equal(r.headers.get('content-type'), type, `${what}: Content-Type`);
    return tag!;
  };
  const JSON_T = 'application/json; charset=utf-8';
  const TEXT_T = 'text/plain; charset=utf-8';
  for (const [path, type] of [
    ['/metadata', JSON_T],
    ['/metadata/pod', JSON_T],
    ['/metadata/pod/labels', JSON_T],
    ['/metadata/pod/name', JSON_T],
    ['/metadata/pod/labels?format=text', TEXT_T],
    ['/metadata/pod/name?format=text', TEXT_T],
  ] as const) {
    const got = await a.get(path);
    assert.equal(got.status, 200, path);
    const tag = check(got, path, type);
    await got.arrayBuffer();
    const head = await a.get(path, { method: 'HEAD' });
    assert.equal(check(head, `HEAD ${path}`, type), tag, `HEAD ${path}: the GET's tag`);
    const cond = await a.get(path, { headers: { 'If-None-Match': tag } });
    assert.equal(cond.status, 304, `${path} with its tag`);
    assert.equal(check(cond, `304 ${path}`), tag);
    assert.equal(await cond.text(), '', '304 has no body');
  }
  // long-poll answers: the change (200) and the timeout (304)
  const tag = (await a.get('/metadata/pod/labels')).headers.get('etag')!;
  const timedOut = await a.get('/metadata/pod/labels?wait=true&timeout=0', { headers: { 'If-None-Match': tag } });
  assert.equal(timedOut.status, 304, 'timeout=0 with the current tag: 304 at once');
  assert.equal(check(timedOut, 'long-poll 304'), tag);
  const waiting = a.get('/metadata/pod/labels?wait=true&timeout=300', { headers: { 'If-None-Match': tag } });
  await eventually(() => a.agent.metrics.longPolls.get().then((m) => m.values[0]?.value === 1), 5000, 'the poll (timeout=300, the maximum) waits');
  await a.volume!.update(sampleFiles({ foo: 'polled' }));
  const woke = await waiting;
  assert.equal(woke.status, 200);
  assert.notEqual(check(woke, 'long-poll 200', JSON_T), tag);
  assert.deepEqual(await woke.json(), { foo: 'polled' });
});

test('contract "GET /metadata/<path>": the map rule under node/labels, files and annotations — a key with slashes, and %2F', async (t) => {
  const a = await startAgent(t, {
    files: sampleFiles(
      // the pod's topology labels become node.labels (default PODMETA_NODE_LABELS), so node/labels needs no API
      { 'topology.kubernetes.io/zone': 'eu-west-1a', 'topology.kubernetes.io/region': 'eu-west-1' },
      { 'extra/deep/item': 'nested raw' },
    ),
  });
  const doc = (await (await a.get('/metadata')).json()) as { node: { labels: Record<string, string> }; files: Record<string, string> };
  assert.equal(doc.node.labels['topology.kubernetes.io/zone'], 'eu-west-1a');
  const files = Object.keys(doc.files);
  assert.equal(files.length, 1);
  const fileKey = files[0]!;
  assert.match(fileKey, /\//, `an unrecognised nested file keeps its path as one key: ${fileKey}`);
  for (const [path, want] of [
    ['/metadata/node/labels/topology.kubernetes.io/zone', 'eu-west-1a'],
    ['/metadata/node/labels/topology.kubernetes.io%2Fregion', 'eu-west-1'],
    [`/metadata/files/${fileKey}`, 'nested raw'],
    [`/metadata/files/${fileKey.replaceAll('/', '%2F')}`, 'nested raw'],
    ['/metadata/pod/annotations/key2', 'multi\nline\nvalue\n'],
  ] as const) {
    const r = await a.get(path);
    assert.equal(r.status, 200, path);
    assert.equal(await r.json(), want, path);
    assert.equal(await (await a.get(`${path}?format=text`)).text(), want, `${path} as text`);
  }
  const miss = await a.get('/metadata/node/labels/topology.kubernetes.io/nope');
  assert.equal(miss.status, 404);
  assert.deepEqual(await miss.json(), { code: 404, reason: 'NotFound', message: 'no field node/labels/topology.kubernetes.io/nope' });
});

test('contract "A wrong method → 405": on every metadata endpoint, JSON error with Allow', async (t) => {
  const a = await startAgent(t);
  for (const path of ['/metadata', '/metadata/pod/labels', '/metadata/pod/labels/foo', '/events', '/status']) {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await a.get(path, { method, ...(method === 'DELETE' ? {} : { body: '{}' }) });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.match(r.headers.get('allow') ?? '', /GET/, `${method} ${path}: Allow`);
      const body = (await r.json()) as { code: number; reason: string; message: string };
      assert.deepEqual({ code: body.code, reason: body.reason }, { code: 405, reason: 'MethodNotAllowed' }, `${method} ${path}`);
      assert.match(body.message, new RegExp(method));
    }
  }
  // and nothing a client sends changed the data
  assert.deepEqual(await (await a.get('/metadata/pod/labels')).json(), { foo: 'bar' });
});

test('contract "Last-Event-ID": an id from an earlier run of the agent gets a fresh snapshot, never that run\'s changes', async (t) => {
  // run 1: three revisions; remember the id of revision 1
  const one = await startAgent(t);
  const s1 = await openSse(one.base + '/events');
  const snap1 = await s1.next((e) => e.event === 'snapshot');
  s1.close();
  for (const foo of ['a', 'b']) {
    await one.volume!.update(sampleFiles({ foo }));
    await eventually(async () => ((await (await one.get('/metadata/pod/labels')).json()) as { foo: string }).foo === foo);
  }
  await one.stop();
  // run 2: a fresh agent reaching the same revision numbers with other content
  const two = await startAgent(t);
  for (const foo of ['x', 'y']) {
    await two.volume!.update(sampleFiles({ foo }));
    await eventually(async () => ((await (await two.get('/metadata/pod/labels')).json()) as { foo: string }).foo === foo);
  }
  assert.equal(two.agent.store.current.revision, 3);
  assert.match(snap1.id!, /\.1$/, 'run 1 named its revision 1');
  const s2 = await openSse(two.base + '/events', { 'Last-Event-ID': snap1.id! });
  t.after(() => s2.close());
  const first = await s2.next();
  assert.equal(first.event, 'snapshot', 'not a replay of run 2\'s changes 2 and 3');
  assert.deepEqual(first.data, await (await two.get('/metadata')).text());
  assert.notEqual(first.id, snap1.id);
});

test('contract "absent, never null" + "applying every patch yields GET /metadata": a field that goes away is removed, in the document and in the patch', async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  let doc = JSON.parse((await s.next((e) => e.event === 'snapshot')).data) as Record<string, any>;
  assert.ok(doc.pod.annotations, 'annotations at first');
  // kubelet drops the annotations item (the pod spec no longer asks for it) and an unknown file appears
  const { annotations: _gone, ...rest } = sampleFiles();
  await a.volume!.update({ ...rest, extra: 'x' });
  const change = JSON.parse((await s.next((e) => e.event === 'change')).data) as { revision: number; patch: { op: string; path: string; value?: unknown }[] };
  assert.deepEqual(change.patch.find((p) => p.path === '/pod/annotations'), { op: 'remove', path: '/pod/annotations' });
  for (const op of change.patch) if (op.op !== 'remove') assert.ok('value' in op, `${JSON.stringify(op)} carries a value`);
  doc = jsonpatch.applyPatch(structuredClone(doc), change.patch as jsonpatch.Operation[], true, false).newDocument;
  doc.revision = change.revision;
  const now = await (await a.get('/metadata')).text();
  assert.deepEqual(doc, JSON.parse(now));
  assert.ok(!now.includes('null') && !now.includes('"annotations"'), now);
  assert.equal((await a.get('/metadata/pod/annotations')).status, 404);
});
