// The ambassador's bounds (issue 9 items 7 and lower): concurrent requests and streams capped with a JSON
// 429 + Retry-After, upstream connections reused (keep-alive) and bounded, write bodies capped, Host names
// that only look like loopback refused, and drain(): proxied watches end cleanly at a line boundary
// (upstream aborted, the client's chunked response terminated) while in-flight GETs finish.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { createProxyServer, type ProxyServer } from '../src/proxy/index.js';
import { Transport } from '../src/apiserver/transport.js';
import { TokenSource } from '../src/apiserver/credentials.js';
import type { ProxyConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { testPki, type TestPki } from './support/certs.js';
import { FakeApiServer, samplePod } from './support/fake-apiserver.js';
import { SaDir } from './support/sa-dir.js';
import { eventually } from './support/wait.js';
import { proxyAgentEnv, spawnBuilt } from './support/dist.js';

const TOKEN = 'limits-test-token';
const POD = samplePod({ name: 'web-0', namespace: 'default' });
const WATCH = '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dweb-0';

/** Held GETs: /api/v1/namespaces/default/configmaps/held-* answer only when released. */
class Held {
  private waiting: (() => void)[] = [];
  arrived = 0;
  handler = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    req.resume();
    const m = /^\/api\/v1\/namespaces\/default\/configmaps\/(held-)?([a-z0-9-]+)$/.exec(url.pathname);
    if (!m) return false;
    const answer = (): void => {
      const body = JSON.stringify({ kind: 'ConfigMap', metadata: { name: m[2] } });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (m[1]) {
      this.arrived++;
      this.waiting.push(answer);
    } else answer();
    return true;
  };
  release(): void {
    for (const a of this.waiting.splice(0)) a();
  }
}

interface Setup {
  up: FakeApiServer;
  held: Held;
  proxy: ProxyServer;
  port: number;
  logs: string[];
  stop(): Promise<void>;
}

async function setup(pki: TestPki, knobs: Omit<ProxyConfig, 'listen'> = {}): Promise<Setup> {
  const held = new Held();
  const up = await FakeApiServer.start({ pki, tokens: [TOKEN], handler: held.handler });
  up.putPod(POD);
  const sa = await SaDir.create({ token: TOKEN, caPem: pki.caPem });
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void logs.push(l) });
  const transport = new Transport({ baseUrl: up.url, ca: pki.caPem, tokens: new TokenSource(join(sa.dir, 'token'), TOKEN, log), saDir: sa.dir, log });
  const proxy = createProxyServer({ config: { listen: { host: '127.0.0.1', port: 0 }, ...knobs }, transport, log, metrics: new Metrics({ defaultMetrics: false }) });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    up,
    held,
    proxy,
    port: (proxy.address() as net.AddressInfo).port,
    logs,
    async stop() {
      held.release();
      await proxy.drain(200);
      transport.destroy();
      await up.close();
      await sa.remove();
    },
  };
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Open a watch through the proxy; resolves once the 200 headers arrived. */
function openWatch(port: number): Promise<{ res: IncomingMessage; req: http.ClientRequest; text: () => string; ended: Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: WATCH, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      const ended = new Promise<boolean>((r) => {
        res.on('error', () => {});
        res.on('close', () => r(res.complete));
      });
      resolve({ res, req, text: () => text, ended });
    });
    req.on('error', reject);
  });
}

let pki: TestPki;
before(async () => {
  pki = await testPki();
});

