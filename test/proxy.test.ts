// The ambassador end to end on loopback: a real client → createProxyServer → the real API Transport → the fake
// API server (TLS with the test PKI, scripted routes on top). Pass-through byte for byte, watch streaming, refusals, knobs,
// disconnects both ways, TLS failure, upstream down/slow, 401, logs and metrics, and kubectl + curl.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { createProxyServer } from '../src/proxy/index.js';
import { Transport } from '../src/apiserver/transport.js';
import { TokenSource } from '../src/apiserver/credentials.js';
import type { ProxyConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { testPki, type TestPki } from './support/certs.js';
import { FakeApiServer } from './support/fake-apiserver.js';
import { SaDir } from './support/sa-dir.js';
import { eventually } from './support/wait.js';

const run = promisify(execFile);
const TOKEN = 'sa-token-5f0c1e2d9a8b7c6d';

// ---------------------------------------------------------------------------------------------------------
// the upstream: the fake API server (TLS with the test PKI, bearer tokens, request log) with scripted routes

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Upstream {
  server: FakeApiServer;
  port: number;
  seen: Seen[];
  /** bytes received on any TLS connection (0 = nothing, not even a request line, was sent) */
  bytesIn: () => number;
  /** `path` exactly, or (prefix) also everything under `path/` */
  route(path: string, h: Handler, prefix?: boolean): void;
  close(): Promise<void>;
}

const POD = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: 'web-0', namespace: 'default', uid: '1d591f87-4c1b-4d7e-9f0a-0f5e0c6e9b11', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z', labels: { app: 'web' } },
  spec: { containers: [{ name: 'main', image: 'nginx:1.27' }], nodeName: 'node-1' },
  status: { phase: 'Running', podIP: '10.244.1.38' },
};

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

/** The pod web-0 as scripted (the fake's own store would bump its resourceVersion). */
function kubeRoutes(up: Upstream): void {
  up.route('/api/v1/namespaces/default/pods/web-0', (_req, res) => json(res, 200, POD));
}

async function startUpstream(pki: TestPki): Promise<Upstream> {
  const routes: [string, Handler, boolean][] = [];
  const seen: Seen[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const path = (req.url ?? '').split('?')[0]!;
    const hit = routes.find(([p, , prefix]) => path === p || (prefix && path.startsWith(p + '/')));
    if (!hit) return false; // the fake answers: discovery, its pods/nodes, 401 without a valid token, 404
    hit[1](req, res, body);
    return true;
  };
  const server = await FakeApiServer.start({ pki, tokens: [TOKEN], handler });
  return {
    server,
    port: Number(server.port),
    seen,
    bytesIn: () => server.bytesIn,
    route(p, h, prefix = false) {
      routes.unshift([p, h, prefix]); // newest first
    },
    close: () => server.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// the proxy under test (real Transport, token and ca.crt from a kubelet-style SA dir), and a client

interface Harness {
  url: string;
  port: number;
  sa: SaDir;
  logs: Record<string, unknown>[];
  rawLogs: string[];
  metrics: Metrics;
  close(): Promise<void>;
}

interface HarnessOptions {
  knobs?: Omit<ProxyConfig, 'listen'>;
  /** CA the transport trusts (default: the upstream's) */
  ca?: string;
  port?: number;
  noTransport?: boolean;
  upstreamTimeoutMs?: number;
}

async function startProxy(pki: TestPki, upstreamPort: number, o: HarnessOptions = {}): Promise<Harness> {
  const rawLogs: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void rawLogs.push(l) });
  const sa = await SaDir.create({ token: TOKEN, caPem: o.ca ?? pki.caPem });
  const transport = new Transport({
    baseUrl: new URL(`https://127.0.0.1:${o.port ?? upstreamPort}`),
    ca: o.ca ?? pki.caPem,
    tokens: new TokenSource(join(sa.dir, 'token'), TOKEN, log),
    saDir: sa.dir,
    log,
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const server = createProxyServer({
    config: { listen: { host: '127.0.0.1', port: 0 }, ...o.knobs },
    transport: o.noTransport ? undefined : transport,
    log,
    metrics,
    ...(o.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: o.upstreamTimeoutMs } : {}),
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sa,
    rawLogs,
    get logs() {
      return rawLogs.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          transport.destroy();
          void sa.remove().then(() => resolve());
        });
      }),
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: () => { code: number; reason: string; message: string };
}

