// GET /metadata over real sockets: document shape, ETag/304, sub-paths, text format, errors, header rules,
// long-poll — against an in-process agent reading a kubelet-style volume.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { formatMap } from './support/kubelet-volume.js';

const run = promisify(execFile);

test('GET /metadata serves the merged document with the contract headers', async (t) => {
  const a = await startAgent(t);
  const res = await a.get('/metadata');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.headers.get('etag') ?? '', /^"[\w-]+"$/);
  const doc = (await res.json()) as Record<string, any>;
  assert.equal(doc.revision, 1, 'env + volume read at start make revision 1');
  assert.deepEqual(doc.pod, {
    name: 'downward',
    namespace: 'default',
    uid: '1d591f87-0000-4000-8000-000000000001',
    ip: '10.244.1.38',
    ips: ['10.244.1.38'],
    serviceAccount: 'default',
    labels: { foo: 'bar' },
    annotations: { key1: 'value1', key2: 'multi\nline\nvalue\n' },
  });
  assert.deepEqual(doc.node, { name: 'k8s-node1', hostIP: '10.10.10.149' });
  assert.deepEqual(doc.resources, {
    requests: { cpu: '15m', cpuMillicores: 15 },
    limits: { memory: '4Mi', memoryBytes: 4194304 },
  });
  assert.equal(doc.files, undefined, 'no unknown files → no files key (absent, never null)');
  assert.ok(!JSON.stringify(doc).includes('null'));
});

test('ETag and If-None-Match → 304; the tag changes with the content', async (t) => {
  const a = await startAgent(t);
  const first = await a.get('/metadata');
  const etag = first.headers.get('etag')!;
  await first.arrayBuffer();
  const again = await a.get('/metadata', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('etag'), etag);
  await a.volume!.update(sampleFiles({ foo: 'test' }));
  const changed = await eventually(async () => {
    const r = await a.get('/metadata', { headers: { 'If-None-Match': etag } });
    return r.status === 200 ? r : undefined;
  });
  assert.notEqual(changed.headers.get('etag'), etag);
  assert.equal(((await changed.json()) as any).pod.labels.foo, 'test');
});

test('sub-paths: the rest of the path is one key under labels/annotations/files; %2F works', async (t) => {
  const a = await startAgent(t, {
    files: sampleFiles({ 'app.kubernetes.io/name': 'web', 'a/b': 'slash', foo: 'bar' }, { someOtherItem: 'raw text' }),
  });
  const val = async (p: string) => {
    const r = await a.get(p);
    assert.equal(r.status, 200, p);
    return r.json();
  };
  assert.equal(await val('/metadata/pod/name'), 'downward');
  assert.equal(await val('/metadata/pod/labels/app.kubernetes.io/name'), 'web');
  assert.equal(await val('/metadata/pod/labels/app.kubernetes.io%2Fname'), 'web');
  assert.equal(await val('/metadata/pod/labels/a/b'), 'slash');
  assert.equal(await val('/metadata/files/someOtherItem'), 'raw text');
  assert.equal(await val('/metadata/resources/requests/cpuMillicores'), 15);
  assert.deepEqual(await val('/metadata/pod/ips'), ['10.244.1.38']);
  assert.equal(await val('/metadata/pod/ips/0'), '10.244.1.38');
  const nope = await a.get('/metadata/pod/labels/nope');
  assert.equal(nope.status, 404);
  assert.deepEqual(await nope.json(), { code: 404, reason: 'NotFound', message: 'no field pod/labels/nope' });
  assert.equal((await a.get('/metadata/pod/nope/deeper')).status, 404);
  const bad = await a.get('/metadata/pod/%E0%A4%A');
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as any).code, 400);
});

test('text format: raw strings, and maps as kubelet key="value" lines', async (t) => {
  const labels = { 'app.kubernetes.io/name': 'web', quote: 'say "hi"\n', z: 'é日本', nbsp: 'a\u00a0b' };
  const a = await startAgent(t, { files: sampleFiles(labels) });
  const name = await a.get('/metadata/pod/name?format=text');
  assert.equal(name.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(await name.text(), 'downward');
  const viaAccept = await a.get('/metadata/pod/name', { headers: { Accept: 'text/plain' } });
  assert.equal(await viaAccept.text(), 'downward');
  const map = await (await a.get('/metadata/pod/labels?format=text')).text();
  // exactly the downwardAPI file's bytes
  assert.equal(map, formatMap(labels));
  assert.equal(map, 'app.kubernetes.io/name="web"\nnbsp="a\\u00a0b"\nquote="say \\"hi\\"\\n"\nz="é日本"');
  const ann = await (await a.get('/metadata/pod/annotations/key2?format=text')).text();
  assert.equal(ann, 'multi\nline\nvalue\n');
  const bad = await a.get('/metadata?format=xml');
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as any).message, /format/);
});

