// Pure pieces of the API source: line decoding, URLs, Retry-After, Status, backoff, Pod/Node mapping, hints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineDecoder } from '../src/apiserver/lines.js';
import { apiBaseUrl, ApiRequestError, classifyError, parseRetryAfter, parseStatus, statusError } from '../src/apiserver/transport.js';
import { Backoff, resolveTiming } from '../src/apiserver/timing.js';
import { deriveWorkload, podToPart } from '../src/apiserver/pod.js';
import { filterLabels, nodeToPart } from '../src/apiserver/node.js';
import { keyMatcher } from '../src/keys.js';
import { describeFailure, forbiddenHint } from '../src/apiserver/hints.js';
import { serviceAccountFromJwt, TokenSource, readServiceAccount } from '../src/apiserver/credentials.js';
import { createLogger, silentLogger } from '../src/log.js';
import { samplePod, sampleNode, statusBody } from './support/fake-apiserver.js';
import { fakeJwt } from './support/sa-dir.js';

test('LineDecoder: a watch line split at every byte offset decodes right (mid-line, mid-UTF-8)', () => {
  const events = [
    { type: 'MODIFIED', object: { metadata: { name: 'p', resourceVersion: '7', labels: { café: 'naïve', 日本: '語', emoji: '🚀👩‍💻', nbsp: 'a\u00a0b' } } } },
    { type: 'BOOKMARK', object: { metadata: { resourceVersion: '8' } } },
  ];
  const bytes = Buffer.from(events.map((e) => JSON.stringify(e) + '\n').join(''), 'utf8');
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 3)]) {
      const d = new LineDecoder();
      const lines = [...d.push(bytes.subarray(0, i)), ...d.push(bytes.subarray(i, j)), ...d.push(bytes.subarray(j))];
      assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), events, `split at ${i}/${j}`);
      assert.equal(d.rest(), undefined);
    }
  }
  // one byte at a time
  const d = new LineDecoder();
  const lines: string[] = [];
  for (const b of bytes) lines.push(...d.push(Uint8Array.of(b)));
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), events);
});

test('LineDecoder: keeps a torn tail for rest(), skips blank lines, enforces the line limit', () => {
  const d = new LineDecoder(16);
  assert.deepEqual(d.push(Buffer.from('\n\r\n{"a":1}\n{"b"')), ['{"a":1}']);
  assert.equal(d.rest(), '{"b"');
  assert.throws(() => d.push(Buffer.from('x'.repeat(17))), /longer than 16 bytes/);
});

test('apiBaseUrl brackets IPv6 hosts and keeps the port', () => {
  assert.equal(apiBaseUrl('10.96.0.1', '443').href, 'https://10.96.0.1/');
  assert.equal(apiBaseUrl('10.96.0.1', '6443').origin, 'https://10.96.0.1:6443');
  assert.equal(apiBaseUrl('fd00:10:96::1', '443').hostname, '[fd00:10:96::1]');
  assert.equal(apiBaseUrl('fd00:10:96::1', '6443').origin, 'https://[fd00:10:96::1]:6443');
  assert.equal(apiBaseUrl('[::1]', '6443').origin, 'https://[::1]:6443');
  assert.equal(apiBaseUrl('kubernetes.default.svc', '443').host, 'kubernetes.default.svc');
});

test('Retry-After: seconds or HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(' 0 '), 0);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
});

test('Status bodies become typed errors', () => {
  const body = statusBody(403, 'Forbidden', 'pods is forbidden: User "system:serviceaccount:ns1:sa1" cannot list resource "pods"', { kind: 'pods' });
  const st = parseStatus(body);
  assert.equal(st?.reason, 'Forbidden');
  assert.equal(parseStatus('<html>'), undefined);
  const e = statusError(429, parseStatus(statusBody(429, 'TooManyRequests', 'slow down', { retryAfterSeconds: 2 })), {});
  assert.equal(e.kind, 'http');
  assert.equal(e.info.httpCode, 429);
  assert.equal(e.info.retryAfterMs, 2000);
  const h = statusError(503, undefined, { 'retry-after': '7' }, 'upstream connect error');
  assert.equal(h.info.retryAfterMs, 7000);
  assert.equal(h.message, 'upstream connect error');
  assert.equal(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).kind, 'network');
  assert.equal(classifyError(Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })).kind, 'tls');
  assert.equal(classifyError(Object.assign(new Error('x'), { name: 'AbortError', code: 'ABORT_ERR' })).kind, 'aborted');
});

