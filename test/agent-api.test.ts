// The API source through the real agent: enrichment in GET /metadata, an API-side label change reaching
// SSE subscribers, the volume taking over while the watch is unhealthy, and a 403 that leaves the agent
// ready and serving the volume's data — against the fake API server (TLS, bearer tokens, watch streams).
import test from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer, samplePod, sampleNode } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { FAST } from './support/api-harness.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { openSse } from './support/sse.js';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const POD = 'web-5d9c7b8f4-x7k2p';

async function cluster(t: test.TestContext, opts: { forbidPods?: boolean; config?: Record<string, string> } = {}) {
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod());
  server.putNode(sampleNode('k8s-node1', { 'topology.kubernetes.io/zone': 'eu-west-1a', 'kubernetes.io/arch': 'amd64', rack: 'r1' }));
  if (opts.forbidPods) {
    server.forbid('pods', 'list');
    server.forbid('pods', 'get');
    server.forbid('pods', 'watch');
  }
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: 'default' });
  t.after(() => sa.remove());
  const agent = await startAgent(t, {
    env: { POD_NAME: POD, POD_NAMESPACE: 'default', NODE_NAME: 'k8s-node1' },
    files: sampleFiles({ app: 'web', source: 'volume' }),
    config: {
      PODMETA_API: 'on',
      PODMETA_SA_DIR: sa.dir,
      KUBERNETES_SERVICE_HOST: server.host,
      KUBERNETES_SERVICE_PORT: String(server.port),
      ...opts.config,
    },
    agent: { apiTiming: FAST },
  });
  return { server, sa, agent, token };
}

test('the document is enriched from the Pod and Node; API labels win while the watch is healthy', async (t) => {
  const { agent } = await cluster(t);
  const doc = await eventually(async () => {
    const d = (await (await agent.get('/metadata')).json()) as any;
    return d.pod.phase && d.node.labels ? d : undefined;
  });
  assert.equal(doc.pod.uid, '1d591f87-0000-4000-8000-000000000001', 'identity from the volume (local sources first)');
  assert.equal(doc.pod.phase, 'Running');
  assert.equal(doc.pod.qosClass, 'Burstable');
  assert.deepEqual(doc.pod.owner, { kind: 'ReplicaSet', name: 'web-5d9c7b8f4' });
  assert.deepEqual(doc.pod.workload, { kind: 'Deployment', name: 'web' });
  assert.equal(doc.pod.containers[0].name, 'main');
  assert.equal(doc.pod.containers[0].image, 'registry.k8s.io/nginx:1.27');
  assert.deepEqual(doc.pod.labels, { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'app.kubernetes.io/name': 'web' });
  assert.deepEqual(doc.node.labels, { 'topology.kubernetes.io/zone': 'eu-west-1a', 'kubernetes.io/arch': 'amd64' }, 'only the configured keys');
  const zone = await agent.get('/metadata/node/labels/topology.kubernetes.io/zone?format=text');
  assert.equal(await zone.text(), 'eu-west-1a');
  const st = (await (await agent.get('/status')).json()) as any;
  assert.equal(st.sources.api.state, 'ok');
  assert.equal(st.sources.node.state, 'ok');
});

test('a label change on the API side reaches SSE subscribers as a patch', async (t) => {
  const { agent, server } = await cluster(t);
  await eventually(async () => ((await (await agent.get('/metadata/pod/labels')).json()) as any)['pod-template-hash']);
  const s = await openSse(agent.base + '/events?path=/pod/labels');
  t.after(() => s.close());
  await s.next();
  server.modifyPod('default', POD, (p) => {
    (p.metadata as { labels: Record<string, string> }).labels.tier = 'gold';
  });
  const e = await s.next((x) => x.event === 'change');
  assert.deepEqual(JSON.parse(e.data).patch, [{ op: 'add', path: '/tier', value: 'gold' }]);
});

test('when the watch is unhealthy the volume takes over labels; when it recovers the API wins again', async (t) => {
  const { agent, server } = await cluster(t);
  await eventually(async () => ((await (await agent.get('/metadata/pod/labels')).json()) as any)['pod-template-hash'], 5000, 'api labels');
  server.fail({ resource: 'pods' }, { status: 500 }, 1_000_000);
  server.dropWatches();
  await eventually(async () => ((await (await agent.get('/metadata/pod/labels')).json()) as any).source === 'volume', 10_000, 'volume labels');
  assert.equal(((await (await agent.get('/metadata')).json()) as any).pod.phase, 'Running', 'the last API data stays');
  server.clearFaults();
  await eventually(async () => ((await (await agent.get('/metadata/pod/labels')).json()) as any)['pod-template-hash'], 10_000, 'api labels again');
});

test('403 (RBAC): volume data still served, agent ready, /status names the missing rule, token nowhere', async (t) => {
  const { agent, token } = await cluster(t, { forbidPods: true });
  const st = await eventually(async () => {
    const s = (await (await agent.get('/status')).json()) as any;
    return s.sources.api.state === 'error' ? s : undefined;
  });
  assert.match(st.sources.api.error.hint, /Role/);
  assert.match(st.sources.api.error.hint, /pods/);
  assert.match(st.sources.api.error.hint, /"list"|list/);
  assert.equal((await fetch(agent.probe + '/readyz')).status, 200);
  const doc = (await (await agent.get('/metadata')).json()) as any;
  assert.deepEqual(doc.pod.labels, { app: 'web', source: 'volume' });
  assert.equal(doc.pod.name, POD);
  const everything = JSON.stringify(st) + JSON.stringify(doc) + JSON.stringify(agent.logs) + (await (await fetch(agent.probe + '/metrics')).text());
  assert.ok(!everything.includes(token), 'the token never appears');
});

test('the ambassador in front of the fake API server: kubectl get pod, a streamed watch, refusals', async (t) => {
  const { agent, server, token } = await cluster(t, { config: { PODMETA_PROXY_LISTEN: '127.0.0.1:0' } });
  const proxy = agent.proxy!;
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--server', proxy, ...args], { env: { ...process.env, KUBECONFIG: '/dev/null', HOME: agent.dir } });
  const name = (await kubectl('get', 'pod', POD, '-n', 'default', '-o', 'jsonpath={.metadata.name}')).stdout;
  assert.equal(name, POD);
  const raw = JSON.parse((await kubectl('get', '--raw', `/api/v1/namespaces/default/pods/${POD}`)).stdout);
  assert.equal(raw.metadata.uid, '1d591f87-4c1d-4a4e-9c2f-2b7d0a4e8f31');

  // a watch streams through: an event arrives while the upstream stream is still open
  const watch = spawn('curl', ['-sN', `${proxy}/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3D${POD}`]);
  t.after(() => watch.kill());
  let out = '';
  watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out.includes('"ADDED"'), 10_000, 'ADDED through the proxy');
  server.modifyPod('default', POD, (p) => {
    (p.metadata as { labels: Record<string, string> }).labels.via = 'proxy';
  });
  await eventually(() => out.includes('"via":"proxy"'), 10_000, 'MODIFIED through the proxy');

  const del = await fetch(`${proxy}/api/v1/namespaces/default/pods/${POD}`, { method: 'DELETE' });
  assert.equal(del.status, 403);
  const secrets = await fetch(`${proxy}/api/v1/namespaces/default/secrets`);
  assert.equal(secrets.status, 403);
  assert.match(((await secrets.json()) as { message: string }).message, /PODMETA_PROXY_REJECT_PATHS/);
  assert.ok(server.getPod('default', POD), 'nothing was deleted');
  assert.ok(!JSON.stringify(agent.logs).includes(token), 'token never logged');
});