test('header rules: Metadata: true required; X-Forwarded-For refused; 403 JSON says what to do', async (t) => {
  const a = await startAgent(t);
  const missing = await fetch(a.base + '/metadata');
  assert.equal(missing.status, 403);
  const m = (await missing.json()) as any;
  assert.equal(m.reason, 'Forbidden');
  assert.match(m.message, /Metadata: true/);
  const wrong = await fetch(a.base + '/metadata', { headers: { Metadata: 'false' } });
  assert.equal(wrong.status, 403);
  await wrong.arrayBuffer();
  const xff = await a.get('/metadata', { headers: { 'X-Forwarded-For': '1.2.3.4' } });
  assert.equal(xff.status, 403);
  assert.match(((await xff.json()) as any).message, /remove the X-Forwarded-For header/);
  for (const p of ['/events', '/status', '/metadata/pod/name']) {
    const r = await fetch(a.base + p);
    assert.equal(r.status, 403, p);
    await r.arrayBuffer();
  }
  const probe = await fetch(a.probe + '/livez');
  assert.equal(probe.status, 200, 'probes need no header');
  await probe.arrayBuffer();
});

test('PODMETA_REQUIRE_HEADER=false serves without the header', async (t) => {
  const a = await startAgent(t, { config: { PODMETA_REQUIRE_HEADER: 'false' } });
  const r = await fetch(a.base + '/metadata/pod/name');
  assert.equal(r.status, 200);
  assert.equal(await r.json(), 'downward');
});

test('wrong method → 405 JSON with Allow; unknown endpoint → 404 JSON', async (t) => {
  const a = await startAgent(t);
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await a.get('/metadata', { method, body: method === 'DELETE' ? null : '{}' });
    assert.equal(r.status, 405, method);
    assert.match(r.headers.get('allow') ?? '', /GET/);
    const body = (await r.json()) as any;
    assert.equal(body.reason, 'MethodNotAllowed');
  }
  const r = await a.get('/nope');
  assert.equal(r.status, 404);
  assert.equal(((await r.json()) as any).reason, 'NotFound');
  const head = await a.get('/metadata', { method: 'HEAD' });
  assert.equal(head.status, 200);
});

test('excluded annotations never appear (exact keys and prefix*)', async (t) => {
  const a = await startAgent(t, {
    config: { PODMETA_ANNOTATIONS_EXCLUDE: 'kubectl.kubernetes.io/last-applied-configuration,secret.example.com/*' },
    files: {
      ...sampleFiles(),
      annotations: formatMap({ 'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}', 'secret.example.com/x': 'y', keep: 'me' }),
    },
  });
  const doc = (await (await a.get('/metadata')).json()) as any;
  assert.deepEqual(doc.pod.annotations, { keep: 'me' });
  const r = await a.get('/metadata/pod/annotations/secret.example.com/x');
  assert.equal(r.status, 404);
});

test('long-poll: answers at once without a tag or with a stale one, waits for a change, 304 on timeout', async (t) => {
  const a = await startAgent(t);
  const r0 = await a.get('/metadata/pod/labels?wait=true&timeout=5');
  assert.equal(r0.status, 200, 'no tag → at once');
  const tag = r0.headers.get('etag')!;
  await r0.arrayBuffer();
  const stale = await a.get('/metadata/pod/labels?wait=true&etag=%22stale%22');
  assert.equal(stale.status, 200);
  await stale.arrayBuffer();

  const timedOut = await a.get('/metadata/pod/labels?wait=true&timeout=1', { headers: { 'If-None-Match': tag } });
  assert.equal(timedOut.status, 304);
  assert.equal(timedOut.headers.get('etag'), tag);

  // a change elsewhere in the document does not wake a poll on pod/labels
  const waiting = a.get(`/metadata/pod/labels?wait=true&timeout=20&etag=${encodeURIComponent(tag)}`);
  await eventually(() => a.agent.metrics.longPolls.get().then((m) => m.values[0]?.value === 1), 5000, 'poll waiting');
  await a.volume!.update(sampleFiles({ foo: 'bar' }, { someOtherItem: 'x' }));
  await eventually(async () => ((await (await a.get('/metadata')).json()) as any).files?.someOtherItem === 'x');
  await a.volume!.update(sampleFiles({ foo: 'changed' }, { someOtherItem: 'x' }));
  const woke = await waiting;
  assert.equal(woke.status, 200);
  assert.deepEqual(await woke.json(), { foo: 'changed' });
  assert.notEqual(woke.headers.get('etag'), tag);
});

