// The listener bounds of src/http/connections.ts on a real server and real sockets, with a handler that
// holds requests until released, so every count is exact: work in flight per connection, the waiting
// queue and its 503, the connection cap evicting idle connections first and refusing when all are busy.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makeServer } from '../src/http/server.js';
import { openSocket } from './support/raw-http.js';
import { eventually } from './support/wait.js';

const T = { timeout: 30_000 };

async function holdingServer(t: test.TestContext, limits: Parameters<typeof makeServer>[1]) {
  const held: ServerResponse[] = [];
  let handled = 0;
  const server = makeServer((req: IncomingMessage, res: ServerResponse) => {
    handled++;
    if (req.url === '/now') res.end('now');
    else held.push(res);
  }, limits);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const release = () => held.splice(0).forEach((r) => r.end('done'));
  return { server, port: (server.address() as AddressInfo).port, held, handled: () => handled, release };
}

const req = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
const statuses = (s: string) => [...s.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

test('pipelining: at most maxInFlight handled at once, maxQueued wait, the rest are 503 at once; all answered in order', T, async (t) => {
  const h = await holdingServer(t, { maxInFlight: 4, maxQueued: 6 });
  const { sock, received } = await openSocket(h.port);
  t.after(() => sock.destroy());
  sock.write(req('/slow').repeat(30));
  await eventually(() => h.handled() === 4, 5000, '4 in flight');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(h.handled(), 4, 'no fifth request is handled while four are in flight');
  assert.equal(received(), '', 'answers keep their order: the 503s wait behind the held ones');
  while (h.handled() < 10 || h.held.length > 0) {
    h.release();
    await new Promise((r) => setTimeout(r, 20));
  }
  await eventually(() => statuses(received()).length === 30, 5000, 'every request answered');
  const got = statuses(received());
  assert.deepEqual(got.slice(0, 10), Array(10).fill(200), '4 in flight + 6 waiting were handled');
  assert.deepEqual(got.slice(10), Array(20).fill(503), 'the rest refused');
  assert.equal(h.handled(), 10);
  assert.match(received(), /"message":"too many pipelined requests on one connection[^"]*PODMETA_MAX_PIPELINE/);
});

test('pipelining: 10 000 pipelined fast requests are all answered, in order (200 within the bound, else 503)', T, async (t) => {
  const h = await holdingServer(t, { maxInFlight: 2, maxQueued: 2 });
  const { sock, received } = await openSocket(h.port);
  t.after(() => sock.destroy());
  sock.write(req('/now').repeat(10_000));
  await eventually(() => statuses(received()).length === 10_000, 20_000, '10 000 answers');
  const got = statuses(received());
  assert.deepEqual(got.slice(0, 4), [200, 200, 200, 200], 'the first ones within the bound are handled');
  assert.ok(got.every((s) => s === 200 || s === 503), 'every answer is a 200 or a 503 refusal');
  assert.equal(got.filter((s) => s === 200).length, h.handled(), 'every 200 was handled, every other request refused');
});