test('Backoff: 0.8 s doubling to the cap with full jitter, reset after healthy for backoffResetMs', () => {
  let now = 0;
  let rnd = 1;
  const t = resolveTiming({ now: () => now, random: () => rnd });
  const b = new Backoff(t);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.next()), [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
  assert.equal(b.next(true), 51200);
  b.healthy();
  now += 119_000;
  assert.equal(b.next(), 30000, 'not yet reset');
  b.healthy();
  now += 120_000;
  assert.equal(b.next(), 800, 'reset after 2 min healthy');
  rnd = 0.25;
  assert.equal(b.next(), 400, 'full jitter: random × ceiling');
  // persistent failures grow to 5 min
  const p = new Backoff(resolveTiming({ random: () => 1 }));
  let last = 0;
  for (let i = 0; i < 20; i++) last = p.next(true);
  assert.equal(last, 300_000);
});

test('podToPart maps a Deployment pod', () => {
  const part = podToPart(samplePod() as never, { includeMeta: true });
  assert.deepEqual(part, {
    pod: {
      name: 'web-5d9c7b8f4-x7k2p',
      namespace: 'default',
      uid: '1d591f87-4c1d-4a4e-9c2f-2b7d0a4e8f31',
      ip: '10.244.1.38',
      ips: ['10.244.1.38', 'fd00:10:244:1::26'],
      serviceAccount: 'podmeta',
      labels: { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'app.kubernetes.io/name': 'web' },
      annotations: { 'kubernetes.io/config.seen': '2026-11-22T10:15:00.000000000Z', 'kubernetes.io/config.source': 'api' },
      phase: 'Running',
      qosClass: 'Burstable',
      startTime: '2026-11-22T10:15:00Z',
      owner: { kind: 'ReplicaSet', name: 'web-5d9c7b8f4' },
      workload: { kind: 'Deployment', name: 'web' },
      containers: [
        {
          name: 'main',
          image: 'registry.k8s.io/nginx:1.27',
          imageID: 'registry.k8s.io/nginx@sha256:6e2bd2a3a1ad4c0e8a5c2f0e4f8e4b1f7b5d4f5d9e3a7c1b2d3e4f5a6b7c8d9e',
          ready: true,
          restartCount: 0,
          resources: { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '100m', memory: '4Mi' } },
        },
        {
          name: 'podmeta',
          image: 'ghcr.io/example/podmeta:0.1.0',
          imageID: 'ghcr.io/example/podmeta@sha256:1111111111111111111111111111111111111111111111111111111111111111',
          ready: true,
          restartCount: 1,
          resources: { requests: { cpu: '5m', memory: '16Mi' } },
        },
      ],
    },
    node: { name: 'k8s-node1', hostIP: '10.10.10.149', hostIPs: ['10.10.10.149', 'fd00::149'] },
  });
  const stripped = podToPart(samplePod() as never, { includeMeta: false, deleted: true });
  assert.equal(stripped.pod?.labels, undefined);
  assert.equal(stripped.pod?.annotations, undefined);
  assert.equal(stripped.pod?.deleted, true);
});

