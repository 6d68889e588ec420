// Access and failure handling of the API source: token rotation, TLS verification, RBAC 403 with the
// exact rule, not-found, unreachable, config modes, node labels (watch and GET fallback), no token in any
// output, prompt stop without leftover handles.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ApiConfigError, createApiSource } from '../src/apiserver/index.js';
import type { SourceStatus } from '../src/document.js';
import { silentLogger } from '../src/log.js';
import { harness, NS, POD } from './support/api-harness.js';
import { FakeApiServer, waitFor } from './support/fake-apiserver.js';
import { testPki } from './support/certs.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';

const ZONE_ETC = {
  'kubernetes.io/arch': 'amd64',
  'kubernetes.io/os': 'linux',
  'node.kubernetes.io/instance-type': 'm5.large',
  'topology.kubernetes.io/region': 'eu-west-1',
  'topology.kubernetes.io/zone': 'eu-west-1a',
};

test('token rotation: kubelet swaps the token, the server accepts only the new one → 401 → re-read → recovered', async (t) => {
  const h = await harness(t, { source: { nodeLabels: [] } }); // the pod watch alone: its 401 triggers the re-read
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => h.server.requestsOf('pods', 'watch').length === 1, 'watch');
  const next = fakeJwt(NS, 'podmeta', 'rotated');
  await h.sa.rotateToken(next);
  h.server.setTokens([next]);
  h.server.dropWatches();
  await h.server.waitFor(() => h.server.requestsOf('pods', 'watch').some((r) => r.auth === 'valid' && r !== h.server.requestsOf('pods', 'watch')[0]), 'watch with the new token');
  const watches = h.server.requestsOf('pods', 'watch');
  assert.deepEqual(watches.map((w) => `${w.auth} ${w.status}`), ['valid 200', 'invalid 401', 'valid 200']);
  assert.equal(watches[2]!.query.resourceVersion, watches[0]!.query.resourceVersion, 'resumed, not restarted');
  assert.equal(h.server.requestsOf('pods', 'list').length, 1);
  assert.equal(h.source.transport?.authorization(), `Bearer ${next}`);
  assert.ok(!h.statuses.some((s) => s.status.state === 'error'), 'a 401 fixed by the re-read is not an error');
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.rotated = 'yes';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.rotated === 'yes');
});

test('401 that persists after a re-read → status error with a hint, backoff', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p !== undefined);
  h.server.setTokens(['someone-else']);
  h.server.dropWatches();
  const st = await h.waitStatus('api', (s) => s.error?.reason === 'Unauthorized');
  assert.equal(st.state, 'error');
  assert.match(st.error!.message, /even after re-reading .*token/);
  assert.match(st.error!.hint, /ServiceAccount|token/);
});

test('a ca.crt that does not match: status error, and the token is never sent', async (t) => {
  const pki = await testPki();
  const h = await harness(t, { caPem: pki.otherCaPem });
  const st = await h.waitStatus('api', (s) => s.error?.reason === 'TLSVerifyFailed');
  assert.equal(st.state, 'error');
  assert.match(st.error!.message, /does not verify against .*ca\.crt/);
  assert.match(st.error!.message, /token was not sent/);
  await waitFor(() => h.logs.filter((l) => l.includes('TLSVerifyFailed')).length >= 1, 'logged');
  await new Promise((r) => setTimeout(r, 300)); // let it retry a few times
  assert.equal(h.server.sawToken(h.token), false);
  assert.equal(h.server.requests.length, 0, 'no request reached the server');
  assert.equal(h.logs.filter((l) => l.includes('TLSVerifyFailed')).length, 1, 'logged once, not per retry');
  // the node name would come from the pod, which cannot be read: the node source keeps waiting
  assert.equal(h.lastStatus('node')?.error?.reason, 'Starting');
});