describe('caps', () => {
  let s: Setup;
  before(async () => {
    s = await setup(pki, { maxRequests: 2, maxWatches: 2 });
  });
  after(() => s.stop());

  test('streams beyond PODMETA_PROXY_MAX_WATCHES → 429 with Retry-After and a JSON body; a slot frees when one ends', { timeout: 15_000 }, async () => {
    const w1 = await openWatch(s.port);
    const w2 = await openWatch(s.port);
    assert.equal(w1.res.statusCode, 200);
    assert.equal(w2.res.statusCode, 200);
    await s.up.waitFor(() => s.up.watchCount === 2, 'two upstream watches');
    const third = await get(s.port, WATCH);
    assert.equal(third.status, 429);
    assert.equal(third.headers['retry-after'], '1');
    assert.equal(third.headers['content-type'], 'application/json; charset=utf-8');
    const body = JSON.parse(third.body) as { code: number; reason: string; message: string };
    assert.equal(body.code, 429);
    assert.equal(body.reason, 'TooManyRequests');
    assert.match(body.message, /PODMETA_PROXY_MAX_WATCHES/);
    assert.equal(s.up.watchCount, 2, 'the refused watch never reached the API server');
    assert.deepEqual(s.proxy.inFlight(), { requests: 0, streams: 2 });
    // plain requests have their own budget
    assert.equal((await get(s.port, '/api/v1/namespaces/default/configmaps/plain')).status, 200);
    w1.req.destroy();
    await eventually(() => s.proxy.inFlight().streams === 1, 5000, 'the slot freed');
    const again = await openWatch(s.port);
    assert.equal(again.res.statusCode, 200);
    again.req.destroy();
    w2.req.destroy();
    await eventually(() => s.proxy.inFlight().streams === 0 && s.up.watchCount === 0, 5000, 'all watches closed upstream');
  });

  test('requests in flight beyond PODMETA_PROXY_MAX_REQUESTS → 429; they finish and the budget returns', { timeout: 15_000 }, async () => {
    const a = get(s.port, '/api/v1/namespaces/default/configmaps/held-a');
    const b = get(s.port, '/api/v1/namespaces/default/configmaps/held-b');
    await eventually(() => s.held.arrived === 2, 5000, 'two held requests upstream');
    const c = await get(s.port, '/api/v1/namespaces/default/configmaps/c');
    assert.equal(c.status, 429);
    assert.match((JSON.parse(c.body) as { message: string }).message, /PODMETA_PROXY_MAX_REQUESTS/);
    s.held.release();
    assert.equal((await a).status, 200);
    assert.equal((await b).status, 200);
    await eventually(() => s.proxy.inFlight().requests === 0, 5000, 'budget returned');
    assert.equal((await get(s.port, '/api/v1/namespaces/default/configmaps/c')).status, 200);
  });
});

describe('upstream connections and bodies', () => {
  let s: Setup;
  before(async () => {
    s = await setup(pki, { rejectMethods: ['^$'] });
  });
  after(() => s.stop());

  test('sequential requests reuse one keep-alive TLS connection to the API server', async () => {
    const before = s.up.tlsConnections;
    for (let i = 0; i < 20; i++) assert.equal((await get(s.port, `/api/v1/namespaces/default/configmaps/seq-${i}`)).status, 200);
    assert.ok(s.up.tlsConnections - before <= 1, `${s.up.tlsConnections - before} new TLS connections for 20 requests`);
  });

  test('a write body over 3 MiB → 413 and nothing sent upstream (Content-Length or chunked)', async () => {
    const n = s.up.wire.length;
    const big = Buffer.alloc(3 * 1024 * 1024 + 1, 0x61);
    const byLength = await get(s.port, '/api/v1/namespaces/default/configmaps', { 'Content-Type': 'application/json' }, 'POST', big);
    assert.equal(byLength.status, 413);
    assert.equal((JSON.parse(byLength.body) as { reason: string }).reason, 'PayloadTooLarge');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.port, path: '/api/v1/namespaces/default/configmaps', method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err) => (String(err).includes('EPIPE') || String(err).includes('ECONNRESET') ? undefined : reject(err)));
      for (let i = 0; i < 4; i++) req.write(Buffer.alloc(1024 * 1024, 0x62));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal(s.up.wire.length, n, 'the upstream parsed nothing');
  });

  test('an opened write with a chunked body reaches the API server framed with Content-Length', async () => {
    const n = s.up.wire.length;
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.port, path: '/api/v1/namespaces/default/configmaps/plain', method: 'PUT', agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"kind":');
      req.end('"ConfigMap"}');
    });
    assert.equal(r, 200); // the scripted route answers any method
    assert.deepEqual(s.up.wire.slice(n).map((w) => `${w.method} ${w.url}`), ['PUT /api/v1/namespaces/default/configmaps/plain']);
    assert.equal(s.up.parseErrors, 0);
  });
});

