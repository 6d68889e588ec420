// The metadata listener's rules over real sockets: the Host rule (DNS rebinding), forwarded headers (even
// empty), the Metadata header's wrong value, the same rules on the raw paths and on koa's; metrics count
// the status actually sent; the non-loopback warning.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startAgent } from './support/agent.js';
import { rawRequest } from './support/raw-http.js';
import { hostMatcher, forwardedRefusal } from '../src/http/guard.js';
import { warnExposure } from '../src/http/server.js';
import { createLogger } from '../src/log.js';

const get = (path: string, headers: string) => `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;

test('Host rule: loopback names and addresses pass, any other Host is 403 naming PODMETA_ALLOWED_HOSTS — raw paths and koa alike', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t);
  const port = Number(new URL(a.base).port);
  for (const host of ['localhost', `localhost:${port}`, 'LOCALHOST', '127.0.0.1', `127.0.0.1:${port}`, '127.1.2.3', '127.255.255.254:9977', '[::1]', `[::1]:${port}`]) {
    for (const path of ['/metadata', '/metadata/pod/name', '/status']) {
      const r = await rawRequest(port, get(path, `Host: ${host}\r\nMetadata: true\r\n`));
      assert.equal(r.status, 200, `${host} ${path}`);
    }
  }
  for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', '10.0.0.1', '[::1]evil', '[::2]', '128.0.0.1', '']) {
    for (const path of ['/metadata', '/metadata/pod/labels?format=text', '/events', '/status', '/nope']) {
      const r = await rawRequest(port, get(path, `Host: ${host}\r\nMetadata: true\r\n`));
      assert.equal(r.status, 403, `${host} ${path}`);
      const body = JSON.parse(r.body);
      assert.equal(body.reason, 'Forbidden');
      assert.match(body.message, /PODMETA_ALLOWED_HOSTS/);
    }
  }
  const noHost = await rawRequest(port, 'GET /metadata HTTP/1.0\r\nMetadata: true\r\n\r\n');
  assert.equal(noHost.status, 403, 'HTTP/1.0 without Host');
  const probe = await rawRequest(Number(new URL(a.probe).port), get('/livez', 'Host: evil.example\r\n'));
  assert.equal(probe.status, 200, 'probes need no Host check');
});

test('PODMETA_ALLOWED_HOSTS: extra names, with or without a port', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t, { config: { PODMETA_ALLOWED_HOSTS: 'podmeta.local, 10.0.0.5:9977' } });
  const port = Number(new URL(a.base).port);
  const status = async (host: string) => (await rawRequest(port, get('/metadata/pod/name', `Host: ${host}\r\nMetadata: true\r\n`))).status;
  assert.equal(await status('podmeta.local'), 200);
  assert.equal(await status('PODMETA.local:1234'), 200);
  assert.equal(await status('10.0.0.5:9977'), 200);
  assert.equal(await status('10.0.0.5:9978'), 403);
  assert.equal(await status('10.0.0.5'), 403);
  assert.equal(await status('localhost'), 200, 'loopback names still pass');
  assert.equal(await status('other.local'), 403);
});

test('hostMatcher unit: the rule and its cache agree', { timeout: 30_000 }, () => {
  const ok = hostMatcher(['a.example']);
  for (let i = 0; i < 2; i++) {
    assert.equal(ok('127.0.0.1'), true);
    assert.equal(ok('a.example:80'), true);
    assert.equal(ok('b.example'), false);
    assert.equal(ok(undefined), false);
  }
});

test('X-Forwarded-For / Forwarded: present is refused, even empty; the rule is one exported function', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t);
  const port = Number(new URL(a.base).port);
  for (const header of ['X-Forwarded-For: 1.2.3.4', 'X-Forwarded-For:', 'X-Forwarded-For: ', 'Forwarded: for=1.2.3.4', 'Forwarded:', 'x-forwarded-for:\t']) {
    for (const path of ['/metadata', '/events', '/status']) {
      const r = await rawRequest(port, get(path, `Host: 127.0.0.1\r\nMetadata: true\r\n${header}\r\n`));
      assert.equal(r.status, 403, `${header} on ${path}`);
      assert.match(JSON.parse(r.body).message, /remove the (X-Forwarded-For|Forwarded) header/);
    }
  }
  assert.match(forwardedRefusal({ 'x-forwarded-for': '' }) ?? '', /X-Forwarded-For/);
  assert.equal(forwardedRefusal({ host: 'x' }), undefined);
});

test('Metadata header with a wrong value is told the value is wrong and what it must be', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t);
  for (const value of ['yes', '1', 'false', '']) {
    const r = await fetch(a.base + '/metadata', { headers: { Metadata: value } });
    assert.equal(r.status, 403, value);
    const { message } = (await r.json()) as { message: string };
    assert.ok(!/missing/.test(message), `${value}: ${message}`);
    assert.ok(message.includes(JSON.stringify(value)) && message.includes('"Metadata: true"'), `${value}: ${message}`);
  }
  const missing = (await (await fetch(a.base + '/metadata')).json()) as { message: string };
  assert.match(missing.message, /^missing header "Metadata: true"/);
  assert.equal((await a.get('/metadata', { headers: { Metadata: ' TRUE ' } })).status, 200, 'case and spaces are tolerated');
});

test('metrics count the status actually sent (400, 403, 404, 405, 429/503 are not counted as 404)', { timeout: 30_000 }, async (t) => {
  const a = await startAgent(t);
  const drain = async (r: Promise<Response>) => (await r).arrayBuffer();
  await drain(a.get('/metadata?format=xml')); // 400
  await drain(a.get('/metadata?wait=maybe')); // 400 longpoll
  await drain(a.get('/metadata/pod/nope')); // 404
  await drain(fetch(a.base + '/metadata/pod/name')); // 403
  await drain(a.get('/metadata', { method: 'POST', body: 'x' })); // 405
  await drain(a.get('/events?path=%ff')); // 400
  await drain(a.get('/status', { method: 'DELETE' })); // 405 (koa)
  await drain(fetch(a.base + '/status')); // 403 (koa)
  await drain(a.get('/nope')); // 404 (koa)
  const text = await (await fetch(a.probe + '/metrics')).text();
  const count = (route: string, code: number) => Number(new RegExp(`^podmeta_http_requests_total\\{server="metadata",route="${route}",code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  assert.equal(count('metadata', 400), 1, text);
  assert.equal(count('longpoll', 400), 1);
  assert.equal(count('metadata_path', 404), 1);
  assert.equal(count('metadata_path', 403), 1);
  assert.equal(count('metadata', 405), 1);
  assert.equal(count('events', 400), 1);
  assert.equal(count('status', 405), 1);
  assert.equal(count('status', 403), 1);
  assert.equal(count('other', 404), 1);
  assert.equal(count('metadata', 404), 0);
});

test('a metadata listener on a non-loopback address warns at start; loopback does not; the descriptor budget is checked', { timeout: 30_000 }, () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const caps = { maxConnections: 1280, probeMaxConnections: 128 };
  warnExposure(log, { listen: { host: '127.0.0.1', port: 9977 }, ...caps }, 1 << 20);
  warnExposure(log, { listen: { host: '::1', port: 9977 }, ...caps }, 1 << 20);
  assert.equal(lines.length, 0);
  warnExposure(log, { listen: { host: '0.0.0.0', port: 9977 }, ...caps }, 1 << 20);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.level, 'warn');
  assert.match(String(lines[0]!.msg), /non-loopback/);
  warnExposure(log, { listen: { host: '127.0.0.1', port: 9977 }, ...caps }, 1024);
  assert.equal(lines.length, 2);
  assert.match(String(lines[1]!.msg), /open-file limit/);
  assert.equal(lines[1]!.needed, 1280 + 128 + 256);
});
