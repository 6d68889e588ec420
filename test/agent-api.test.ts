// The API source through the real agent: enrichment in GET /metadata, an API-side label change reaching
// SSE subscribers, the volume taking over while the watch is unhealthy, and a 403 that leaves the agent
// ready and serving the volume's data — against the fake API server (TLS, bearer tokens, watch streams).
import test from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer, samplePod, sampleNode, type SamplePodOptions } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { FAST } from './support/api-harness.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { openSse } from './support/sse.js';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const POD = 'web-5d9c7b8f4-x7k2p';

interface ClusterOptions {
  forbidPods?: boolean;
  forbidNodes?: boolean;
  config?: Record<string, string>;
  pod?: SamplePodOptions;
  files?: ReturnType<typeof sampleFiles>;
}

async function cluster(t: test.TestContext, opts: ClusterOptions = {}) {
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod(opts.pod));
  if (opts.forbidNodes) for (const verb of ['get', 'list', 'watch'] as const) server.forbid('nodes', verb);
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
    files: opts.files ?? sampleFiles({ app: 'web', source: 'volume' }),
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

const getJson = async (agent: { get(p: string): Promise<Response> }, path: string): Promise<any> => (await agent.get(path)).json();

test('in-place resize: PODMETA_CONTAINER resources follow the Pod status; each step is one SSE change with a JSON Patch', async (t) => {
  const { agent, server } = await cluster(t, { config: { PODMETA_CONTAINER: 'main' } });
  await eventually(async () => (await getJson(agent, '/metadata')).resources.limits?.cpu === '100m', 5000, 'resources from the API');
  const doc = await getJson(agent, '/metadata');
  assert.deepEqual(doc.resources, {
    requests: { cpu: '15m', cpuMillicores: 15, memory: '100Ki', memoryBytes: 102400 },
    limits: { cpu: '100m', cpuMillicores: 100, memory: '4Mi', memoryBytes: 4194304 },
  }, 'the container\'s current values, not the downward readings (which have no cpu limit)');
  const s = await openSse(agent.base + '/events');
  t.after(() => s.close());
  const snap = await s.next((e) => e.event === 'snapshot');
  const rev = JSON.parse(snap.data).revision as number;

  server.requestResize('default', POD, 'main', { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '200m', memory: '8Mi' } });
  const c1 = JSON.parse((await s.next()).data);
  assert.equal(c1.revision, rev + 1);
  assert.deepEqual(c1.patch, [{ op: 'add', path: '/pod/resize', value: 'InProgress' }], 'requested: nothing runs with new values yet');

  server.completeResize('default', POD);
  const e2 = await s.next();
  assert.equal(e2.event, 'change');
  const c2 = JSON.parse(e2.data);
  assert.equal(c2.revision, rev + 2, 'one change for the whole resize');
  const patch = c2.patch as { op: string; path: string; value?: any }[];
  const ops = patch.map((o) => `${o.op} ${o.path}${o.path === '/pod/containers' ? '' : ` ${JSON.stringify(o.value)}`}`).sort();
  assert.deepEqual(patch.find((o) => o.path === '/pod/containers')?.value[0].resources, { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '200m', memory: '8Mi' } });
  assert.deepEqual(ops, [
    'remove /pod/resize undefined',
    'replace /pod/containers',
    'replace /resources/limits/cpu "200m"',
    'replace /resources/limits/cpuMillicores 200',
    'replace /resources/limits/memory "8Mi"',
    'replace /resources/limits/memoryBytes 8388608',
  ]);
  assert.equal(await (await agent.get('/metadata/resources/limits/cpuMillicores')).text(), '200');
});

test('while the API watch is unhealthy, top-level resources fall back to the downward values', async (t) => {
  const { agent, server } = await cluster(t, { config: { PODMETA_CONTAINER: 'main' } });
  await eventually(async () => (await getJson(agent, '/metadata')).resources.limits?.cpu === '100m', 5000, 'API resources');
  server.fail({ resource: 'pods' }, { status: 500 }, 1_000_000);
  server.dropWatches();
  const down = await eventually(async () => {
    const r = (await getJson(agent, '/metadata')).resources;
    return r.limits?.cpu === undefined ? r : undefined;
  }, 10_000, 'downward resources');
  assert.deepEqual(down, { requests: { cpu: '15m', cpuMillicores: 15 }, limits: { memory: '4Mi', memoryBytes: 4194304 } });
});

