// GET /events over real sockets: snapshot, change patches that apply, resume, ?path=, keep-alive, bursts,
// the stream cap — with a raw reader and with the `eventsource` package as a real client.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import jsonpatch from 'fast-json-patch';
import { EventSource } from 'eventsource';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { openSse } from './support/sse.js';

const apply = (doc: unknown, patch: unknown): unknown =>
  jsonpatch.applyPatch(structuredClone(doc), patch as jsonpatch.Operation[], true, false).newDocument;

test('snapshot then one change per revision; applying every patch gives GET /metadata', async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  assert.equal(s.status, 200);
  assert.equal(s.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const snap = await s.next((e) => e.event === 'snapshot');
  assert.ok((s.retry ?? 0) > 0, 'retry: is sent first');
  let doc = JSON.parse(snap.data) as Record<string, any>;
  assert.equal(snap.id, `${a.agent.store.epoch}.${doc.revision}`);
  await a.volume!.update(sampleFiles({ foo: 'test' }));
  const change = await s.next((e) => e.event === 'change');
  const data = JSON.parse(change.data);
  assert.deepEqual(data, { revision: doc.revision + 1, patch: [{ op: 'replace', path: '/pod/labels/foo', value: 'test' }] });
  doc = apply(doc, data.patch) as Record<string, any>;
  doc.revision = data.revision;
  assert.deepEqual(doc, await (await a.get('/metadata')).json());
});

test('a burst of kubelet updates: the last write wins and every patch applies in order', async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  const snap = await s.next((e) => e.event === 'snapshot');
  let doc = JSON.parse(snap.data) as Record<string, any>;
  const N = 40;
  for (let i = 1; i <= N; i++) {
    // keys with / and ~ exercise pointer escaping
    await a.volume!.update(sampleFiles({ foo: `v${i}`, 'a/b~c': String(i % 3), [`k${i % 5}`]: 'x' }));
  }
  const final = await eventually(async () => {
    const d = (await (await a.get('/metadata')).json()) as any;
    return d.pod.labels.foo === `v${N}` ? d : undefined;
  });
  let rev = doc.revision;
  while (rev < final.revision) {
    const e = await s.next((x) => x.event === 'change');
    const c = JSON.parse(e.data);
    assert.equal(c.revision, rev + 1, 'revisions increase by one, none skipped');
    doc = apply(doc, c.patch) as Record<string, any>;
    rev = c.revision;
  }
  doc.revision = rev;
  assert.deepEqual(doc, final);
});

test('Last-Event-ID replays the missed changes; an id from another run gets a fresh snapshot', async (t) => {
  const a = await startAgent(t);
  const first = await openSse(a.base + '/events');
  const snap = await first.next((e) => e.event === 'snapshot');
  first.close();
  await a.volume!.update(sampleFiles({ foo: 'one' }));
  await eventually(() => a.agent.store.current.revision === 2);
  await a.volume!.update(sampleFiles({ foo: 'two' }));
  await eventually(() => a.agent.store.current.revision === 3);

  const resumed = await openSse(a.base + '/events', { 'Last-Event-ID': snap.id! });
  t.after(() => resumed.close());
  const c1 = await resumed.next();
  const c2 = await resumed.next();
  assert.equal(c1.event, 'change');
  assert.equal(JSON.parse(c1.data).revision, 2);
  assert.equal(JSON.parse(c2.data).revision, 3);
  assert.equal(c2.id, `${a.agent.store.epoch}.3`);
  assert.ok(!resumed.events.some((e) => e.event === 'snapshot'));

  for (const id of ['otherrun.1', 'garbage', `${a.agent.store.epoch}.999`]) {
    const fresh = await openSse(a.base + '/events', { 'Last-Event-ID': id });
    const e = await fresh.next();
    fresh.close();
    assert.equal(e.event, 'snapshot', id);
    assert.equal(JSON.parse(e.data).revision, 3);
  }
});