function request(
  h: Harness,
  path: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8'), json: () => JSON.parse(b.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------------------

let pki: TestPki;
let up: Upstream;
before(async () => {
  pki = await testPki();
  up = await startUpstream(pki);
  kubeRoutes(up);
});
after(() => up.close());

describe('pass-through', () => {
  let h: Harness;
  before(async () => {
    h = await startProxy(pki, up.port);
  });
  after(() => h.close());

  test('GET: status, body and headers byte-exact; token added; client credentials and Host never forwarded', async () => {
    const payload = Buffer.from('{"kind":"ConfigMap","data":{"k":"v é 日本 🚀"}}\n', 'utf8');
    up.route('/api/v1/namespaces/default/configmaps/cm', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Audit-Id': 'abc-123', 'Content-Length': payload.length });
      res.end(payload);
    });
    const before = up.seen.length;
    const r = await request(h, '/api/v1/namespaces/default/configmaps/cm?resourceVersion=0', {
      headers: {
        Authorization: 'Bearer client-supplied',
        Cookie: 'session=1',
        'Proxy-Authorization': 'Basic eDp5',
        'X-Private': 'hop',
        Connection: 'X-Private',
        Accept: 'application/json',
        'User-Agent': 'test-client/1.0',
      },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, payload);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['audit-id'], 'abc-123');
    assert.equal(up.seen.length, before + 1);
    const s = up.seen.at(-1)!;
    assert.equal(s.method, 'GET');
    assert.equal(s.url, '/api/v1/namespaces/default/configmaps/cm?resourceVersion=0');
    assert.equal(s.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(s.headers.host, `127.0.0.1:${up.port}`);
    assert.equal(s.headers.cookie, undefined);
    assert.equal(s.headers['proxy-authorization'], undefined);
    assert.equal(s.headers['x-private'], undefined);
    assert.equal(s.headers.accept, 'application/json');
    assert.equal(s.headers['user-agent'], 'test-client/1.0');
  });

  test('error answers from the API server pass through unchanged (404 Status)', async () => {
    const r = await request(h, '/api/v1/namespaces/default/pods/nope');
    assert.equal(r.status, 404);
    assert.equal(r.json().message, 'pods "nope" not found');
  });

  test('HEAD passes and carries no body', async () => {
    const r = await request(h, '/api/v1/namespaces/default/pods/web-0', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(up.seen.at(-1)!.method, 'HEAD');
  });

  // the timeouts turn a regression (a buffering or leaking proxy) into a failure instead of a hang
  test('a watch streams: the first event arrives while the upstream still holds the stream open', { timeout: 10_000 }, async () => {
    const ev1 = JSON.stringify({ type: 'ADDED', object: POD }) + '\n';
    const ev2 = JSON.stringify({ type: 'MODIFIED', object: { ...POD, metadata: { ...POD.metadata, resourceVersion: '43' } } }) + '\n';
    let upstreamEnded = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    up.route('/api/v1/namespaces/default/pods', (req, res) => {
      if (!req.url?.includes('watch=1')) return json(res, 400, {});
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.write(ev1);
      void released.then(() => {
        res.write(ev2);
        upstreamEnded = true;
        res.end();
      });
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.port, path: '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dweb-0', agent: false }, resolve).on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    let received = '';
    let firstSeen = false;
    for await (const chunk of res) {
      received += (chunk as Buffer).toString('utf8');
      if (!firstSeen && received.includes('\n')) {
        firstSeen = true;
        assert.equal(received, ev1);
        assert.equal(upstreamEnded, false, 'the first event came through before the upstream ended the stream');
        release();
      }
    }
    assert.ok(firstSeen);
    assert.equal(received, ev1 + ev2);
    assert.equal(up.seen.at(-1)!.url, '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dweb-0');
  });

  test('a client that disconnects mid-watch closes the upstream request', { timeout: 10_000 }, async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    up.route('/api/v1/namespaces/default/events', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{}}\n');
      res.once('close', () => upstreamClosed());
    });
    const req = http.get({ host: '127.0.0.1', port: h.port, path: '/api/v1/namespaces/default/events?watch=1', agent: false });
    req.on('error', () => {});
    const res = (await once(req, 'response')) as [IncomingMessage];
    await once(res[0], 'data');
    req.destroy();
    await closed; // the test would time out if the proxy kept the upstream watch open
    const line = await eventually(() => h.logs.find((l) => l.path === '/api/v1/namespaces/default/events' && l.aborted === true));
    assert.equal(line.status, 200);
  });

  test('a client that leaves before the response headers closes the upstream request', { timeout: 10_000 }, async () => {
    let arrived!: () => void;
    let upstreamClosed!: () => void;
    const atUpstream = new Promise<void>((r) => (arrived = r));
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    up.route('/api/v1/namespaces/default/limitranges', (_req, res) => {
      res.once('close', () => upstreamClosed()); // never answers
      arrived();
    });
    const req = http.get({ host: '127.0.0.1', port: h.port, path: '/api/v1/namespaces/default/limitranges', agent: false });
    req.on('error', () => {});
    await atUpstream;
    req.destroy();
    await closed;
    const line = await eventually(() => h.logs.find((l) => l.path === '/api/v1/namespaces/default/limitranges'));
    assert.equal(line.aborted, true);
    assert.equal(line.status, undefined, 'nothing was answered, so no status is logged');
  });

  test('an upstream that aborts mid-body ends the client response as incomplete', { timeout: 10_000 }, async () => {
    up.route('/api/v1/namespaces/default/endpoints', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED",');
      setImmediate(() => up.server.cut(res));
    });
    const { status, complete } = await new Promise<{ status: number; complete: boolean }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: h.port, path: '/api/v1/namespaces/default/endpoints?watch=1', agent: false }, (res) => {
          res.on('data', () => {});
          res.on('error', () => {}); // "aborted": expected
          res.on('close', () => resolve({ status: res.statusCode ?? 0, complete: res.complete }));
        })
        .on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(complete, false, 'a truncated body must not look complete');
  });

  test('401 passes through and makes the transport re-read the token (kubelet rotated it)', async () => {
    let answer401 = true;
    up.route('/api/v1/namespaces/default/serviceaccounts', (_req, res) =>
      answer401
        ? json(res, 401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })
        : json(res, 200, { kind: 'ServiceAccountList', items: [] }),
    );
    const rotated = `${TOKEN}-rotated`;
    await h.sa.rotateToken(rotated);
    const r = await request(h, '/api/v1/namespaces/default/serviceaccounts');
    assert.equal(r.status, 401);
    assert.equal(r.json().reason, 'Unauthorized');
    assert.equal(up.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`, 'the token read at start');
    answer401 = false;
    await eventually(async () => (await request(h, '/api/v1/namespaces/default/serviceaccounts')).status === 200 && up.seen.at(-1)!.headers.authorization === `Bearer ${rotated}`);
    assert.ok(!h.rawLogs.join().includes(rotated));
  });

  test('one JSON log line per request, query left out, token never logged; metrics counted', async () => {
    await request(h, '/api/v1/namespaces/default/pods/web-0?labelSelector=secretish%3Dx');
    await request(h, '/api/v1/secrets');
    const lines = await eventually(() => {
      const l = h.logs.filter((x) => x.msg === 'proxy request');
      return l.some((x) => x.path === '/api/v1/secrets') ? l : undefined;
    });
    const ok = lines.find((l) => l.path === '/api/v1/namespaces/default/pods/web-0' && l.method === 'GET' && l.status === 200);
    assert.ok(ok, 'the pod GET is logged');
    assert.equal(typeof ok.durationMs, 'number');
    assert.equal(ok.level, 'info');
    const refused = lines.find((l) => l.path === '/api/v1/secrets')!;
    assert.equal(refused.status, 403);
    assert.equal(refused.rule, 'secrets');
    for (const raw of h.rawLogs) {
      assert.ok(!raw.includes(TOKEN), 'token in a log line');
      assert.ok(!raw.includes('secretish'), 'query in a log line');
    }
    const counts = (await h.metrics.proxyRequests.get()).values;
    const get200 = counts.find((v) => v.labels.method === 'GET' && v.labels.code === '200');
    const get403 = counts.find((v) => v.labels.method === 'GET' && v.labels.code === '403');
    assert.ok(get200 && get200.value >= 1);
    assert.ok(get403 && get403.value >= 1);
    const hist = (await h.metrics.proxyDuration.get()).values;
    assert.ok(hist.some((v) => v.metricName === 'podmeta_proxy_request_duration_seconds_count' && v.labels.method === 'GET' && v.value >= 2));
  });
});

describe('refusals (defaults)', () => {
  let h: Harness;
  before(async () => {
    h = await startProxy(pki, up.port);
  });
  after(() => h.close());

  const cases: { name: string; path: string; method?: string; headers?: Record<string, string>; rule: string; mentions?: string }[] = [
    { name: 'namespaced secret', path: '/api/v1/namespaces/default/secrets/db', rule: 'secrets', mentions: 'PODMETA_PROXY_REJECT_PATHS' },
    { name: 'namespaced secret list, watch', path: '/api/v1/namespaces/default/secrets?watch=1', rule: 'secrets' },
    { name: 'cluster-wide secrets', path: '/api/v1/secrets', rule: 'secrets' },
    { name: 'legacy watch path', path: '/api/v1/watch/namespaces/default/secrets', rule: 'secrets' },
    { name: 'exec', path: '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true', rule: 'exec' },
    { name: 'attach', path: '/api/v1/namespaces/default/pods/web-0/attach', rule: 'attach' },
    { name: 'portforward', path: '/api/v1/namespaces/default/pods/web-0/portforward', rule: 'portforward' },
    { name: 'service proxy', path: '/api/v1/namespaces/default/services/web:80/proxy/admin', rule: 'proxy' },
    { name: 'node proxy', path: '/api/v1/nodes/node-1/proxy/configz', rule: 'proxy' },
    { name: 'POST', path: '/api/v1/namespaces/default/configmaps', method: 'POST', rule: 'read-only', mentions: 'PODMETA_PROXY_REJECT_METHODS' },
    { name: 'DELETE', path: '/api/v1/namespaces/default/pods/web-0', method: 'DELETE', rule: 'read-only' },
    { name: 'PATCH', path: '/api/v1/namespaces/default/pods/web-0', method: 'PATCH', rule: 'read-only' },
    { name: 'PUT', path: '/api/v1/namespaces/default/pods/web-0', method: 'PUT', rule: 'read-only' },
    { name: 'foreign Host', path: '/api/v1/namespaces/default/pods/web-0', headers: { Host: 'evil.example:8001' }, rule: 'accept-hosts', mentions: 'PODMETA_PROXY_ACCEPT_HOSTS' },
    { name: 'X-Forwarded-For', path: '/api/v1/namespaces/default/pods/web-0', headers: { 'X-Forwarded-For': '10.1.2.3' }, rule: 'x-forwarded-for', mentions: 'X-Forwarded-For' },
    { name: 'upgrade', path: '/api/v1/namespaces/default/pods/web-0/log', headers: { Connection: 'Upgrade', Upgrade: 'websocket' }, rule: 'upgrade' },
    { name: 'Impersonate-User', path: '/api/v1/namespaces/default/pods/web-0', headers: { 'Impersonate-User': 'admin' }, rule: 'impersonation' },
    { name: '//', path: '/api/v1//secrets', rule: 'canonical-path' },
    { name: '/../', path: '/api/v1/namespaces/default/pods/../../secrets', rule: 'canonical-path' },
    { name: '/./', path: '/api/v1/./secrets', rule: 'canonical-path' },
    { name: '%2F', path: '/api/v1/namespaces%2Fdefault%2Fsecrets', rule: 'canonical-path' },
    { name: '%2e%2e', path: '/api/v1/namespaces/default/pods/%2e%2e/%2e%2e/secrets', rule: 'canonical-path' },
    { name: 'double-encoded %252F', path: '/api/v1/namespaces%252Fdefault/secrets', rule: 'canonical-path' },
    { name: 'encoded letters', path: '/api/v1/namespaces/default/%73%65crets', rule: 'secrets' },
  ];

  for (const c of cases) {
    test(`${c.name} → 403 naming rule "${c.rule}", nothing sent upstream`, async () => {
      const n = up.seen.length;
      const bytes = up.bytesIn();
      const r = await request(h, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {} });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      const body = r.json();
      assert.equal(body.code, 403);
      assert.equal(body.reason, 'Forbidden');
      assert.ok(body.message.includes(`rule "${c.rule}"`), body.message);
      if (c.mentions) assert.ok(body.message.includes(c.mentions), body.message);
      assert.equal(up.seen.length, n);
      assert.equal(up.bytesIn(), bytes);
    });
  }
});

describe('knobs', () => {
  test('PODMETA_PROXY_ACCEPT_PATHS limits paths; built-in rules still apply', async (t) => {
    const h = await startProxy(pki, up.port, { knobs: { acceptPaths: ['^/api/v1/namespaces/default/pods'] } });
    t.after(() => h.close());
    assert.equal((await request(h, '/api/v1/namespaces/default/pods/web-0')).status, 200);
    const r = await request(h, '/apis');
    assert.equal(r.status, 403);
    assert.match(r.json().message, /rule "accept-paths".*PODMETA_PROXY_ACCEPT_PATHS/);
    assert.match((await request(h, '/api/v1/namespaces/default/pods/web-0/exec')).json().message, /rule "exec"/);
  });

  test('PODMETA_PROXY_REJECT_PATHS replaces the built-in path rules (explicit choice) and warns', async (t) => {
    up.route('/api/v1/namespaces/default/secrets', (_req, res) => json(res, 200, { kind: 'SecretList', items: [] }));
    const h = await startProxy(pki, up.port, { knobs: { rejectPaths: ['^/api/v1/nodes'] } });
    t.after(() => h.close());
    assert.equal((await request(h, '/api/v1/namespaces/default/secrets')).status, 200);
    const r = await request(h, '/api/v1/nodes/node-1');
    assert.equal(r.status, 403);
    assert.match(r.json().message, /PODMETA_PROXY_REJECT_PATHS entry "\^\/api\/v1\/nodes"/);
    const warn = h.logs.find((l) => l.level === 'warn' && String(l.msg).includes('built-in path rules no longer applied'));
    assert.ok(warn, 'startup warning names the dropped rules');
    assert.match(String(warn.msg), /secrets, exec, attach, portforward, proxy/);
  });

  test('PODMETA_PROXY_REJECT_METHODS="^$" opens writes: bodies and methods are forwarded', async (t) => {
    up.route(
      '/api/v1/namespaces/default/configmaps',
      (req, res, body) => json(res, req.method === 'POST' ? 201 : 200, { echo: body.toString('utf8'), method: req.method }),
      true,
    );
    const h = await startProxy(pki, up.port, { knobs: { rejectMethods: ['^$'] } });
    t.after(() => h.close());
    const doc = JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b'.repeat(70_000) } });
    const post = await request(h, '/api/v1/namespaces/default/configmaps', { method: 'POST', body: doc, headers: { 'Content-Type': 'application/json' } });
    assert.equal(post.status, 201);
    assert.equal(JSON.parse(post.text).echo, doc);
    const patch = await request(h, '/api/v1/namespaces/default/configmaps/x', {
      method: 'PATCH',
      body: '{"data":{"a":"c"}}',
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    assert.equal(patch.status, 200);
    assert.equal(up.seen.at(-1)!.headers['content-type'], 'application/merge-patch+json');
    assert.equal(up.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal((await request(h, '/api/v1/namespaces/default/configmaps/x', { method: 'DELETE' })).status, 200);
    assert.ok(h.logs.some((l) => l.level === 'warn' && String(l.msg).includes('write methods (POST, PUT, PATCH, DELETE)')));
    // secrets stay refused: opening methods does not open paths
    assert.equal((await request(h, '/api/v1/namespaces/default/secrets', { method: 'POST', body: '{}' })).status, 403);
  });

  test('PODMETA_PROXY_REJECT_METHODS with a list refuses exactly those', async (t) => {
    const h = await startProxy(pki, up.port, { knobs: { rejectMethods: ['^DELETE$'] } });
    t.after(() => h.close());
    assert.equal((await request(h, '/api/v1/namespaces/default/configmaps', { method: 'POST', body: '{}' })).status, 201);
    const r = await request(h, '/api/v1/namespaces/default/configmaps/x', { method: 'DELETE' });
    assert.equal(r.status, 403);
    assert.match(r.json().message, /rule "reject-methods"/);
  });

  test('PODMETA_PROXY_ACCEPT_HOSTS replaces the loopback names', async (t) => {
    const h = await startProxy(pki, up.port, { knobs: { acceptHosts: ['^podmeta\\.local$'] } });
    t.after(() => h.close());
    assert.equal((await request(h, '/api/v1/namespaces/default/pods/web-0', { headers: { Host: 'podmeta.local:8001' } })).status, 200);
    assert.equal((await request(h, '/api/v1/namespaces/default/pods/web-0')).status, 403);
  });
});

describe('upstream failures', () => {
  test('a certificate that does not verify → 502, and not one byte (so no token) reaches the server', async (t) => {
    const h = await startProxy(pki, up.port, { ca: pki.otherCaPem });
    t.after(() => h.close());
    const n = up.seen.length;
    const bytes = up.bytesIn();
    const r = await request(h, '/api/v1/namespaces/default/pods/web-0');
    assert.equal(r.status, 502);
    assert.equal(r.json().reason, 'BadGateway');
    assert.match(r.json().message, /did not verify against ca\.crt/);
    assert.equal(up.seen.length, n);
    assert.equal(up.bytesIn(), bytes);
    assert.ok(!r.text.includes(TOKEN));
    const line = await eventually(() => h.logs.find((l) => l.msg === 'proxy request' && l.status === 502));
    assert.equal(line.error, 'tls');
  });

  test('API server down → 502 naming the address', async (t) => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const h = await startProxy(pki, up.port, { port });
    t.after(() => h.close());
    const r = await request(h, '/api/v1/namespaces/default/pods/web-0');
    assert.equal(r.status, 502);
    assert.match(r.json().message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  });

  test('no response headers in time → 504, and the upstream request is closed', { timeout: 10_000 }, async (t) => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((r) => (closed = r));
    up.route('/api/v1/namespaces/default/slow', (_req, res) => res.once('close', () => closed()));
    const h = await startProxy(pki, up.port, { upstreamTimeoutMs: 200 });
    t.after(() => h.close());
    const r = await request(h, '/api/v1/namespaces/default/slow');
    assert.equal(r.status, 504);
    assert.equal(r.json().reason, 'GatewayTimeout');
    await upstreamClosed;
  });

  test('no transport (API off / not in cluster) → 503 saying why', async (t) => {
    const h = await startProxy(pki, up.port, { noTransport: true });
    t.after(() => h.close());
    const r = await request(h, '/api/v1/namespaces/default/pods/web-0');
    assert.equal(r.status, 503);
    assert.equal(r.json().reason, 'ServiceUnavailable');
    assert.match(r.json().message, /not configured.*PODMETA_API=off/);
  });
});

describe('real clients', () => {
  let h: Harness;
  let home: string;
  before(async () => {
    h = await startProxy(pki, up.port);
    home = await mkdtemp(join(tmpdir(), 'podmeta-kubectl-'));
  });
  after(async () => {
    await h.close();
    await rm(home, { recursive: true, force: true });
  });
  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: home, KUBECONFIG: '/dev/null' });

  test('kubectl get --raw through the proxy', async () => {
    const { stdout } = await run('kubectl', ['--server', h.url, 'get', '--raw', '/api/v1/namespaces/default/pods/web-0'], { env: env() });
    assert.deepEqual(JSON.parse(stdout), POD);
    assert.equal(up.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('kubectl get pod (discovery, then the object) through the proxy', async () => {
    const { stdout } = await run('kubectl', ['--server', h.url, '-n', 'default', 'get', 'pod', 'web-0', '-o', 'jsonpath={.metadata.uid} {.status.podIP}'], { env: env() });
    assert.equal(stdout, `${POD.metadata.uid} ${POD.status.podIP}`);
    // default (human) output: the upstream sends no Table, kubectl falls back to NAME/AGE
    const table = await run('kubectl', ['--server', h.url, '-n', 'default', 'get', 'pod', 'web-0'], { env: env() });
    assert.match(table.stdout, /^NAME\s.*\nweb-0\s/);
    assert.ok(up.seen.some((s) => s.url.startsWith('/api/v1?') || s.url === '/api/v1'), 'discovery went through the proxy');
  });

  test('kubectl is refused reading secrets, with the rule in the message', async () => {
    await assert.rejects(run('kubectl', ['--server', h.url, 'get', '--raw', '/api/v1/namespaces/default/secrets'], { env: env() }), (err: Error & { stderr?: string }) => {
      assert.match(String(err.stderr), /Forbidden|forbidden|403/);
      return true;
    });
  });

  test('curl: GET and a refusal', async () => {
    const { stdout } = await run('curl', ['-sS', `${h.url}/api/v1/namespaces/default/pods/web-0`], { env: env() });
    assert.deepEqual(JSON.parse(stdout), POD);
    const refused = await run('curl', ['-sS', '-w', '\n%{http_code}', '-X', 'DELETE', `${h.url}/api/v1/namespaces/default/pods/web-0`], { env: env() });
    const [body, code] = refused.stdout.split('\n');
    assert.equal(code, '403');
    assert.match(JSON.parse(body!).message, /rule "read-only"/);
  });
});

