// Attacks on the BUILT agent (dist/main.js) at the request surface (issue 9, item 12 and the "lower" list):
// DNS rebinding, empty forwarded headers, HEAD /events holding a slot, a malformed ?path=, the
// non-loopback listener warning.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startBuilt } from './support/built-agent.js';
import { openSocket, rawGet, rawRequest } from './support/raw-http.js';
import { openSse } from './support/sse.js';

const T = { timeout: 60_000 };

test('item 12, DNS rebinding: a foreign Host is 403 naming PODMETA_ALLOWED_HOSTS on every metadata path, fast ones included', T, async (t) => {
  const a = await startBuilt(t, { env: { PODMETA_ALLOWED_HOSTS: 'podmeta.pod.local' } });
  for (const path of ['/metadata', '/metadata/pod/labels', '/metadata/pod/name?format=text', '/metadata?wait=true&timeout=1', '/events', '/status']) {
    const r = await rawRequest(a.metaPort, rawGet(path, 'Host: attacker.example:9977\r\nMetadata: true\r\n'));
    assert.equal(r.status, 403, path);
    assert.match(JSON.parse(r.body).message, /PODMETA_ALLOWED_HOSTS/, path);
  }
  assert.equal((await rawRequest(a.metaPort, rawGet('/metadata', 'Host: podmeta.pod.local\r\nMetadata: true\r\n'))).status, 200);
  assert.equal((await rawRequest(a.metaPort, rawGet('/metadata', 'Host: 127.3.4.5:80\r\nMetadata: true\r\n'))).status, 200);
  assert.equal((await rawRequest(a.probePort, rawGet('/readyz', 'Host: attacker.example\r\n'))).status, 200, 'probes: no Host rule');
});

test('empty X-Forwarded-For / Forwarded are refused like non-empty ones', T, async (t) => {
  const a = await startBuilt(t);
  for (const h of ['X-Forwarded-For:', 'Forwarded:']) {
    const r = await rawRequest(a.metaPort, rawGet('/metadata', `Host: 127.0.0.1\r\nMetadata: true\r\n${h}\r\n`));
    assert.equal(r.status, 403, h);
  }
});

test('HEAD /events answers and frees its slot; /events?path=%ff is a 400; an unknown path a 404 (never data: null)', T, async (t) => {
  const a = await startBuilt(t, { env: { PODMETA_MAX_STREAMS: '1' } });
  for (let i = 0; i < 3; i++) {
    const head = await rawRequest(a.metaPort, `HEAD /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  }
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  assert.equal(s.status, 200, 'the single slot is free');
  s.close();
  const bad = await rawRequest(a.metaPort, rawGet('/events?path=%ff'));
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).message, /query parameter path/);
  const typo = await rawRequest(a.metaPort, rawGet('/events?path=/pod/lables'));
  assert.equal(typo.status, 404);
  assert.equal(JSON.parse(typo.body).message, 'no field pod/lables');
});

test('the metadata API on a non-loopback address logs a warning at start', T, async (t) => {
  const a = await startBuilt(t, { env: { PODMETA_LISTEN: '0.0.0.0:0' } });
  const warn = a
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .find((l) => l.level === 'warn' && /non-loopback/.test(l.msg));
  assert.ok(warn, a.stdout());
  const quiet = await startBuilt(t);
  assert.ok(!/non-loopback/.test(quiet.stdout()));
});

/** Waits for the agent to close `sock`; resolves with what it sent. */
function closedBy(sock: import('node:net').Socket, received: () => string): Promise<string> {
  return new Promise((resolve) => (sock.destroyed ? resolve(received()) : sock.once('close', () => resolve(received()))));
}

test('a body on GET/HEAD and a second Host header are refused with 400 on every listener, the connection closed without reading on', T, async (t) => {
  const a = await startBuilt(t);
  const smuggled = 'GET /metadata/pod/name HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n';
  const cases: [string, number, string, RegExp][] = [
    // a Content-Length nobody will ever send in full: answered at once, not after the request timeout
    ['CL body on GET', a.metaPort, `GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 99999999999\r\n\r\nabcdef`, /GET requests carry no body: Content-Length/],
    ['chunked GET body carrying a request', a.metaPort, `GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nTransfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n${smuggled}`, /Transfer-Encoding is refused/],
    ['HEAD with a body', a.metaPort, `HEAD /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 5\r\n\r\nhello`, /HEAD requests carry no body/],
    ['two Host headers (the second a rebinding name)', a.metaPort, `GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\nMetadata: true\r\n\r\n`, /more than one Host header/],
    ['a body on a probe', a.probePort, `GET /livez HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Length: 3\r\n\r\nabc`, /carry no body/],
  ];
  for (const [name, port, bytes, message] of cases) {
    const { sock, received } = await openSocket(port);
    sock.write(bytes); // never ended by us: the agent must close it
    const out = await closedBy(sock, received);
    const answers = out.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(answers, ['HTTP/1.1 400'], `${name}: one answer, 400 (${out.slice(0, 120)})`);
    if (!name.startsWith('HEAD')) assert.match(out, message, name);
    assert.match(out, /\r\nconnection: close\r\n/i, name);
  }
  // what clients do send still works: Content-Length: 0 on a GET, one Host
  const ok = await rawRequest(a.metaPort, rawGet('/metadata/pod/name', 'Host: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 0\r\n'));
  assert.equal(ok.status, 200);
});