test('?path= narrows the stream to one part with patches relative to it', async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events?path=/pod/labels');
  t.after(() => s.close());
  const snap = await s.next();
  assert.equal(snap.event, 'snapshot');
  assert.deepEqual(JSON.parse(snap.data), { foo: 'bar' });
  // a change outside the part is not sent; the next one inside is
  await a.volume!.update(sampleFiles({ foo: 'bar' }, { other: 'x' }));
  await eventually(() => a.agent.store.current.revision === 2);
  await a.volume!.update(sampleFiles({ foo: 'bar', 'app.kubernetes.io/name': 'web' }, { other: 'x' }));
  const c = await s.next();
  const data = JSON.parse(c.data);
  assert.equal(data.revision, 3);
  assert.deepEqual(data.patch, [{ op: 'add', path: '/app.kubernetes.io~1name', value: 'web' }]);
  assert.equal(s.events.length, 2, 'the revision-2 change outside pod/labels was not sent');

  const one = await openSse(a.base + '/events?path=' + encodeURIComponent('/pod/labels/app.kubernetes.io/name'));
  t.after(() => one.close());
  assert.equal(JSON.parse((await one.next()).data), 'web');
  await a.volume!.update(sampleFiles({ foo: 'bar', 'app.kubernetes.io/name': 'api' }, { other: 'x' }));
  assert.deepEqual(JSON.parse((await one.next()).data).patch, [{ op: 'replace', path: '', value: 'api' }]);
});

test('keep-alive comments are sent on idle streams', async (t) => {
  const a = await startAgent(t); // test agents ping every 200 ms
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  await eventually(() => s.comments.includes('keep-alive'), 3000, 'keep-alive comment');
});

test('the eventsource package (a real client) receives snapshot and changes', async (t) => {
  const a = await startAgent(t);
  const es = new EventSource(a.base + '/events', {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), Metadata: 'true' } }),
  });
  t.after(() => es.close());
  const got: { type: string; data: string; id: string }[] = [];
  es.addEventListener('snapshot', (e) => got.push({ type: 'snapshot', data: e.data, id: e.lastEventId }));
  es.addEventListener('change', (e) => got.push({ type: 'change', data: e.data, id: e.lastEventId }));
  await eventually(() => got.length === 1, 5000, 'snapshot');
  await a.volume!.update(sampleFiles({ foo: 'es' }));
  await eventually(() => got.length === 2, 5000, 'change');
  assert.equal(got[1]!.type, 'change');
  assert.deepEqual(JSON.parse(got[1]!.data).patch, [{ op: 'replace', path: '/pod/labels/foo', value: 'es' }]);
  assert.equal(got[1]!.id, `${a.agent.store.epoch}.2`);
});

test('curl -N streams events as they happen', async (t) => {
  const a = await startAgent(t);
  const curl = spawn('curl', ['-sN', '-H', 'Metadata: true', `${a.base}/events?path=/pod/labels/foo`]);
  t.after(() => curl.kill());
  let out = '';
  curl.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out.includes('event: snapshot'), 5000, 'snapshot via curl');
  await a.volume!.update(sampleFiles({ foo: 'curl' }));
  await eventually(() => out.includes('"value":"curl"'), 5000, 'change via curl');
  assert.match(out, /^retry: \d+\n\nevent: snapshot\nid: \S+\ndata: "bar"\n\n/);
});

test('the stream cap answers 503 with a clear JSON message, and frees slots when clients leave', async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '2' } });
  const s1 = await openSse(a.base + '/events');
  const s2 = await openSse(a.base + '/events');
  const over = await a.get('/events');
  assert.equal(over.status, 503);
  const body = (await over.json()) as any;
  assert.equal(body.reason, 'ServiceUnavailable');
  assert.match(body.message, /PODMETA_MAX_STREAMS/);
  assert.equal(over.headers.get('retry-after'), '1');
  s1.close();
  s2.close();
  await eventually(async () => {
    const r = await openSse(a.base + '/events');
    r.close();
    return r.status === 200;
  });
});

test('shutdown ends open streams cleanly', async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events');
  await s.next();
  await a.stop();
  assert.equal(await s.ended, 'end', 'the stream ends with a clean last chunk, not a reset');
  assert.equal(s.events[0]!.event, 'snapshot');
});

test('bad /events requests get JSON errors: bad path 400, repeated parameter 400, POST 405, no header 403', async (t) => {
  const a = await startAgent(t);
  for (const [path, init, status] of [
    ['/events?path=%E0%A4%A', {}, 400],
    ['/events?path=/pod&path=/node', {}, 400],
    ['/events', { method: 'POST', body: 'x' }, 405],
  ] as const) {
    const r = await a.get(path, init);
    assert.equal(r.status, status, path);
    assert.equal(((await r.json()) as { code: number }).code, status);
  }
  const noHeader = await fetch(a.base + '/events');
  assert.equal(noHeader.status, 403);
  await noHeader.arrayBuffer();
});
