// HTTP/2 to the API server (issue 16 "proxy memory", issue 9 item 7 "reuse upstream connections"): the one
// transport negotiates h2 by ALPN with the fake API server (which offers h2 and HTTP/1.1 like kube-apiserver)
// and multiplexes the proxied watches and GETs over one TLS connection; falls back to HTTP/1.1 when the
// server does not offer h2; keeps the TLS gate (no h2 preface, no HEADERS frame, no token before the
// certificate verified); respects SETTINGS_MAX_CONCURRENT_STREAMS; survives GOAWAY, a reset stream and a lost
// connection; closes idle sessions; detects a dead connection by PING; keeps backpressure per stream; and
// moves new requests to a new session on a CA rotation while open streams finish on the old one; and the
// built agent (dist/main.js) puts its own pod watch and the proxied requests on one h2 connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { createProxyServer, type ProxyServer } from '../src/proxy/index.js';
import { Transport, type TransportOptions } from '../src/apiserver/transport.js';
import { TokenSource } from '../src/apiserver/credentials.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { rotatedPki, testPki, type TestPki } from './support/certs.js';
import { FakeApiServer, samplePod, type FakeApiServerOptions } from './support/fake-apiserver.js';
import { SaDir } from './support/sa-dir.js';
import { eventually } from './support/wait.js';
import { proxyAgentEnv, spawnBuilt } from './support/dist.js';

const TOKEN = 'h2-test-token-7c1d';
const watchPath = (name: string): string => `/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3D${name}`;

interface Setup {
  up: FakeApiServer;
  transport: Transport;
  proxy: ProxyServer;
  port: number;
  sa: SaDir;
  stop(): Promise<void>;
}

async function setup(
  pki: TestPki,
  o: { server?: FakeApiServerOptions; transport?: Partial<TransportOptions>; upstream?: { host: string; port: number } } = {},
): Promise<Setup> {
  const up = await FakeApiServer.start({ pki, tokens: [TOKEN], ...o.server });
  for (let i = 0; i < 8; i++) up.putPod(samplePod({ name: `w-${i}`, namespace: 'default' }));
  const ca = String(o.transport?.ca ?? pki.caPem);
  const sa = await SaDir.create({ token: TOKEN, caPem: ca });
  const log = createLogger({ level: 'error', write: () => {} });
  const baseUrl = o.upstream ? new URL(`https://${o.upstream.host}:${o.upstream.port}`) : up.url;
  const transport = new Transport({ baseUrl, tokens: new TokenSource(join(sa.dir, 'token'), TOKEN, log), saDir: sa.dir, log, ...o.transport, ca });
  const proxy = createProxyServer({ config: { listen: { host: '127.0.0.1', port: 0 }, maxWatches: 64 }, transport, log, metrics: new Metrics({ defaultMetrics: false }) });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    up,
    transport,
    proxy,
    port: (proxy.address() as net.AddressInfo).port,
    sa,
    async stop() {
      await proxy.drain(200);
      transport.destroy();
      await up.close();
      await sa.remove();
    },
  };
}

interface Got {
  status: number;
  body: string;
}

function get(port: number, path: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

interface Watch {
  res: IncomingMessage;
  req: http.ClientRequest;
  text: () => string;
  /** resolves with res.complete when the client's response closed */
  closed: Promise<boolean>;
}

function openWatch(port: number, path: string, { read = true }: { read?: boolean } = {}): Promise<Watch> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      if (read) res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('error', () => {});
      const closed = new Promise<boolean>((r) => res.once('close', () => r(res.complete)));
      if (res.statusCode !== 200) return reject(new Error(`watch: HTTP ${res.statusCode}`));
      resolve({ res, req, text: () => text, closed });
    });
    req.on('error', reject);
  });
}

const events = (text: string): { type: string; object: { metadata: { name: string; labels?: Record<string, string> } } }[] =>
  text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as never);

