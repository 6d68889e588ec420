// Pod → part for current Kubernetes (issue 13): native sidecars, resources after an in-place resize,
// pod.resize, PODMETA_CONTAINER's current resources; quantity parsing; the merge rules for resources and
// topology labels; when the Node must be read at all. Pure functions, fake-server objects as input.
import test from 'node:test';
import assert from 'node:assert/strict';
import { podToPart } from '../src/apiserver/pod.js';
import { nodeReadNeeded } from '../src/apiserver/topology.js';
import { parseConfig } from '../src/config.js';
import { keyMatcher } from '../src/keys.js';
import { mergeParts } from '../src/merge.js';
import { parseQuantity, resourcesFromReadings } from '../src/quantity.js';
import { FakeApiServer, samplePod, type Kube } from './support/fake-apiserver.js';

const DEFAULT_NODE_LABELS = parseConfig({}).nodeLabels;

test('containers: regular ones first, then native sidecars marked sidecar:true with their initContainerStatuses; plain init containers left out', () => {
  const part = podToPart(samplePod({ initContainers: true }) as never, { includeMeta: true });
  const list = part.pod!.containers!;
  assert.deepEqual(list.map((c) => c.name), ['main', 'podmeta', 'log-shipper']);
  assert.deepEqual(list[2], {
    name: 'log-shipper',
    sidecar: true,
    image: 'registry.example/fluent-bit:4.0',
    imageID: 'registry.example/fluent-bit@sha256:' + '3'.repeat(64),
    ready: true,
    restartCount: 2,
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
  });
  assert.equal(list[0]!.sidecar, undefined, 'a regular container carries no sidecar field');
});

test('container resources: the status when reported; else allocatedResources + spec limits; else the spec', () => {
  const pod = samplePod() as Kube & { spec: any; status: any };
  pod.spec.containers[0].resources = { requests: { cpu: '2' }, limits: { cpu: '4' } }; // desired (a pending resize)
  let c = podToPart(pod as never, { includeMeta: true }).pod!.containers![0]!;
  assert.deepEqual(c.resources, { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '100m', memory: '4Mi' } }, 'what it runs with now');
  delete pod.status.containerStatuses[0].resources;
  c = podToPart(pod as never, { includeMeta: true }).pod!.containers![0]!;
  assert.deepEqual(c.resources, { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '4' } }, 'allocated requests, spec limits');
  delete pod.status.containerStatuses[0].allocatedResources;
  c = podToPart(pod as never, { includeMeta: true }).pod!.containers![0]!;
  assert.deepEqual(c.resources, { requests: { cpu: '2' }, limits: { cpu: '4' } }, 'the spec when the status says nothing');
});

test('pod.resize follows the PodResizePending / PodResizeInProgress conditions (status True only); absent otherwise', () => {
  const withConditions = (conditions: unknown[]) => {
    const p = samplePod() as Kube & { status: any };
    p.status.conditions = conditions;
    return podToPart(p as never, { includeMeta: true }).pod!.resize;
  };
  assert.equal(withConditions([{ type: 'Ready', status: 'True' }]), undefined);
  assert.equal(withConditions([{ type: 'PodResizeInProgress', status: 'True' }]), 'InProgress');
  assert.equal(withConditions([{ type: 'PodResizePending', status: 'True', reason: 'Deferred' }]), 'Pending');
  assert.equal(withConditions([{ type: 'PodResizeInProgress', status: 'True' }, { type: 'PodResizePending', status: 'True' }]), 'Pending');
  assert.equal(withConditions([{ type: 'PodResizeInProgress', status: 'False' }]), undefined);
});