test('topology labels on the pod, Node RBAC forbidden, default PODMETA_NODE_LABELS: zone/region served, ZERO Node requests', async (t) => {
  const { agent, server } = await cluster(t, { forbidNodes: true, pod: { topology: { zone: 'eu-west-1b', region: 'eu-west-1' } } });
  const doc = await eventually(async () => {
    const d = await getJson(agent, '/metadata');
    return d.pod.phase && d.node.labels ? d : undefined;
  });
  assert.deepEqual(doc.node.labels, { 'topology.kubernetes.io/region': 'eu-west-1', 'topology.kubernetes.io/zone': 'eu-west-1b' });
  assert.equal(await (await agent.get('/metadata/node/labels/topology.kubernetes.io/zone?format=text')).text(), 'eu-west-1b');
  const st = await eventually(async () => {
    const x = await getJson(agent, '/status');
    return x.sources.node.state === 'ok' ? x : undefined;
  });
  assert.deepEqual(st.sources.node.detail, { mode: 'pod-labels', keys: ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region'] });
  // a later Pod event re-evaluates; still no reason to read the Node
  server.modifyPod('default', POD, (p) => void ((p.metadata.labels as Record<string, string>).tier = 'gold'));
  await eventually(async () => (await getJson(agent, '/metadata/pod/labels')).tier === 'gold');
  assert.equal(server.requestsOf('nodes').length, 0, 'no Node request at all');
  assert.ok(server.requestsOf('pods', 'watch').length >= 1, 'the pod itself is watched');
});

test('topology labels only in the volume (pods forbidden too): still zero Node requests; explicit list with more keys reads the Node, 403 leaves zone/region', async (t) => {
  const files = sampleFiles({ app: 'web', 'topology.kubernetes.io/zone': 'vol-zone', 'topology.kubernetes.io/region': 'vol-region' });
  const a = await cluster(t, { forbidPods: true, forbidNodes: true, files });
  await eventually(async () => (await getJson(a.agent, '/status')).sources.api.state === 'error');
  const st = await eventually(async () => {
    const x = await getJson(a.agent, '/status');
    return x.sources.node.state === 'ok' ? x : undefined;
  });
  assert.equal(st.sources.node.detail.mode, 'pod-labels');
  assert.deepEqual((await getJson(a.agent, '/metadata')).node.labels, { 'topology.kubernetes.io/region': 'vol-region', 'topology.kubernetes.io/zone': 'vol-zone' });
  assert.equal(a.server.requestsOf('nodes').length, 0);

  const b = await cluster(t, {
    forbidNodes: true,
    pod: { topology: { zone: 'eu-west-1b', region: 'eu-west-1' } },
    config: { PODMETA_NODE_LABELS: 'topology.kubernetes.io/zone,topology.kubernetes.io/region,kubernetes.io/arch' },
  });
  const err = await eventually(async () => {
    const x = await getJson(b.agent, '/status');
    return x.sources.node.state === 'error' ? x : undefined;
  });
  assert.match(err.sources.node.error.hint, /ClusterRole/);
  assert.ok(b.server.requestsOf('nodes').length >= 1, 'arch needs the Node');
  assert.deepEqual((await getJson(b.agent, '/metadata')).node.labels, { 'topology.kubernetes.io/region': 'eu-west-1', 'topology.kubernetes.io/zone': 'eu-west-1b' }, 'zone/region stay');
});

test('native sidecars are listed (sidecar: true, status from initContainerStatuses); plain init containers are not', async (t) => {
  const { agent } = await cluster(t, { pod: { initContainers: true } });
  const containers = await eventually(async () => (await getJson(agent, '/metadata')).pod.containers);
  assert.deepEqual(containers.map((c: any) => [c.name, c.sidecar ?? false]), [['main', false], ['podmeta', false], ['log-shipper', true]]);
  assert.equal(containers[2].restartCount, 2);
  assert.equal(containers[2].ready, true);
});

test('an annotation named __proto__ from the API is kept: JSON, text, sub-path and SSE', async (t) => {
  const annotations = JSON.parse('{"__proto__":"kept","plain":"v"}') as Record<string, string>;
  const { agent, server } = await cluster(t, { pod: { annotations } });
  await eventually(async () => (await getJson(agent, '/metadata/pod/annotations')).plain === 'v');
  assert.equal(await (await agent.get('/metadata/pod/annotations')).text(), '{"__proto__":"kept","plain":"v"}');
  assert.equal(await (await agent.get('/metadata/pod/annotations?format=text')).text(), '__proto__="kept"\nplain="v"');
  assert.equal(await (await agent.get('/metadata/pod/annotations/__proto__?format=text')).text(), 'kept');
  const s = await openSse(agent.base + '/events?path=/pod/annotations');
  t.after(() => s.close());
  assert.match((await s.next()).data, /"__proto__":"kept"/);
  server.modifyPod('default', POD, (p) => Object.defineProperty(p.metadata.annotations!, '__proto__', { value: 'changed', enumerable: true, writable: true, configurable: true }));
  const c = JSON.parse((await s.next((e) => e.event === 'change')).data);
  assert.deepEqual(c.patch, [{ op: 'replace', path: '/__proto__', value: 'changed' }]);
});

test('KUBERNETES_SERVICE_PORT=abc with PODMETA_API=auto: the agent starts, serves the volume, /status names the variable', async (t) => {
  const { agent } = await cluster(t, { config: { PODMETA_API: 'auto', KUBERNETES_SERVICE_PORT: 'abc' } });
  const st = await getJson(agent, '/status');
  assert.equal(st.sources.api.state, 'error');
  assert.match(st.sources.api.error.message, /KUBERNETES_SERVICE_PORT="abc"/);
  assert.equal((await getJson(agent, '/metadata')).pod.name, POD);
  assert.equal((await fetch(agent.probe + '/readyz')).status, 200);
});

test('PODMETA_CONTAINER naming no container: /status api degraded with a hint listing the names; resources stay the downward ones', async (t) => {
  const { agent } = await cluster(t, { config: { PODMETA_CONTAINER: 'nope' }, pod: { initContainers: true } });
  const st = await eventually(async () => {
    const x = await getJson(agent, '/status');
    return x.sources.api.error?.reason === 'ContainerUnknown' ? x : undefined;
  });
  assert.equal(st.sources.api.state, 'degraded');
  assert.match(st.sources.api.error.hint, /main, podmeta, log-shipper/);
  const doc = await getJson(agent, '/metadata');
  assert.equal(doc.pod.phase, 'Running');
  assert.deepEqual(doc.resources, { requests: { cpu: '15m', cpuMillicores: 15 }, limits: { memory: '4Mi', memoryBytes: 4194304 } });
});