test('pipelining: an answer counts as in flight until it is written, so a client that never reads holds at most maxInFlight', T, async (t) => {
  // bodies larger than the loopback socket buffers can take: none of them is written while the client does
  // not read. Before this bound, an ended answer was not counted, so all 2 + 4 were handled (and kept).
  const body = Buffer.alloc(32 * 1024 * 1024, 'x');
  let handled = 0;
  const server = makeServer((_req: IncomingMessage, res: ServerResponse) => {
    handled++;
    res.end(body);
  }, { maxInFlight: 2, maxQueued: 4 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  sock.pause(); // never reads
  sock.write(req('/big').repeat(20));
  await eventually(() => handled >= 2, 5000, 'two handled');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(handled, 2, `answers held for a client that does not read: ${handled}`);
  // once the client reads, the waiting ones are handled in turn
  let bytes = 0;
  sock.on('data', (d: Buffer) => (bytes += d.length));
  sock.resume();
  await eventually(() => handled === 6, 20_000, `the 4 waiting handled (${handled})`);
  assert.ok(bytes > 0);
});

test('listener budget: beyond maxHeld requests held, the connection holding most is closed; the others are served', T, async (t) => {
  const h = await holdingServer(t, { maxInFlight: 2, maxQueued: 4, maxHeld: 10 });
  const a = await openSocket(h.port);
  const b = await openSocket(h.port);
  t.after(() => [a, b].forEach((c) => c.sock.destroy()));
  let aClosed = false;
  a.sock.once('close', () => (aClosed = true));
  a.sock.write(req('/slow').repeat(6)); // 2 in flight + 4 waiting: 6 held
  await eventually(() => h.handled() === 2, 5000, 'two of A handled');
  b.sock.write(req('/slow').repeat(6)); // B's fifth makes 11 > 10: A (6) holds most
  await eventually(() => aClosed, 5000, 'A closed');
  await eventually(() => h.handled() === 4, 5000, 'two of B handled');
  while (statuses(b.received()).length < 6) {
    h.release();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(statuses(b.received()), Array(6).fill(200), 'B is served whole');
  assert.equal(statuses(a.received()).length, 0, 'A got nothing: its requests were never answered (it retries them elsewhere)');
  const c = await openSocket(h.port);
  t.after(() => c.sock.destroy());
  c.sock.write(req('/now'));
  await eventually(() => statuses(c.received()).length === 1, 5000, 'a new client is answered');
});

test('listener budget: a connection that closes gives back everything it held', T, async (t) => {
  const h = await holdingServer(t, { maxInFlight: 2, maxQueued: 4, maxHeld: 10 });
  const a = await openSocket(h.port);
  a.sock.write(req('/slow').repeat(6));
  await eventually(() => h.handled() === 2, 5000, 'two of A handled');
  a.sock.destroy();
  await new Promise((r) => setTimeout(r, 100));
  h.release();
  const b = await openSocket(h.port);
  t.after(() => b.sock.destroy());
  let bClosed = false;
  b.sock.once('close', () => (bClosed = true));
  b.sock.write(req('/slow').repeat(8)); // 2 + 4 + 2 refused = 8 held: within 10 only if A's 6 were given back
  await eventually(() => statuses(b.received()).length === 0 && h.handled() === 4, 5000, 'two of B handled');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(bClosed, false, 'B was not closed: the budget did not keep what A held');
  while (statuses(b.received()).length < 8) {
    h.release();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(statuses(b.received()), [200, 200, 200, 200, 200, 200, 503, 503]);
});

test('connection cap: the oldest idle connection makes room; when all are busy the new one gets a JSON 503', T, async (t) => {
  const h = await holdingServer(t, { maxConnections: 3 });
  const idle = [await openSocket(h.port), await openSocket(h.port), await openSocket(h.port)];
  t.after(() => idle.forEach((s) => s.sock.destroy()));
  await eventually(() => new Promise<boolean>((r) => h.server.getConnections((_e, n) => r(n === 3))), 5000, '3 connections');
  const closed = (s: (typeof idle)[number]) => new Promise<void>((r) => (s.sock.destroyed ? r() : s.sock.once('close', () => r())));
  const fresh = await openSocket(h.port);
  t.after(() => fresh.sock.destroy());
  await closed(idle[0]!); // the oldest idle one
  fresh.sock.write(req('/now'));
  await eventually(() => fresh.received().includes('now'), 5000, 'the new connection is served');
  assert.equal(idle[1]!.sock.destroyed, false);

  // now make every connection busy: a held request on each
  for (const s of [idle[1]!, idle[2]!, fresh]) s.sock.write(req('/slow'));
  await eventually(() => h.held.length === 3, 5000, '3 busy');
  const refused = await openSocket(h.port);
  await new Promise<void>((r) => refused.sock.once('close', () => r()));
  assert.match(refused.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  const body = JSON.parse(refused.received().slice(refused.received().indexOf('\r\n\r\n') + 4));
  assert.equal(body.code, 503);
  assert.match(body.message, /too many connections \(limit 3\)/);
  h.release();
});

test('a silent connection is closed after the headers timeout; an error answer to a client that never closes does not keep the socket', T, async (t) => {
  const h = await holdingServer(t, {});
  const silent = await openSocket(h.port);
  const garbage = await openSocket(h.port);
  garbage.sock.write('\x00\x01 not http\r\n\r\n'); // answered 400, and the client never ends its side
  await new Promise<void>((r) => garbage.sock.once('close', () => r()));
  assert.match(garbage.received(), /^HTTP\/1\.1 400 /);
  await new Promise<void>((r) => silent.sock.once('close', () => r())); // HEADERS_TIMEOUT_MS (5 s) + check interval
  assert.equal(silent.received().startsWith('HTTP/1.1 408'), true, silent.received());
  void t;
});