const label = (up: FakeApiServer, name: string, value: string): void =>
  void up.modifyPod('default', name, (p) => {
    p.metadata.labels = { ...p.metadata.labels, step: value };
  });

let pki: TestPki;
before(async () => {
  pki = await testPki();
});

describe('multiplexing over h2', () => {
  let s: Setup;
  before(async () => {
    s = await setup(pki);
  });
  after(() => s.stop());

  test('8 proxied watches and 20 GETs share one TLS connection, every request over h2 with the token', { timeout: 20_000 }, async () => {
    const tls0 = s.up.tlsConnections;
    const wire0 = s.up.wire.length;
    const watches = await Promise.all(Array.from({ length: 8 }, (_, i) => openWatch(s.port, watchPath(`w-${i}`))));
    for (let i = 0; i < 20; i++) assert.equal((await get(s.port, `/api/v1/namespaces/default/pods/w-${i % 8}`)).status, 200);
    assert.equal(s.transport.protocol, 'h2');
    assert.equal(s.up.tlsConnections - tls0, 1, 'one TLS connection for everything');
    const wire = s.up.wire.slice(wire0);
    assert.equal(wire.length, 28);
    assert.ok(wire.every((w) => w.httpVersion === '2.0' && w.conn === wire[0]!.conn && w.token === TOKEN), JSON.stringify(wire.slice(0, 3)));
    await eventually(() => JSON.stringify(s.transport.sessionStats()) === JSON.stringify({ sessions: 1, streams: [8] }), 5000, 'one session carrying the 8 watches');
    // every watch still streams its own object, as it changes
    for (let i = 0; i < 8; i++) label(s.up, `w-${i}`, `a${i}`);
    await eventually(() => watches.every((w, i) => events(w.text()).some((e) => e.object.metadata.labels?.step === `a${i}`)), 5000, 'each watch got its change');
    for (const [i, w] of watches.entries()) assert.ok(events(w.text()).every((e) => e.object.metadata.name === `w-${i}`));
    for (const w of watches) w.req.destroy();
    await eventually(() => s.transport.sessionStats().streams[0] === 0, 5000, 'streams released when the clients left');
    await eventually(() => s.up.watchCount === 0, 5000, 'upstream watches closed (RST_STREAM)');
  });

  test('a client that stops reading stalls only its own stream: the agent holds a bounded amount, the others flow', { timeout: 30_000 }, async () => {
    // the upstream writes 64 MiB into one watch whose proxy client reads nothing, as a server does: with backpressure
    const TOTAL = 64 * 1024 * 1024;
    const big = Buffer.alloc(64 * 1024, 0x20);
    big[big.length - 1] = 0x0a;
    let written = -1;
    const s2 = await setup(pki, {
      server: {
        handler: (req, res) => {
          if (!req.url?.startsWith('/api/v1/namespaces/default/configmaps')) return false;
          if (!req.url.includes('watch=1')) {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end('{"kind":"ConfigMapList","items":[]}');
            return true;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          written = 0;
          const pump = (): void => {
            while (written < TOTAL) {
              written += big.length;
              if (!res.write(big)) return void res.once('drain', pump);
            }
            res.end();
          };
          pump();
          return true;
        },
      },
    });
    try {
      const stalled = await openWatch(s2.port, '/api/v1/namespaces/default/configmaps?watch=1', { read: false });
      stalled.res.pause();
      await eventually(() => written >= 0, 5000, 'upstream watch open');
      // the upstream can hand over no more than the flow-control windows allow (the stream's 64 KiB in the
      // agent, plus what the loopback sockets between the proxy and its client hold, a few MiB): it stops, far
      // from the end. An agent that kept reading would take all 64 MiB.
      await eventually(async () => {
        const before = written;
        await new Promise((r) => setTimeout(r, 300));
        return written === before;
      }, 10_000, 'the upstream stopped writing');
      assert.ok(written < 24 * 1024 * 1024, `${written} bytes accepted upstream for a client that reads nothing`);
      // the session is not stalled: another watch and a GET on the same connection answer
      const other = await openWatch(s2.port, watchPath('w-1'));
      await eventually(() => events(other.text()).length > 0, 5000, 'the other watch streams');
      assert.equal((await get(s2.port, '/api/v1/namespaces/default/configmaps')).status, 200);
      assert.equal(s2.up.tlsConnections, 1, 'all on the one session');
      // reading again delivers every byte, in order
      let got = 0;
      stalled.res.on('data', (c: Buffer) => (got += c.length));
      stalled.res.resume();
      await eventually(() => got === TOTAL, 20_000, 'all 64 MiB delivered once the client reads');
      stalled.req.destroy();
      other.req.destroy();
    } finally {
      await s2.stop();
    }
  });
});

describe('the TLS gate on h2', () => {
  test('an untrusted server certificate: 502, no h2 preface, no HEADERS frame, no token — not one byte', { timeout: 20_000 }, async () => {
    const other = await rotatedPki(); // a server certificate from a CA the transport does not trust
    const s = await setup({ ...other, otherCaPem: pki.otherCaPem }, { transport: { ca: pki.caPem } }); // ca.crt too: a re-read does not help
    try {
      for (let i = 0; i < 3; i++) {
        const r = await get(s.port, '/api/v1/namespaces/default/pods/w-0');
        assert.equal(r.status, 502);
        assert.match(r.body, /did not verify against ca\.crt/);
      }
      assert.equal(s.up.wire.length, 0, 'no request reached the server');
      assert.equal(s.up.bytesIn, 0, 'not one byte after a handshake (no connection preface, no SETTINGS, no HEADERS)');
      assert.equal(s.up.sawToken(TOKEN), false);
      assert.deepEqual(s.transport.sessionStats(), { sessions: 0, streams: [] });
    } finally {
      await s.stop();
    }
  });
});

describe('fallback to HTTP/1.1', () => {
  test('a server that offers only HTTP/1.1: requests and watches work over HTTP/1.1, one connection per watch', { timeout: 20_000 }, async () => {
    const s = await setup(pki, { server: { http2: false } });
    try {
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-0')).status, 200);
      assert.equal(s.transport.protocol, 'http/1.1');
      const watches = await Promise.all([0, 1, 2].map((i) => openWatch(s.port, watchPath(`w-${i}`))));
      await eventually(() => watches.every((w) => events(w.text()).length > 0), 5000, 'watches stream');
      assert.ok(s.up.wire.every((w) => w.httpVersion === '1.1' && w.token === TOKEN));
      const watchConns = new Set(s.up.wire.filter((w) => w.url.includes('watch=1')).map((w) => w.conn));
      assert.equal(watchConns.size, 3, 'HTTP/1.1: each watch on its own connection');
      for (const w of watches) w.req.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe('sessions come and go', () => {
  test('SETTINGS_MAX_CONCURRENT_STREAMS is respected: beyond it another session is opened', { timeout: 20_000 }, async () => {
    const s = await setup(pki, { server: { maxConcurrentStreams: 3 } });
    try {
      const watches: Watch[] = [];
      for (let i = 0; i < 7; i++) watches.push(await openWatch(s.port, watchPath(`w-${i}`)));
      await eventually(() => s.up.watchCount === 7, 5000, '7 upstream watches');
      assert.equal(s.up.tlsConnections, 3, '7 streams at 3 per session');
      const perConn = new Map<number, number>();
      for (const w of s.up.wire) perConn.set(w.conn, (perConn.get(w.conn) ?? 0) + 1);
      assert.ok([...perConn.values()].every((n) => n <= 3), JSON.stringify([...perConn]));
      await eventually(() => [...s.transport.sessionStats().streams].sort().join() === '1,3,3', 5000, 'streams 3 + 3 + 1');
      for (const w of watches) w.req.destroy();
    } finally {
      await s.stop();
    }
  });

  test('GOAWAY: the open watch keeps streaming on the old session, the next request opens a new one', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const w = await openWatch(s.port, watchPath('w-0'));
      await eventually(() => events(w.text()).length === 1, 5000, 'initial ADDED');
      assert.equal(s.up.goaway(), 1);
      await eventually(() => s.transport.sessionStats().sessions === 0, 5000, 'the session left the pool');
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-1')).status, 200);
      assert.equal(s.up.tlsConnections, 2, 'a new connection for the new request');
      label(s.up, 'w-0', 'after-goaway');
      await eventually(() => events(w.text()).some((e) => e.object.metadata.labels?.step === 'after-goaway'), 5000, 'the old stream still delivers');
      w.req.destroy();
    } finally {
      await s.stop();
    }
  });

  test('a reset stream ends only that watch, as incomplete; a lost connection ends all of them, and the next request reconnects', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const a = await openWatch(s.port, watchPath('w-0'));
      const b = await openWatch(s.port, watchPath('w-1'));
      await eventually(() => s.up.watchCount === 2, 5000, 'two upstream watches');
      s.up.cut(s.up.watchResponses()[0]!);
      const first = await Promise.race([a.closed.then((c) => ({ w: 'a', c })), b.closed.then((c) => ({ w: 'b', c }))]);
      assert.equal(first.c, false, 'a reset stream is never a clean end');
      const survivor = first.w === 'a' ? b : a;
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-2')).status, 200, 'the session lives on');
      assert.equal(s.up.tlsConnections, 1);
      s.up.dropConnections();
      assert.equal(await survivor.closed, false, 'a lost connection is never a clean end');
      await eventually(() => s.transport.sessionStats().sessions === 0, 5000, 'the dead session left the pool');
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-2')).status, 200, 'the next request reconnects');
      assert.equal(s.up.tlsConnections, 2);
    } finally {
      await s.stop();
    }
  });

  test('REFUSED_STREAM (not processed by the server) is sent again once; refused twice, the client gets 502', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const path = '/api/v1/namespaces/default/pods/w-3';
      s.up.refuseStreams(1);
      assert.equal((await get(s.port, path)).status, 200);
      assert.equal(s.up.wire.filter((w) => w.url === path).length, 2, 'refused, then sent again');
      s.up.refuseStreams(2);
      const r = await get(s.port, path);
      assert.equal(r.status, 502);
      assert.match(r.body, /REFUSED_STREAM/);
      assert.equal(s.up.wire.filter((w) => w.url === path).length, 4, 'one retry, not more');
    } finally {
      await s.stop();
    }
  });

  test('an idle session is closed after the idle timeout; the next request opens a new one', { timeout: 20_000 }, async () => {
    const s = await setup(pki, { transport: { sessions: { idleMs: 150 } } });
    try {
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-0')).status, 200);
      assert.equal(s.up.h2SessionCount, 1);
      await eventually(() => s.up.h2SessionCount === 0, 5000, 'the idle session closed');
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-0')).status, 200);
      assert.equal(s.up.tlsConnections, 2);
    } finally {
      await s.stop();
    }
  });

  test('a connection that goes silent (black-holed) is found by PING and dropped; the watch ends incomplete, the next request reconnects', { timeout: 20_000 }, async () => {
    // a TCP relay in front of the fake API server that can stop forwarding (a dead peer, no FIN, no RST)
    let frozen = false;
    const pipes: net.Socket[] = [];
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(s.up.port), '127.0.0.1');
      pipes.push(client, upstream);
      client.on('data', (d: Buffer) => void (frozen || upstream.write(d)));
      upstream.on('data', (d: Buffer) => void (frozen || client.write(d)));
      for (const [x, y] of [[client, upstream], [upstream, client]] as const) {
        x.on('error', () => y.destroy());
        x.on('close', () => y.destroy());
      }
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const s = await setup(pki, { upstream: { host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port }, transport: { sessions: { pingEveryMs: 100, pingTimeoutMs: 300 } } });
    try {
      const w = await openWatch(s.port, watchPath('w-0'));
      await eventually(() => events(w.text()).length === 1, 5000, 'initial ADDED');
      frozen = true;
      assert.equal(await w.closed, false, 'the watch ends, incomplete, once the ping went unanswered');
      frozen = false;
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-0')).status, 200);
      assert.equal(s.up.tlsConnections, 2, 'over a new connection');
    } finally {
      await s.stop();
      for (const p of pipes) p.destroy();
      relay.close();
    }
  });

  test('CA rotation: the open watch finishes on its session, new requests use a new session with the new trust', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const w = await openWatch(s.port, watchPath('w-0'));
      await eventually(() => events(w.text()).length === 1, 5000, 'initial ADDED');
      const next = await rotatedPki();
      await s.sa.update({ 'ca.crt': pki.caPem + next.caPem }); // a rolling rotation: the bundle holds both
      assert.equal(await s.transport.reloadCa(), true);
      assert.equal((await get(s.port, '/api/v1/namespaces/default/pods/w-1')).status, 200);
      assert.equal(s.up.tlsConnections, 2, 'the new trust: a new session for the new request');
      label(s.up, 'w-0', 'after-rotation');
      await eventually(() => events(w.text()).some((e) => e.object.metadata.labels?.step === 'after-rotation'), 5000, 'the open watch goes on');
      const conns = s.up.wire.map((x) => x.conn);
      assert.deepEqual(conns, [1, 2]);
      w.req.destroy();
      await eventually(() => s.up.h2SessionCount === 1, 5000, 'the old session closed once its last stream was done');
    } finally {
      await s.stop();
    }
  });
});