describe('Host names that only look like loopback', () => {
  let s: Setup;
  before(async () => {
    s = await setup(pki);
  });
  after(() => s.stop());

  for (const host of ['[::1]evil', '[::1]evil:8001', '[::1].evil.example', 'localhost:8001:1', 'localhost:x', 'localhost@evil.example', '127.0.0.1.nip.io']) {
    test(`Host ${host} → 403 accept-hosts, nothing forwarded`, async () => {
      const n = s.up.wire.length;
      const r = await get(s.port, '/api/v1/namespaces/default/configmaps/x', { Host: host });
      assert.equal(r.status, 403);
      assert.match(r.body, /rule \\"accept-hosts\\"/);
      assert.equal(s.up.wire.length, n);
    });
  }

  test('two Host headers → 400 and the connection closed', async () => {
    const n = s.up.wire.length;
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(s.port, '127.0.0.1', () => c.write('GET /api HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n'));
      let b = '';
      c.on('data', (d: Buffer) => (b += d.toString()));
      c.on('close', () => resolve(b));
      c.on('error', reject);
    });
    assert.match(got, /^HTTP\/1\.1 400 /);
    assert.equal(s.up.wire.length, n);
  });
});

describe('drain', () => {
  test('watches end cleanly (last chunk, upstream closed) and in-flight GETs finish; new requests are refused', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const w = await openWatch(s.port);
      await eventually(() => w.text().includes('"ADDED"'), 5000, 'the first event');
      // both watches are stopped mid-line: they end at the next newline, never with half an event
      const w2 = await openWatch(s.port);
      await eventually(() => w2.text().includes('"ADDED"') && s.up.watchCount === 2, 5000, 'second watch');
      await s.up.sendRaw(['{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"we']);
      await eventually(() => w2.text().endsWith('"name":"we'), 5000, 'the partial line relayed');
      const slow = get(s.port, '/api/v1/namespaces/default/configmaps/held-inflight');
      await eventually(() => s.held.arrived === 1, 5000, 'the GET is at the API server');
      const drained = s.proxy.drain(5000);
      // (sendRaw writes to every open watch: both are mid-line now)
      await s.up.sendRaw(['b-0"}}}\n{"type":"BOOKMARK","object":{']);
      assert.equal(await w.ended, true, 'the first watch ended with a proper last chunk');
      assert.equal(await w2.ended, true, 'the second too');
      assert.ok(w2.text().endsWith('"name":"web-0"}}}\n'), `ends at the line boundary: ${JSON.stringify(w2.text().slice(-60))}`);
      for (const line of w2.text().trim().split('\n')) JSON.parse(line);
      await eventually(() => s.up.watchCount === 0, 5000, 'the upstream watches aborted');
      s.held.release();
      const r = await slow;
      assert.equal(r.status, 200, 'the in-flight GET finished');
      assert.deepEqual(JSON.parse(r.body), { kind: 'ConfigMap', metadata: { name: 'inflight' } });
      await drained;
      await assert.rejects(get(s.port, '/api'), /ECONNREFUSED/, 'no longer listening');
    } finally {
      await s.stop();
    }
  });

  test('a GET that does not finish within the grace is cut, and drain() still resolves', { timeout: 20_000 }, async () => {
    const s = await setup(pki);
    try {
      const slow = get(s.port, '/api/v1/namespaces/default/configmaps/held-forever').then(
        () => 'answered',
        () => 'cut',
      );
      await eventually(() => s.held.arrived === 1, 5000, 'the GET is at the API server');
      await s.proxy.drain(200);
      assert.equal(await slow, 'cut');
    } finally {
      await s.stop();
    }
  });
});

describe('SIGTERM on the built agent (node dist/main.js)', () => {
  test('a proxied watch ends with a proper last chunk, an in-flight GET finishes, the process exits 0', { timeout: 60_000 }, async (t) => {
    const held = new Held();
    const up = await FakeApiServer.start({ pki, tokens: [TOKEN], handler: held.handler });
    t.after(() => up.close());
    up.putPod(POD);
    const sa = await SaDir.create({ token: TOKEN, caPem: pki.caPem });
    t.after(() => sa.remove());
    let kill = (): void => {};
    t.after(() => kill());
    const p = await spawnBuilt(
      proxyAgentEnv(up, sa.dir),
      (k) => (kill = k),
    );
    const port = Number(p.addresses.proxy!.split(':').pop());
    const w = await openWatch(port);
    await eventually(() => w.text().includes('"ADDED"'), 5000, 'the first event');
    const slow = get(port, '/api/v1/namespaces/default/configmaps/held-sigterm');
    await eventually(() => held.arrived === 1, 5000, 'the GET is at the API server');
    p.child.kill('SIGTERM');
    assert.equal(await w.ended, true, 'the watch ended with a proper last chunk');
    setTimeout(() => held.release(), 300); // answers while the agent drains
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal((await p.exited).code, 0, p.stderr);
    for (const line of w.text().trim().split('\n')) JSON.parse(line);
  });
});