test('403 on pods: status error with the exact Role rule; retries back off and never hammer; recovers when granted', async (t) => {
  const h = await harness(t, {
    server: { user: 'system:serviceaccount:default:podmeta' },
    timing: { random: () => 1, backoffInitialMs: 20, backoffPersistentMaxMs: 160 },
  });
  h.server.forbid('pods', 'list');
  await h.server.waitFor(() => h.server.requestsOf('pods', 'list').length >= 5, '5 attempts', 8000);
  const st = h.lastStatus('api')!;
  assert.equal(st.state, 'error');
  assert.equal(st.error?.reason, 'Forbidden');
  assert.ok(
    st.error!.hint.startsWith(
      'Role in namespace "default" needs: apiGroups [""], resources ["pods"], verbs ["get","list","watch"]; bind it to ServiceAccount default/podmeta',
    ),
    st.error!.hint,
  );
  assert.match(st.error!.hint, /the "list" request was refused/);
  // gaps grow 20, 40, 80, 160 ms (random() = 1): each retry waits at least its backoff
  const times = h.server.requestsOf('pods', 'list').map((r) => r.time);
  const expected = [20, 40, 80, 160];
  for (let i = 0; i < expected.length; i++) {
    assert.ok(times[i + 1]! - times[i]! >= expected[i]! - 5, `gap ${i}: ${times[i + 1]! - times[i]!} ms ≥ ${expected[i]} ms`);
  }
  assert.equal(h.logs.filter((l) => l.includes('"reason":"Forbidden"')).length, 1, 'logged once');
  h.server.allow('pods', 'list');
  await h.waitStatus('api', (s) => s.state === 'ok');
  await h.waitPart('api', (p) => p?.pod?.name === POD);
});

test('403 on watch (list allowed): the hint names the watch verb; only the watch is retried', async (t) => {
  const h = await harness(t);
  h.server.forbid('pods', 'watch');
  const st = await h.waitStatus('api', (s) => s.error?.reason === 'Forbidden');
  assert.match(st.error!.hint, /the "watch" request was refused/);
  await h.server.waitFor(() => h.server.requestsOf('pods', 'watch').length >= 3, 'watch retries');
  assert.equal(h.server.requestsOf('pods', 'list').length, 1, 'the list is not repeated');
  assert.ok(h.lastPart('api')?.pod?.name === POD, 'the listed pod is served meanwhile');
});

test('pod not found (wrong name): error with the POD_NAME hint; picked up when it appears', async (t) => {
  const h = await harness(t, { source: { podName: 'nope-123' } });
  const st = await h.waitStatus('api', (s) => s.error?.reason === 'NotFound');
  assert.equal(st.state, 'error');
  assert.match(st.error!.message, /pod "nope-123" not found in namespace "default"/);
  assert.match(st.error!.hint, /POD_NAME/);
  assert.match(st.error!.hint, /fieldPath: metadata\.name/);
  await h.server.waitFor(() => h.server.requestsOf('pods', 'watch').length === 1, 'still watching');
  h.server.putPod({ ...(await import('./support/fake-apiserver.js')).samplePod({ name: 'nope-123' }) });
  await h.waitPart('api', (p) => p?.pod?.name === 'nope-123');
  await h.waitStatus('api', (s) => s.state === 'ok');
});

test('pod not found but NODE_NAME known: the Node is still read (the node decision does not wait forever for the pod)', async (t) => {
  const h = await harness(t, { source: { podName: 'nope-123', nodeName: 'k8s-node1' } });
  await h.waitStatus('api', (s) => s.error?.reason === 'NotFound');
  const part = await h.waitPart('node', (p) => p !== undefined);
  assert.equal(part?.node?.labels?.['kubernetes.io/arch'], 'amd64');
});

test('node not found in the list (wrong NODE_NAME) → error with the NODE_NAME hint', async (t) => {
  const h = await harness(t, { source: { nodeName: 'ghost' } });
  const st = await h.waitStatus('node', (s) => s.error?.reason === 'NotFound');
  assert.match(st.error!.message, /node "ghost" not found/);
  assert.match(st.error!.hint, /NODE_NAME/);
});

test('unreachable API server: status error, no part, stop() still prompt', async (t) => {
  const free = createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = String((free.address() as { port: number }).port);
  await new Promise<void>((r) => free.close(() => r()));
  const h = await harness(t, { source: { servicePort: port } });
  const st = await h.waitStatus('api', (s) => s.error?.reason === 'Unreachable');
  assert.equal(st.state, 'error');
  assert.match(st.error!.message, /ECONNREFUSED/);
  assert.match(st.error!.hint, /KUBERNETES_SERVICE_HOST/);
  assert.equal(h.parts.length, 0);
});