describe('the built agent (dist/main.js)', () => {
  test('its API source and its proxied watches and GETs share one h2 connection; SIGTERM ends the watches cleanly', { timeout: 30_000 }, async () => {
    const up = await FakeApiServer.start({ pki, tokens: [TOKEN] });
    for (let i = 0; i < 4; i++) up.putPod(samplePod({ name: `w-${i}`, namespace: 'default' }));
    const sa = await SaDir.create({ token: TOKEN, caPem: pki.caPem });
    let kill = (): void => {};
    try {
      const p = await spawnBuilt({ ...proxyAgentEnv(up, sa.dir), POD_NAME: 'w-3', POD_NAMESPACE: 'default' }, (k) => (kill = k));
      const port = Number(p.addresses.proxy!.split(':').pop());
      await eventually(() => up.requests.some((r) => r.resource === 'pods' && r.verb === 'watch' && r.query.fieldSelector === 'metadata.name=w-3'), 10_000, "the agent's own pod watch");
      const watches = await Promise.all([0, 1, 2].map((i) => openWatch(port, watchPath(`w-${i}`))));
      for (let i = 0; i < 5; i++) assert.equal((await get(port, '/api/v1/namespaces/default/pods/w-0')).status, 200);
      await eventually(() => watches.every((w) => events(w.text()).length > 0), 5000, 'the watches stream');
      assert.ok(up.wire.length >= 9);
      assert.ok(up.wire.every((w) => w.httpVersion === '2.0' && w.token === TOKEN), JSON.stringify(up.wire.map((w) => w.httpVersion)));
      assert.equal(new Set(up.wire.map((w) => w.conn)).size, 1, 'one TLS connection for everything');
      assert.equal(up.tlsConnections, 1);
      p.child.kill('SIGTERM');
      for (const w of watches) assert.equal(await w.closed, true, 'ended with a proper last chunk');
      assert.equal((await p.exited).code, 0, p.stderr);
    } finally {
      kill();
      await up.close();
      await sa.remove();
    }
  });
});