test('PODMETA_CONTAINER: part.resources = that container\'s current values, canonical + base units; only while labels ride (healthy)', async () => {
  const server = await FakeApiServer.start();
  try {
    server.putPod(samplePod({ initContainers: true }));
    server.requestResize('default', 'web-5d9c7b8f4-x7k2p', 'main', { requests: { cpu: '1500m', memory: '128M' }, limits: { cpu: '2', memory: '1Gi' } });
    const pending = server.getPod('default', 'web-5d9c7b8f4-x7k2p')!;
    const before = podToPart(pending as never, { includeMeta: true, container: 'main' });
    assert.equal(before.pod!.resize, 'InProgress');
    assert.deepEqual(before.resources, {
      requests: { cpu: '15m', cpuMillicores: 15, memory: '100Ki', memoryBytes: 102400 },
      limits: { cpu: '100m', cpuMillicores: 100, memory: '4Mi', memoryBytes: 4194304 },
    }, 'not the desired spec while the resize runs');
    const done = server.completeResize('default', 'web-5d9c7b8f4-x7k2p');
    assert.ok(Number(done.metadata.resourceVersion) > Number(pending.metadata.resourceVersion), 'the RV bumps');
    assert.deepEqual((done.spec as any).containers[0].resources, (pending.spec as any).containers[0].resources, 'spec unchanged by the kubelet');
    const after = podToPart(done as never, { includeMeta: true, container: 'main' });
    assert.equal(after.pod!.resize, undefined);
    assert.deepEqual(after.resources, {
      requests: { cpu: '1500m', cpuMillicores: 1500, memory: '128M', memoryBytes: 128_000_000 },
      limits: { cpu: '2', cpuMillicores: 2000, memory: '1Gi', memoryBytes: 1073741824 },
    });
    assert.deepEqual(podToPart(done as never, { includeMeta: true, container: 'log-shipper' }).resources, {
      requests: { cpu: '10m', cpuMillicores: 10, memory: '32Mi', memoryBytes: 33554432 },
      limits: { memory: '64Mi', memoryBytes: 67108864 },
    }, 'a sidecar can be the app container too');
    assert.equal(podToPart(done as never, { includeMeta: false, container: 'main' }).resources, undefined, 'unhealthy: the downward values');
    assert.equal(podToPart(done as never, { includeMeta: true, container: 'nope' }).resources, undefined);
    assert.equal(podToPart(done as never, { includeMeta: true }).resources, undefined, 'PODMETA_CONTAINER unset');
  } finally {
    await server.close();
  }
});

test('parseQuantity: every quantity form the API server serves, rounded up like MilliValue()/Value()', () => {
  const cpu: [string, number][] = [['100m', 100], ['1', 1000], ['1.5', 1500], ['0.1', 100], ['.5', 500], ['250000u', 250], ['1n', 1], ['2k', 2_000_000], ['1e-3', 1], ['3e0', 3000]];
  for (const [q, m] of cpu) assert.equal(parseQuantity('cpu', q), m, q);
  const mem: [string, number][] = [['4Mi', 4194304], ['100Ki', 102400], ['128M', 128e6], ['1Gi', 2 ** 30], ['1.5Gi', 1.5 * 2 ** 30], ['1e3', 1000], ['12E-1', 2], ['500m', 1], ['1024', 1024]];
  for (const [q, b] of mem) assert.equal(parseQuantity('memory', q), b, q);
  for (const bad of ['', '-1', 'abc', '1Q', '1 Mi', '1.2.3', '16E', '1e999']) assert.equal(parseQuantity('memory', bad), undefined, bad);
});

test('merge: the API part\'s resources replace the downward readings while present', () => {
  const readings = [{ kind: 'cpu' as const, side: 'limits' as const, base: 100, granularity: 1 }];
  const down = mergeParts({ env: { readings } }, keyMatcher([]));
  assert.deepEqual(down.resources, resourcesFromReadings(readings));
  const api = { limits: { cpu: '2', cpuMillicores: 2000 } };
  assert.deepEqual(mergeParts({ env: { readings }, api: { pod: {}, resources: api } }, keyMatcher([])).resources, api);
});

test('merge: node.labels takes zone/region from the pod\'s labels (API or volume) when selected; the pod wins; absent stays absent', () => {
  const select = keyMatcher(DEFAULT_NODE_LABELS);
  const podLabels = { app: 'web', 'topology.kubernetes.io/zone': 'pod-zone', 'topology.kubernetes.io/region': 'pod-region' };
  const node = { node: { labels: { 'kubernetes.io/arch': 'arm64', 'topology.kubernetes.io/zone': 'node-zone' } } };
  assert.deepEqual(mergeParts({ downward: { pod: { labels: podLabels } } }, keyMatcher([]), select).node.labels, {
    'topology.kubernetes.io/region': 'pod-region',
    'topology.kubernetes.io/zone': 'pod-zone',
  }, 'from the volume, no Node part at all');
  assert.deepEqual(Object.entries(mergeParts({ api: { pod: { labels: podLabels } }, node }, keyMatcher([]), select).node.labels!), [
    ['kubernetes.io/arch', 'arm64'],
    ['topology.kubernetes.io/region', 'pod-region'],
    ['topology.kubernetes.io/zone', 'pod-zone'],
  ], 'merged with the Node\'s, sorted, the pod wins');
  assert.deepEqual(mergeParts({ downward: { pod: { labels: podLabels } } }, keyMatcher([]), keyMatcher(['topology.kubernetes.io/zone'])).node.labels, { 'topology.kubernetes.io/zone': 'pod-zone' }, 'only selected keys');
  assert.equal(mergeParts({ downward: { pod: { labels: podLabels } } }, keyMatcher([]), keyMatcher([])).node.labels, undefined, 'PODMETA_NODE_LABELS empty');
  assert.equal(mergeParts({ downward: { pod: { labels: { app: 'web' } } } }, keyMatcher([]), select).node.labels, undefined, 'nothing invented');
});