test('modes: on without credentials rejects; auto without credentials and off are disabled; unknown pod name', async (t) => {
  const statuses: [string, SourceStatus][] = [];
  const base = {
    saDir: '/nonexistent/podmeta-sa',
    nodeLabels: ['kubernetes.io/arch'],
    log: silentLogger,
    onPart: () => assert.fail('no part expected'),
    onStatus: (s: string, st: SourceStatus) => statuses.push([s, st]),
  };
  const on = createApiSource({ ...base, mode: 'on', serviceHost: '10.96.0.1', servicePort: '443' });
  await assert.rejects(on.start(), (e: unknown) => e instanceof ApiConfigError && /token does not exist/.test(e.message) && /ca\.crt/.test(e.message));
  await on.stop();
  const onNoHost = createApiSource({ ...base, mode: 'on' });
  await assert.rejects(onNoHost.start(), (e: unknown) => e instanceof ApiConfigError && /KUBERNETES_SERVICE_HOST is not set/.test(e.message));
  const auto = createApiSource({ ...base, mode: 'auto', serviceHost: '10.96.0.1', servicePort: '443' });
  await auto.start();
  assert.equal(auto.transport, undefined);
  await auto.stop();
  assert.deepEqual(statuses.map(([s, st]) => `${s} ${st.state}`), ['api disabled', 'node disabled']);
  statuses.length = 0;
  const off = createApiSource({ ...base, mode: 'off' });
  await off.start();
  await off.stop();
  assert.deepEqual(statuses.map(([s, st]) => `${s} ${st.state}`), ['api disabled', 'node disabled']);

  const h = await harness(t, { source: { podName: undefined } });
  assert.equal(h.lastStatus('api')?.error?.reason, 'PodUnknown');
  assert.match(h.lastStatus('api')!.error!.hint, /POD_NAME/);
  assert.equal(h.lastStatus('node')?.error?.reason, 'NodeUnknown');
  assert.match(h.lastStatus('node')!.error!.hint, /NODE_NAME/);
  assert.equal(h.server.requests.length, 0);
});

test('node labels: nodeName taken from the pod; exact keys and prefixes; MODIFIED updates; one list + one watch', async (t) => {
  const h = await harness(t, { source: { nodeLabels: ['topology.kubernetes.io/zone', 'node.kubernetes.io/', 'example.com*'] } });
  const part = await h.waitPart('node', (p) => p !== undefined);
  assert.deepEqual(part, {
    node: { labels: { 'example.com/rack': 'r12', 'node.kubernetes.io/instance-type': 'm5.large', 'topology.kubernetes.io/zone': 'eu-west-1a' } },
  });
  await h.server.waitFor(() => h.server.requestsOf('nodes', 'watch').length === 1, 'node watch');
  const [list] = h.server.requestsOf('nodes', 'list');
  assert.equal(list!.path, '/api/v1/nodes');
  assert.deepEqual(list!.query, { fieldSelector: 'metadata.name=k8s-node1', resourceVersion: '0' });
  h.server.modifyNode('k8s-node1', (n) => {
    n.metadata.labels!['example.com/rack'] = 'r13';
    n.metadata.labels!['unrelated'] = 'x';
  });
  const updated = await h.waitPart('node', (p) => p?.node?.labels?.['example.com/rack'] === 'r13');
  assert.equal(updated?.node?.labels?.['unrelated'], undefined);
  assert.equal((await h.waitStatus('node', (s) => s.state === 'ok')).detail?.['mode'], 'watch');
  assert.equal(h.server.requestsOf('nodes').length, 2);
});

test('node: list/watch forbidden but get allowed → one GET per interval; status ok (mode get)', async (t) => {
  const h = await harness(t, { source: { nodeName: 'k8s-node1' }, timing: { nodeGetIntervalMs: 150 } });
  h.server.forbid('nodes', 'list');
  h.server.forbid('nodes', 'watch');
  const part = await h.waitPart('node', (p) => p !== undefined);
  assert.deepEqual(part?.node?.labels, ZONE_ETC);
  const st = await h.waitStatus('node', (s) => s.state === 'ok');
  assert.deepEqual(st.detail, { mode: 'get', intervalSeconds: 0 });
  await h.server.waitFor(() => h.server.requestsOf('nodes', 'get').length >= 3, 'periodic GETs');
  assert.equal(h.server.requestsOf('nodes', 'list').length, 1, 'no more lists');
  assert.equal(h.server.requestsOf('nodes', 'watch').length, 0);
  assert.equal(h.server.requestsOf('nodes', 'get')[0]!.path, '/api/v1/nodes/k8s-node1');
  h.server.modifyNode('k8s-node1', (n) => {
    n.metadata.labels!['topology.kubernetes.io/zone'] = 'eu-west-1b';
  });
  await h.waitPart('node', (p) => p?.node?.labels?.['topology.kubernetes.io/zone'] === 'eu-west-1b');
});

