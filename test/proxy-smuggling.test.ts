// Request smuggling through the ambassador (issue 9, critical), attacked with raw sockets: the proxy must never
// forward bytes it has not framed itself. The upstream is the fake API server, whose wire log records every
// request its HTTP parser produced (with its TLS connection number). For every shape we assert what the
// upstream parsed (never a /secrets request, never a DELETE, nothing beyond what the client legitimately
// asked for), that the attacker got exactly the answers it should, and that a bystander client on its own
// connection gets its own response, never another request's. The same table runs against the proxy in
// process and against the built agent (dist/main.js).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { createProxyServer, type ProxyServer } from '../src/proxy/index.js';
import { Transport } from '../src/apiserver/transport.js';
import { TokenSource } from '../src/apiserver/credentials.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { testPki } from './support/certs.js';
import { FakeApiServer } from './support/fake-apiserver.js';
import { SaDir } from './support/sa-dir.js';
import { proxyAgentEnv, spawnBuilt, type BuiltProcess } from './support/dist.js';

const TOKEN = 'smuggle-test-token-77aa';
const SECRET_MARKER = 'TOPSECRET-c2VjcmV0';

/** Routes the attacks aim at: configmaps answer their own name; secrets would leak the marker. */
function handler(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const send = (status: number, body: unknown): true => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  };
  req.resume();
  const cm = /^\/api\/v1\/namespaces\/default\/configmaps\/([a-z0-9-]+)$/.exec(url.pathname);
  if (cm) return send(200, { kind: 'ConfigMap', metadata: { name: cm[1] } });
  if (url.pathname.includes('/secrets')) return send(200, { kind: 'SecretList', items: [{ data: { password: SECRET_MARKER } }] });
  return false;
}

interface Target {
  port: number;
  up: FakeApiServer;
}

/** Write `bytes` on a fresh connection; resolve with everything received until the server closes it. */
function raw(port: number, bytes: string, { endAfterWrite = false } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(8000, () => s.destroy(new Error(`no close within 8 s; received so far: ${JSON.stringify(got.slice(0, 300))}`)));
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.on('connect', () => {
      s.write(bytes);
      if (endAfterWrite) s.end();
    });
  });
}

/** Status codes of the HTTP responses in a raw byte stream, in order (framed by Content-Length or chunked). */
function statuses(stream: string): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < stream.length) {
    const end = stream.indexOf('\r\n\r\n', at);
    if (end === -1) throw new Error(`unterminated response head at ${at}: ${JSON.stringify(stream.slice(at, at + 200))}`);
    const head = stream.slice(at, end);
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
    if (!m) throw new Error(`not a response at ${at}: ${JSON.stringify(head.slice(0, 200))}`);
    out.push(Number(m[1]));
    at = end + 4;
    if (m[1]!.startsWith('1')) continue;
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (cl) at += Number(cl[1]);
    else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const lineEnd = stream.indexOf('\r\n', at);
        const size = parseInt(stream.slice(at, lineEnd), 16);
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    }
  }
  return out;
}

/** A bystander on its own connection: its answer must be its own ConfigMap. */
async function bystander(port: number, name: string): Promise<void> {
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: `/api/v1/namespaces/default/configmaps/${name}`, agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  assert.deepEqual(JSON.parse(body), { kind: 'ConfigMap', metadata: { name } }, 'the bystander got its own response');
}

const CM = (name: string): string => `/api/v1/namespaces/default/configmaps/${name}`;
const SECRETS = '/api/v1/namespaces/default/secrets';
const H = 'Host: localhost\r\n';
const smuggled = `GET ${SECRETS} HTTP/1.1\r\n${H}\r\n`;
const smuggledDelete = `DELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`;
const chunk = (s: string): string => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

interface Attack {
  name: string;
  bytes: (id: string) => string;
  /** statuses the attacker's connection must receive, in order */
  answers: number[];
  /** request targets (path) the upstream must have parsed for this attack, in order */
  upstream: (id: string) => string[];
}

const ATTACKS: Attack[] = [
  {
    name: 'chunked GET body carrying a second request (the confirmed exploit)',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'chunked GET body carrying a DELETE',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk(smuggledDelete)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'CL + TE',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Content-Length: ${4 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'TE + CL (reversed order)',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'TE "chunked, identity"',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'TE "identity, chunked"',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: '"Transfer-Encoding : chunked" (space before the colon)',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'TE with a tab, upper case',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding:\tCHUNKED\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'TE "xchunked"',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'two TE headers',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'obs-fold TE',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}X-Pad: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n${chunk(smuggled)}0\r\n\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'Content-Length with a body on GET',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'Content-Length with a DELETE as the body on HEAD',
    bytes: (id) => `HEAD ${CM(id)} HTTP/1.1\r\n${H}Content-Length: ${smuggledDelete.length}\r\n\r\n${smuggledDelete}`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'Expect: 100-continue with a GET body',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'two different Content-Length headers',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'bare LF line endings hiding a request',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\n${H.replace('\r\n', '\n')}Transfer-Encoding: chunked\n\n${chunk(smuggled)}0\n\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'pipelined: three GETs on one connection are answered in order, each its own',
    bytes: (id) => `GET ${CM(`${id}-a`)} HTTP/1.1\r\n${H}\r\nGET ${CM(`${id}-b`)} HTTP/1.1\r\n${H}\r\nGET ${CM(`${id}-c`)} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    answers: [200, 200, 200],
    upstream: (id) => [CM(`${id}-a`), CM(`${id}-b`), CM(`${id}-c`)],
  },
  {
    name: 'pipelined: a GET, then /secrets (refused), then a GET',
    bytes: (id) => `GET ${CM(`${id}-a`)} HTTP/1.1\r\n${H}\r\n${smuggled}GET ${CM(`${id}-c`)} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    answers: [200, 403, 200],
    upstream: (id) => [CM(`${id}-a`), CM(`${id}-c`)],
  },
  {
    name: 'pipelined behind a refused chunked GET: nothing after it is forwarded',
    bytes: (id) => `GET ${CM(`${id}-a`)} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET ${CM(`${id}-b`)} HTTP/1.1\r\n${H}\r\n`,
    answers: [400],
    upstream: () => [],
  },
  {
    name: 'GET with Content-Length: 0 is an ordinary GET',
    bytes: (id) => `GET ${CM(id)} HTTP/1.1\r\n${H}Content-Length: 0\r\nConnection: close\r\n\r\n`,
    answers: [200],
    upstream: (id) => [CM(id)],
  },
];