test('nodeReadNeeded: default list → only when the pod lacks zone or region; explicit list → unless every key is carried; empty → never', () => {
  const both = { 'topology.kubernetes.io/zone': 'z', 'topology.kubernetes.io/region': 'r' };
  const zoneOnly = { 'topology.kubernetes.io/zone': 'z' };
  assert.equal(nodeReadNeeded(DEFAULT_NODE_LABELS, both, true), false);
  assert.equal(nodeReadNeeded(DEFAULT_NODE_LABELS, zoneOnly, true), true);
  assert.equal(nodeReadNeeded(DEFAULT_NODE_LABELS, undefined, true), true);
  assert.equal(nodeReadNeeded(DEFAULT_NODE_LABELS, both, false), true, 'set explicitly: instance-type/arch/os need the Node');
  assert.equal(nodeReadNeeded(['topology.kubernetes.io/zone', 'topology.kubernetes.io/region'], both, false), false);
  assert.equal(nodeReadNeeded(['topology.kubernetes.io/zone'], zoneOnly, false), false);
  assert.equal(nodeReadNeeded(['topology.kubernetes.io/'], both, false), true, 'a prefix may match other Node labels');
  assert.equal(nodeReadNeeded([], undefined, true), false);
});

test('config: PODMETA_CONTAINER is a container name; PODMETA_NODE_LABELS unset vs set is told apart', () => {
  assert.equal(parseConfig({ PODMETA_CONTAINER: 'app-1' }).container, 'app-1');
  assert.equal(parseConfig({}).container, undefined);
  assert.throws(() => parseConfig({ PODMETA_CONTAINER: 'App_1' }), /PODMETA_CONTAINER="App_1": expected a container name/);
  assert.equal(parseConfig({}).nodeLabelsDefault, true);
  assert.equal(parseConfig({ PODMETA_NODE_LABELS: DEFAULT_NODE_LABELS.join(',') }).nodeLabelsDefault, false);
  assert.equal(parseConfig({ PODMETA_NODE_LABELS: '' }).nodeLabelsDefault, false);
});

test('merge: the API-only pod fields pass through in podToPart\'s order; a new one needs no merge line', () => {
  const pod = samplePod();
  const part = podToPart(pod as never, { includeMeta: true, deleted: true });
  const body = mergeParts({ env: { pod: { name: 'from-env' } }, api: part }, keyMatcher([]));
  const keys = Object.keys(body.pod);
  const shared = ['name', 'namespace', 'uid', 'ip', 'ips', 'serviceAccount', 'labels', 'annotations'];
  assert.deepEqual(keys.slice(0, shared.filter((k) => k in body.pod).length), shared.filter((k) => k in body.pod), 'merged fields first');
  const rest = keys.filter((k) => !shared.includes(k));
  assert.deepEqual(rest, Object.keys(part.pod!).filter((k) => !shared.includes(k)), 'then the API-only ones, in podToPart order');
  assert.ok(rest.includes('phase') && rest.includes('deleted'), rest.join());
  assert.equal(body.pod.name, 'from-env', 'shared fields keep their precedence');
  const extra = mergeParts({ api: { pod: { ...part.pod, someNewStatusField: 'x' } as never } }, keyMatcher([]));
  assert.equal((extra.pod as Record<string, unknown>).someNewStatusField, 'x');
  assert.equal(mergeParts({ downward: { pod: { name: 'v', labels: { a: '1' } } } }, keyMatcher([])).pod.phase, undefined, 'no API part: none of them');
});