test('node: everything forbidden → error with the ClusterRole rule', async (t) => {
  const h = await harness(t, { source: { nodeName: 'k8s-node1' } });
  for (const v of ['list', 'watch', 'get'] as const) h.server.forbid('nodes', v);
  const st = await h.waitStatus('node', (s) => s.error?.reason === 'Forbidden');
  assert.equal(st.state, 'error');
  assert.match(st.error!.hint, /^ClusterRole needs: apiGroups \[""\], resources \["nodes"\], verbs \["get"\]/);
  assert.match(st.error!.hint, /ServiceAccount default\/podmeta/);
  assert.equal(h.lastPart('node'), undefined);
  assert.equal(h.lastStatus('api')?.state, 'ok');
});

test('empty PODMETA_NODE_LABELS: the Node is never read', async (t) => {
  const h = await harness(t, { source: { nodeLabels: [] } });
  await h.waitPart('api', (p) => p !== undefined);
  assert.equal(h.lastStatus('node')?.state, 'disabled');
  assert.equal(h.server.requestsOf('nodes').length, 0);
});

test('the token never appears in logs, statuses, parts or errors', async (t) => {
  const h = await harness(t, { timing: { inactivityMs: 200, labelGraceMs: 50 } });
  await h.waitPart('api', (p) => p !== undefined);
  // a tour of failures
  h.server.forbid('pods', 'watch');
  h.server.dropWatches();
  await h.waitStatus('api', (s) => s.error?.reason === 'Forbidden');
  h.server.allow('pods', 'watch');
  h.server.fail({ resource: 'pods', verb: 'watch' }, { status: 500, message: 'etcdserver: leader changed' });
  h.server.fail({ resource: 'pods', verb: 'watch' }, { halfOpen: true });
  await h.waitStatus('api', (s) => s.error?.reason === 'WatchSilent', 'half-open');
  h.server.setTokens(['other']);
  h.server.dropWatches();
  await h.waitStatus('api', (s) => s.error?.reason === 'Unauthorized');
  h.server.setTokens([h.token]);
  await h.waitStatus('api', (s) => s.state === 'ok');
  const everything = JSON.stringify([h.logs, h.statuses, h.parts]);
  assert.ok(everything.length > 1000);
  assert.ok(!everything.includes(h.token), 'token leaked');
  assert.ok(!everything.includes(h.token.split('.')[2]!), 'token signature leaked');
  assert.ok(!/Bearer /.test(everything));
});

test('IPv6: KUBERNETES_SERVICE_HOST=::1 (unbracketed) works', async (t) => {
  const h = await harness(t, { server: { host: '::1' } });
  assert.equal(h.source.transport?.baseUrl.hostname, '[::1]');
  await h.waitPart('api', (p) => p?.pod?.name === POD);
});