async function runAttack(t: Target, a: Attack, n: number): Promise<void> {
  const id = `cm-${n}-${Math.random().toString(36).slice(2, 8)}`;
  const before = t.up.wire.length;
  const got = await raw(t.port, a.bytes(id));
  assert.deepEqual(statuses(got), a.answers, `answers on the attacker's connection: ${JSON.stringify(got.slice(0, 400))}`);
  assert.ok(!got.includes(SECRET_MARKER), 'no secret reached the attacker');
  for (const m of got.matchAll(/"name":"([^"]+)"/g)) assert.ok(m[1]!.startsWith(id), `the attacker only sees its own objects (${m[1]})`);
  // a bystander's request goes through after the attack: any request smuggled by it was parsed before this one
  await bystander(t.port, `${id}-bystander`);
  const parsed = t.up.wire.slice(before);
  assert.ok(!parsed.some((w) => w.url.includes('/secrets')), `the upstream parsed a /secrets request: ${JSON.stringify(parsed)}`);
  assert.ok(!parsed.some((w) => w.method !== 'GET' && w.method !== 'HEAD'), `the upstream parsed a write: ${JSON.stringify(parsed)}`);
  // pipelined requests may be forwarded concurrently (over separate upstream connections), so their order at the
  // upstream is not fixed; what is fixed: exactly these requests, nothing more, and the bystander's after them
  // (the client still gets the answers in order — checked above)
  assert.deepEqual(
    [...parsed.slice(0, -1).map((w) => w.url).sort(), parsed.at(-1)?.url],
    [...[...a.upstream(id)].sort(), CM(`${id}-bystander`)],
    'the upstream parsed exactly the legitimate requests',
  );
  assert.ok(parsed.every((w) => w.token === TOKEN), 'every parsed request carried the pod token, none a forged one');
  assert.equal(t.up.parseErrors, 0, 'the upstream never received bytes it could not parse');
}

function attackSuite(name: string, setup: () => Promise<{ target: Target; stop: () => Promise<void> }>): void {
  describe(name, () => {
    let target: Target;
    let stop: () => Promise<void>;
    before(async () => {
      ({ target, stop } = await setup());
    });
    after(() => stop());
    ATTACKS.forEach((a, n) => {
      test(a.name, { timeout: 20_000 }, () => runAttack(target, a, n));
    });
    test('the attacks left the proxy healthy: a watch still streams', { timeout: 20_000 }, async () => {
      target.up.putPod({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-0', namespace: 'default' } });
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: target.port, path: '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dweb-0', agent: false }, resolve).on('error', reject);
      });
      assert.equal(res.statusCode, 200);
      const [first] = (await once(res, 'data')) as [Buffer];
      assert.match(first.toString(), /"type":"ADDED"/);
      res.destroy();
    });
  });
}

attackSuite('in process: createProxyServer + the real Transport', async () => {
  const pki = await testPki();
  const up = await FakeApiServer.start({ pki, tokens: [TOKEN], handler });
  const sa = await SaDir.create({ token: TOKEN, caPem: pki.caPem });
  const log = createLogger({ level: 'error', write: () => {} });
  const transport = new Transport({ baseUrl: up.url, ca: pki.caPem, tokens: new TokenSource(join(sa.dir, 'token'), TOKEN, log), saDir: sa.dir, log });
  const server: ProxyServer = createProxyServer({ config: { listen: { host: '127.0.0.1', port: 0 } }, transport, log, metrics: new Metrics({ defaultMetrics: false }) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    target: { port: (server.address() as net.AddressInfo).port, up },
    stop: async () => {
      await server.drain(100);
      transport.destroy();
      await up.close();
      await sa.remove();
    },
  };
});

attackSuite('against the built agent (node dist/main.js)', async () => {
  const pki = await testPki();
  const up = await FakeApiServer.start({ pki, tokens: [TOKEN], handler });
  const sa = await SaDir.create({ token: TOKEN, caPem: pki.caPem });
  let kill = (): void => {};
  const p: BuiltProcess = await spawnBuilt(
      proxyAgentEnv(up, sa.dir),
    (k) => (kill = k),
  );
  return {
    target: { port: Number(p.addresses.proxy!.split(':').pop()), up },
    stop: async () => {
      p.child.kill('SIGTERM');
      const { code } = await p.exited;
      kill();
      assert.equal(code, 0, p.stderr);
      assert.ok(!p.stdout.includes(TOKEN) && !p.stderr.includes(TOKEN), 'the token never appears in the output');
      await up.close();
      await sa.remove();
    },
  };
});
