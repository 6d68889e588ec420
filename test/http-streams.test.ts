// GET /events bounds and rules over real sockets: HEAD, the path rule shared with GET (no `data: null`),
// one stream per connection, a document over 1 MiB, replay-or-snapshot, the slow-reader drop, the fan-out
// histogram.
import test from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { openSse } from './support/sse.js';
import { rawGet, rawRequest, openSocket } from './support/raw-http.js';
import { formatMap } from './support/kubelet-volume.js';

const T = { timeout: 30_000 };
const port = (base: string) => Number(new URL(base).port);
const gauge = async (probe: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(probe + '/metrics')).text())?.[1]);

test('HEAD /events answers the headers only and frees its slot', T, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '1' } });
  const head = await rawRequest(port(a.base), `HEAD /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
  assert.equal(head.status, 200);
  assert.match(head.headers, /content-type: text\/event-stream/i);
  assert.equal(head.body, '');
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  assert.equal(s.status, 200, 'the only slot is free after HEAD');
  assert.equal((await s.next()).event, 'snapshot');
});

test('?path= follows GET\'s path rule: bad encoding 400, unknown part 404 with the same message, never data: null', T, async (t) => {
  const a = await startAgent(t);
  for (const q of ['%ff', '/pod/%ff', '%E0%A4%A']) {
    const r = await a.get(`/events?path=${q}`);
    assert.equal(r.status, 400, q);
    assert.match(((await r.json()) as { message: string }).message, /path/);
  }
  for (const p of ['/pod/lables', '/pod/labels/nope', '/nothing']) {
    const ev = await a.get(`/events?path=${encodeURIComponent(p)}`);
    const md = await a.get(`/metadata${p}`);
    assert.equal(ev.status, 404, p);
    assert.equal(md.status, 404, p);
    assert.deepEqual(await ev.json(), await md.json(), 'one path rule, one message');
  }
  // a part that goes away mid-stream is a `remove ""`, not a null
  const s = await openSse(a.base + '/events?path=/pod/labels/foo');
  t.after(() => s.close());
  assert.equal((await s.next()).data, '"bar"');
  await a.volume!.update(sampleFiles({ other: 'x' }));
  const gone = await s.next();
  assert.deepEqual(JSON.parse(gone.data).patch, [{ op: 'remove', path: '' }]);
  // resuming after it went: the kept change replays; without one the path is a 404 like GET
  const resumed = await openSse(a.base + '/events?path=/pod/labels/foo', { 'Last-Event-ID': `${a.agent.store.epoch}.1` });
  t.after(() => resumed.close());
  assert.deepEqual(JSON.parse((await resumed.next()).data).patch, [{ op: 'remove', path: '' }]);
  assert.equal((await a.get('/events?path=/pod/labels/foo')).status, 404);
  for (const e of [...s.events, ...resumed.events]) assert.notEqual(e.data, 'null');
});

test('one open stream per connection: 50 pipelined GET /events take one slot, other clients still get theirs', T, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '3' } });
  const { sock, received } = await openSocket(port(a.base));
  t.after(() => sock.destroy());
  sock.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n'.repeat(50));
  await eventually(() => received().includes('event: snapshot'), 5000, 'the first stream');
  await eventually(async () => (await gauge(a.probe, 'podmeta_sse_subscribers')) === 1, 5000, 'one subscriber');
  const others = [await openSse(a.base + '/events'), await openSse(a.base + '/events')];
  t.after(() => others.forEach((s) => s.close()));
  assert.deepEqual(others.map((s) => s.status), [200, 200]);
  await eventually(async () => (await gauge(a.probe, "podmeta_sse_subscribers")) === 3, 5000, "three subscribers");
});

test('a document over 1 MiB streams: the snapshot arrives whole, then changes', T, async (t) => {
  const big = 'x'.repeat(1_600_000);
  const files = (foo: string) => ({ ...sampleFiles({ foo }), annotations: formatMap({ big }) });
  const a = await startAgent(t, { config: { PODMETA_MAX_FILE_BYTES: String(4 << 20) }, files: files('bar') });
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  assert.equal(s.status, 200);
  const snap = await s.next((e) => e.event === 'snapshot', 10_000);
  const doc = JSON.parse(snap.data);
  assert.equal(doc.pod.annotations.big.length, big.length);
  assert.deepEqual(doc, await (await a.get('/metadata')).json());
  await a.volume!.update(files('changed'));
  const c = await s.next((e) => e.event === 'change', 10_000);
  assert.deepEqual(JSON.parse(c.data).patch, [{ op: 'replace', path: '/pod/labels/foo', value: 'changed' }]);
});

test('resume: a replay up to max(64 KiB, a snapshot) replays; a larger one is a fresh snapshot', T, async (t) => {
  const a = await startAgent(t);
  const first = await openSse(a.base + '/events');
  const snap = await first.next();
  first.close();
  const id = snap.id!;
  await a.volume!.update(sampleFiles({ foo: 'one' }));
  await eventually(() => a.agent.store.current.revision === 2);
  const small = await openSse(a.base + '/events', { 'Last-Event-ID': id });
  assert.equal((await small.next()).event, 'change', 'one small change replays');
  small.close();
  // changes that together outweigh the document and 64 KiB: a snapshot is cheaper and says the same
  for (let i = 0; i < 12; i++) {
    await a.volume!.update(sampleFiles({ foo: `v${i}`, filler: String(i % 10).repeat(6000) }));
    await eventually(() => a.agent.store.current.revision === 3 + i);
  }
  const body = (await (await a.get('/metadata')).arrayBuffer()).byteLength;
  const big = await openSse(a.base + '/events', { 'Last-Event-ID': id });
  t.after(() => big.close());
  const e = await big.next();
  assert.equal(e.event, 'snapshot', `replay of 12 changes (> 64 KiB) > ${body} bytes of document`);
  assert.deepEqual(JSON.parse(e.data), await (await a.get('/metadata')).json());
  // on a sub-path the document patch is rebased onto the part
  const before = a.agent.store.current.revision;
  await a.volume!.update(sampleFiles({ foo: 'last', filler: '1'.repeat(6000) }));
  await eventually(() => a.agent.store.current.revision === before + 1);
  const part = await openSse(a.base + '/events?path=/pod/labels', { 'Last-Event-ID': `${a.agent.store.epoch}.${before}` });
  t.after(() => part.close());
  const pe = await part.next();
  assert.equal(pe.event, 'change');
  assert.deepEqual(JSON.parse(pe.data).patch, [{ op: 'replace', path: '/foo', value: 'last' }]);
});

test('a reader that stops reading is dropped once its unread backlog passes the bound; readers that read are not', T, async (t) => {
  const filler = 'y'.repeat(200_000);
  const a = await startAgent(t, { config: { PODMETA_MAX_FILE_BYTES: String(4 << 20) } });
  const { sock } = await openSocket(port(a.base));
  t.after(() => sock.destroy());
  sock.pause(); // never reads: the kernel buffers fill, then podmeta's
  sock.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n');
  await eventually(async () => (await gauge(a.probe, 'podmeta_sse_subscribers')) === 1, 5000, 'the stalled stream');
  const reader = await openSse(a.base + '/events');
  t.after(() => reader.close());
  await reader.next();
  let doc = JSON.parse(reader.events[0]!.data);
  for (let i = 0; i < 40 && (await gauge(a.probe, 'podmeta_sse_subscribers')) === 2; i++) {
    await a.volume!.update(sampleFiles({ foo: `v${i}` }, { filler: filler + i }));
    const c = await reader.next((e) => e.event === 'change', 10_000);
    doc = jsonpatch.applyPatch(doc, JSON.parse(c.data).patch).newDocument;
  }
  await eventually(async () => (await gauge(a.probe, 'podmeta_sse_subscribers')) === 1, 5000, 'the stalled reader dropped');
  doc.revision = a.agent.store.current.revision;
  assert.deepEqual(doc, await (await a.get('/metadata')).json(), 'the reading client followed every change');
});

test('podmeta_sse_fanout_seconds observes each change fanned out to subscribers', T, async (t) => {
  const a = await startAgent(t);
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  await s.next();
  const fanouts = async () => Number(/^podmeta_sse_fanout_seconds_count (\d+)$/m.exec(await (await fetch(a.probe + '/metrics')).text())?.[1] ?? NaN);
  const before = await fanouts();
  await a.volume!.update(sampleFiles({ foo: 'fan' }));
  await s.next((e) => e.event === 'change');
  await eventually(async () => (await fanouts()) === before + 1, 5000, 'one more fan-out observed');
});

test('raw GET errors stay JSON on the stream path too (cap 503 names the variable; 429 for a second stream on one connection)', T, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '1' } });
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  const over = await rawRequest(port(a.base), rawGet('/events'));
  assert.equal(over.status, 503);
  assert.match(JSON.parse(over.body).message, /PODMETA_MAX_STREAMS/);
});

test('a long-poll beyond the stream cap is a JSON 503 naming PODMETA_MAX_STREAMS (answered, not left hanging)', T, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_MAX_STREAMS: '1' } });
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  await s.next();
  const first = await a.get('/metadata/pod/labels');
  const tag = first.headers.get('etag')!;
  await first.arrayBuffer();
  const r = await a.get('/metadata/pod/labels?wait=true&timeout=30', { headers: { 'If-None-Match': tag } });
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.match(((await r.json()) as { message: string }).message, /PODMETA_MAX_STREAMS/);
  s.close();
  await eventually(async () => {
    const again = await a.get('/metadata/pod/labels?wait=true&timeout=0', { headers: { 'If-None-Match': tag } });
    await again.arrayBuffer();
    return again.status === 304;
  }, 5000, 'a slot again once the stream is gone');
});