test('stop() is prompt with open watches and pending backoffs, and leaves no handles behind', async (t) => {
  const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const token = fakeJwt(NS, 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  const sa = await SaDir.create({ token, caPem: server.caPem });
  const { samplePod, sampleNode } = await import('./support/fake-apiserver.js');
  server.putPod(samplePod());
  server.putNode(sampleNode());
  const src = createApiSource({
    mode: 'on',
    saDir: sa.dir,
    serviceHost: server.host,
    servicePort: server.port,
    podName: POD,
    nodeLabels: ['kubernetes.io/arch'],
    log: silentLogger,
    onPart: () => {},
    onStatus: () => {},
    timing: { labelGraceMs: 60_000, backoffInitialMs: 60_000, quickFailMs: 20 },
  });
  await src.start();
  await server.waitFor(() => server.watchCount === 2, 'two watches');
  await new Promise((r) => setTimeout(r, 100)); // past quickFailMs: a drop now is a normal end
  server.fail({ resource: 'pods', verb: 'watch' }, { status: 500 });
  server.dropWatches(); // the pod watch now sleeps a long backoff; the grace timer is pending
  await server.waitFor(() => server.requestsOf('pods', 'watch').length === 2 && server.watchCount === 1, 'failure + node re-watch');
  let stopped = false;
  const stopping = src.stop().then(() => (stopped = true));
  await waitFor(() => stopped, 'stop() to resolve', 2000);
  await stopping;
  await server.close();
  await sa.remove();
  t.diagnostic(`resources after stop: ${process.getActiveResourcesInfo().join(',')}`);
  await waitFor(() => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length <= baseline, 'handles released', 2000);
});

test('transport.request (for the proxy): current token, any status as is, caller Authorization dropped, discovery served', async (t) => {
  const h = await harness(t, { source: { nodeLabels: [] } });
  const tr = h.source.transport!;
  const read = async (res: import('node:stream').Readable): Promise<string> => {
    let s = '';
    for await (const c of res) s += String(c);
    return s;
  };
  const api = await tr.request!({ path: '/api/v1', headers: { Authorization: 'Bearer forged', Accept: 'application/json' } });
  assert.equal(api.statusCode, 200);
  assert.equal((JSON.parse(await read(api)) as { kind: string }).kind, 'APIResourceList');
  const last = h.server.requests.at(-1)!;
  assert.equal(last.auth, 'valid', 'the transport token, not the forged one');
  assert.equal(h.server.sawToken('forged'), false);
  const missing = await tr.request!({ path: '/api/v1/namespaces/default/secrets' });
  assert.equal(missing.statusCode, 404);
  assert.equal((JSON.parse(await read(missing)) as { reason: string }).reason, 'NotFound');
  const head = await tr.request!({ method: 'HEAD', path: '/version' });
  assert.equal(head.statusCode, 200);
  await read(head);
  h.server.setTokens([]);
  const denied = await tr.request!({ path: '/api' });
  assert.equal(denied.statusCode, 401, 'no retry inside request()');
  await read(denied);
});

test('node GET fallback answering 404 → error with the NODE_NAME hint', async (t) => {
  const h = await harness(t, { source: { nodeName: 'ghost' } });
  h.server.forbid('nodes', 'list');
  const st = await h.waitStatus('node', (s) => s.error?.reason === 'NotFound');
  assert.match(st.error!.message, /node "ghost" not found/);
  assert.ok(h.server.requestsOf('nodes', 'get').some((r) => r.status === 404));
});

test('PODMETA_API=auto with an unusable service-account dir: error + hint (not a silent "disabled"); nothing mounted: disabled with a hint', async (t) => {
  const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const root = await mkdtemp(join(tmpdir(), 'podmeta-sa-broken-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'token')); // a directory where the token file should be (unreadable as a file, even for root)
  await writeFile(join(root, 'ca.crt'), 'not a certificate');
  const run = async (saDir: string) => {
    const statuses: [string, SourceStatus][] = [];
    const src = createApiSource({
      mode: 'auto',
      saDir,
      serviceHost: '10.96.0.1',
      servicePort: '443',
      nodeLabels: ['kubernetes.io/arch'],
      log: silentLogger,
      onPart: () => assert.fail('no part expected'),
      onStatus: (s, st) => statuses.push([s, st]),
    });
    await src.start();
    await src.stop();
    return statuses;
  };
  const broken = await run(root);
  assert.deepEqual(broken.map(([s, st]) => `${s} ${st.state}`), ['api error', 'node error']);
  const err = broken[0]![1].error!;
  assert.equal(err.reason, 'CredentialsUnusable');
  assert.match(err.message, /token/);
  assert.match(err.message, /ca\.crt holds no PEM certificate/);
  assert.match(err.hint, /PODMETA_SA_DIR/);
  const absent = await run(join(root, 'nothing-here'));
  assert.deepEqual(absent.map(([s, st]) => `${s} ${st.state}`), ['api disabled', 'node disabled']);
  assert.equal(absent[0]![1].error?.reason, 'NoCredentials');
  assert.match(absent[0]![1].error!.hint, /automountServiceAccountToken/);
});

test('KUBERNETES_SERVICE_PORT=abc never crashes: auto → error naming the variable; on → ApiConfigError (exit 2 in main)', async (t) => {
  const h = await harness(t, { noStart: true });
  const statuses: [string, SourceStatus][] = [];
  const base = { saDir: h.sa.dir, serviceHost: h.server.host, nodeLabels: [], log: silentLogger, onPart: () => assert.fail('no part expected') };
  const auto = createApiSource({ ...base, mode: 'auto', servicePort: 'abc', onStatus: (s, st) => statuses.push([s, st]) });
  await auto.start();
  await auto.stop();
  assert.equal(statuses[0]![1].state, 'error');
  assert.match(statuses[0]![1].error!.message, /KUBERNETES_SERVICE_PORT="abc" is not a port number/);
  for (const port of ['abc', '70000', '0']) {
    const on = createApiSource({ ...base, mode: 'on', servicePort: port, onStatus: () => {} });
    await assert.rejects(on.start(), (e: unknown) => e instanceof ApiConfigError && /KUBERNETES_SERVICE_PORT/.test(e.message), port);
    await on.stop();
  }
  const badHost = createApiSource({ ...base, mode: 'on', serviceHost: 'a b', servicePort: '443', onStatus: () => {} });
  await assert.rejects(badHost.start(), (e: unknown) => e instanceof ApiConfigError && /KUBERNETES_SERVICE_HOST="a b"/.test(e.message));
  assert.equal(h.server.requests.length, 0);
});