test('podToPart: absent stays absent; no labels means an empty map while included', () => {
  const part = podToPart({ metadata: { name: 'bare', namespace: 'x' }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Pending' } }, { includeMeta: true });
  assert.deepEqual(part, { pod: { name: 'bare', namespace: 'x', labels: {}, annotations: {}, phase: 'Pending', containers: [{ name: 'c' }] } });
  for (const v of Object.values(part.pod!)) assert.notEqual(v, null);
});

test('deriveWorkload: ReplicaSet→Deployment by pod-template-hash, CronJob by the schedule-minute suffix', () => {
  assert.deepEqual(deriveWorkload({ kind: 'ReplicaSet', name: 'web-5d9c7b8f4' }, { 'pod-template-hash': '5d9c7b8f4' }), { kind: 'Deployment', name: 'web' });
  assert.deepEqual(deriveWorkload({ kind: 'ReplicaSet', name: 'my-app-v2-7f9c' }, { 'pod-template-hash': '7f9c' }), { kind: 'Deployment', name: 'my-app-v2' });
  assert.deepEqual(deriveWorkload({ kind: 'ReplicaSet', name: 'bare-rs' }, {}), { kind: 'ReplicaSet', name: 'bare-rs' });
  assert.deepEqual(deriveWorkload({ kind: 'ReplicaSet', name: 'web-abc' }, { 'pod-template-hash': 'zzz' }), { kind: 'ReplicaSet', name: 'web-abc' });
  assert.deepEqual(deriveWorkload({ kind: 'StatefulSet', name: 'db' }, {}), { kind: 'StatefulSet', name: 'db' });
  assert.deepEqual(deriveWorkload({ kind: 'DaemonSet', name: 'agent' }, {}), { kind: 'DaemonSet', name: 'agent' });
  const minute = Math.floor(Date.parse('2026-11-22T10:15:00Z') / 60_000);
  assert.deepEqual(deriveWorkload({ kind: 'Job', name: `hello-${minute}` }, {}, '2026-11-22T10:15:02Z'), { kind: 'CronJob', name: 'hello' });
  assert.deepEqual(deriveWorkload({ kind: 'Job', name: 'migrate-2' }, {}, '2026-11-22T10:15:02Z'), { kind: 'Job', name: 'migrate-2' });
  assert.deepEqual(deriveWorkload({ kind: 'Job', name: `hello-${minute}` }, {}, undefined), { kind: 'Job', name: `hello-${minute}` });
  assert.equal(deriveWorkload(undefined, {}), undefined);
});

test('node labels: exact keys, prefixes ending in / or *', () => {
  const labels = sampleNode().metadata.labels!;
  assert.deepEqual(filterLabels(labels, ['topology.kubernetes.io/zone', 'node.kubernetes.io/', 'example.com*', 'absent.io/x']), {
    'example.com/rack': 'r12',
    'node.kubernetes.io/instance-type': 'm5.large',
    'topology.kubernetes.io/zone': 'eu-west-1a',
  });
  assert.equal(keyMatcher(['*'])('anything'), true);
  assert.equal(keyMatcher(['kubernetes.io/arch'])('beta.kubernetes.io/arch'), false);
  assert.deepEqual(nodeToPart({ metadata: { name: 'n' } }, ['a']), { node: { labels: {} } });
});

test('403 hint names the exact rule, the failed verb and the ServiceAccount', () => {
  const err = statusError(
    403,
    parseStatus(statusBody(403, 'Forbidden', 'pods is forbidden: User "system:serviceaccount:shop:checkout" cannot watch resource "pods" in API group "" in the namespace "shop"')),
  );
  const ctx = { resource: 'pod' as const, verb: 'watch' as const, namespace: 'shop', name: 'p', saDir: '/sa', baseUrl: 'https://10.96.0.1' };
  const h = forbiddenHint(ctx, err);
  assert.match(h.hint, /^Role in namespace "shop" needs: apiGroups \[""\], resources \["pods"\], verbs \["get","list","watch"\]; bind it to ServiceAccount shop\/checkout /);
  assert.match(h.hint, /the "watch" request was refused/);
  assert.match(h.message, /"watch" on pods/);
  const n = forbiddenHint({ ...ctx, resource: 'node', verb: 'get', serviceAccount: 'shop/checkout' }, statusError(403, undefined));
  assert.match(n.hint, /^ClusterRole needs: apiGroups \[""\], resources \["nodes"\], verbs \["get"\]/);
  assert.match(n.hint, /ServiceAccount shop\/checkout/);
  const tls = describeFailure(ctx, new ApiRequestError('tls', 'unable to verify', { reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), '/sa/token');
  assert.equal(tls.reason, 'TLSVerifyFailed');
  assert.match(tls.message, /ca\.crt/);
  const down = describeFailure(ctx, new ApiRequestError('network', 'connect ECONNREFUSED', { reason: 'ECONNREFUSED' }), '/sa/token');
  assert.equal(down.reason, 'Unreachable');
  assert.match(down.hint, /KUBERNETES_SERVICE_HOST/);
});

test('credentials: JWT subject, missing files listed, last good token kept when a re-read fails', async (t) => {
  assert.equal(serviceAccountFromJwt(fakeJwt('ns1', 'sa1')), 'ns1/sa1');
  assert.equal(serviceAccountFromJwt('opaque-token'), undefined);
  const dir = await mkdtemp(join(tmpdir(), 'podmeta-cred-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const none = await readServiceAccount(dir);
  assert.equal(none.token, undefined);
  assert.equal(none.problems.length, 2);
  await writeFile(join(dir, 'token'), 'tok-1\n');
  await writeFile(join(dir, 'ca.crt'), 'not a cert');
  const some = await readServiceAccount(dir);
  assert.equal(some.token, 'tok-1');
  assert.match(some.problems.join(), /no PEM certificate/);
  const logs: string[] = [];
  const ts = new TokenSource(join(dir, 'token'), 'tok-1', createLogger({ write: (l) => logs.push(l) }));
  await writeFile(join(dir, 'token'), 'tok-2');
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-2');
  await rm(join(dir, 'token'));
  await ts.reload();
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-2', 'kept the last good token');
  assert.equal(logs.filter((l) => l.includes('cannot re-read')).length, 1, 'logged once, not per attempt');
  assert.ok(!logs.join().includes('tok-2'));
  const quiet = new TokenSource(join(dir, 'nope'), undefined, silentLogger);
  await quiet.reload();
  assert.equal(quiet.authorization(), undefined);
});