test('long-poll: bad parameters → 400 naming the parameter', async (t) => {
  const a = await startAgent(t);
  for (const [q, name] of [
    ['wait=maybe', 'wait'],
    ['wait=true&timeout=301', 'timeout'],
    ['wait=true&timeout=-1', 'timeout'],
    ['wait=true&timeout=abc', 'timeout'],
    ['format=text&format=json', 'format'],
  ] as const) {
    const r = await a.get(`/metadata?${q}`);
    assert.equal(r.status, 400, q);
    const body = (await r.json()) as any;
    assert.equal(body.reason, 'BadRequest');
    assert.ok(body.message.includes(name), `${q}: ${body.message}`);
  }
});

test('curl, a real client: header rule, sub-path, text, ETag', async (t) => {
  const a = await startAgent(t);
  const { stdout } = await run('curl', ['-sS', '-H', 'Metadata: true', `${a.base}/metadata/pod/labels?format=text`]);
  assert.equal(stdout, 'foo="bar"');
  const noHeader = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${a.base}/metadata`]);
  assert.equal(noHeader.stdout, '403');
  const etag = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-H', 'Metadata: true', `${a.base}/metadata`]);
  const tag = /etag: (.*)\r/i.exec(etag.stdout)?.[1];
  assert.ok(tag);
  const cond = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Metadata: true', '-H', `If-None-Match: ${tag}`, `${a.base}/metadata`]);
  assert.equal(cond.stdout, '304');
});

test('GET /status reports each source', async (t) => {
  const a = await startAgent(t);
  const st = (await (await a.get('/status')).json()) as any;
  assert.equal(st.sources.env.state, 'ok');
  assert.equal(st.sources.downward.state, 'ok');
  assert.equal(st.sources.api.state, 'disabled');
  assert.ok(st.sources.downward.since);
  assert.equal(st.ready, true);
});

test('a malformed volume file: the last good document keeps being served; /status says degraded', async (t) => {
  const a = await startAgent(t);
  await a.volume!.update({ ...sampleFiles({ foo: 'bar' }), labels: 'foo="bad\\q"', marker: '2' });
  await eventually(async () => ((await (await a.get('/metadata')).json()) as any).files?.marker === '2');
  const doc = (await (await a.get('/metadata')).json()) as any;
  assert.deepEqual(doc.pod.labels, { foo: 'bar' }, 'last good labels');
  const st = (await (await a.get('/status')).json()) as any;
  assert.equal(st.sources.downward.state, 'degraded');
  assert.match(st.sources.downward.error.message, /^labels: /);
  assert.equal((await fetch(a.probe + '/readyz')).status, 200, 'still ready');
});

test('hostile requests: oversized headers → 431 JSON, garbage → 400 JSON; the agent keeps serving', async (t) => {
  const a = await startAgent(t);
  const port = Number(new URL(a.base).port);
  const raw = (payload: string) =>
    new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.end(payload));
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('close', () => resolve(out));
      sock.on('error', () => resolve(out));
    });
  const big = await raw(`GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.match(big, /"reason":"RequestHeaderFieldsTooLarge"/);
  const garbage = await raw('\x00\x01\x02 not http at all\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.match(garbage, /"code":400/);
  const body = await raw('GET /metadata/pod/name HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  assert.match(body, /^HTTP\/1\.1 400 /, 'a body on GET is refused (src/http/framing.ts: one rule for every listener)');
  assert.match(body, /GET requests carry no body/);
  assert.equal((await a.get('/metadata/pod/name')).status, 200);
});
