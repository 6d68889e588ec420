// k8s/: every kustomization renders with the real kubectl, every object passes the Kubernetes schemas and strict
// field names, and the security properties hold. Each check is also shown to fail on a broken copy.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { ISubject } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Subject';
import {
  FIELD_ENV,
  K8S,
  REPO,
  envValue,
  id,
  kustomize,
  podSpecOf,
  renderOverlay,
  schemaProblems,
  securityProblems,
  sidecarOf,
  type K8sObject,
} from './support/manifests.js';

const find = (objs: readonly K8sObject[], kind: string, name: string): K8sObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} rendered (got ${objs.map(id).join(', ')})`);
  return o;
};
const kinds = (objs: readonly K8sObject[]) => objs.map(id).sort();
const clone = <T>(v: T): T => structuredClone(v);
const specOf = (o: K8sObject): IPodSpec => {
  const s = podSpecOf(o);
  assert.ok(s, `${id(o)} has a pod spec`);
  return s;
};
const sidecar = (o: K8sObject): IContainer => {
  const c = sidecarOf(specOf(o));
  assert.ok(c, `${id(o)} has the podmeta sidecar`);
  return c;
};
const app = (o: K8sObject): IContainer => {
  const c = specOf(o).containers.find((x) => x.name === 'app');
  assert.ok(c, `${id(o)} has the app container`);
  return c;
};

async function assertSchemaValid(objs: readonly K8sObject[]): Promise<void> {
  const problems = (await Promise.all(objs.map(schemaProblems))).flat();
  assert.deepEqual(problems, []);
}

let base: K8sObject[];
let full: K8sObject[];
let examples: K8sObject[];

before(async () => {
  [base, full, examples] = await Promise.all([
    kustomize(K8S),
    renderOverlay({ namespace: 'team-a', components: ['components/node-labels', 'components/proxy'] }),
    kustomize(path.join(K8S, 'examples')),
  ]);
});

describe('kustomize renders', () => {
  it('the base: ServiceAccount, Role, RoleBinding and the example Deployment', () => {
    assert.deepEqual(kinds(base), [
      'Deployment/podmeta-example',
      'Role/podmeta',
      'RoleBinding/podmeta',
      'ServiceAccount/podmeta',
    ]);
  });

  it('every podmeta image is tagged with the package version', async () => {
    const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const o of [...base, ...full, ...examples]) {
      const spec = podSpecOf(o);
      if (spec) assert.equal(sidecarOf(spec)?.image, `podmeta:${version}`, id(o));
    }
  });

  it('the base with both components in a namespace', () => {
    assert.deepEqual(kinds(full), [
      'ClusterRole/podmeta-node-reader',
      'ClusterRoleBinding/podmeta-node-reader',
      'Deployment/podmeta-example',
      'Role/podmeta',
      'RoleBinding/podmeta',
      'ServiceAccount/podmeta',
    ]);
    for (const o of full) if (!o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, 'team-a', id(o));
  });

  it('each component on its own', async () => {
    const [nodes, proxy] = await Promise.all([
      renderOverlay({ components: ['components/node-labels'] }),
      renderOverlay({ components: ['components/proxy'] }),
    ]);
    assert.ok(nodes.some((o) => o.kind === 'ClusterRole'));
    assert.equal(envValue(sidecar(find(nodes, 'Deployment', 'podmeta-example')), 'PODMETA_PROXY_LISTEN'), undefined);
    assert.ok(!proxy.some((o) => o.kind.startsWith('Cluster')));
    assert.equal(envValue(sidecar(find(proxy, 'Deployment', 'podmeta-example')), 'PODMETA_PROXY_LISTEN'), '127.0.0.1:8001');
    assert.equal(envValue(sidecar(find(proxy, 'Deployment', 'podmeta-example')), 'PODMETA_NODE_LABELS'), '');
    await assertSchemaValid([...nodes, ...proxy]);
    assert.deepEqual(securityProblems(nodes), []);
    assert.deepEqual(securityProblems(proxy), []);
  });

  it('the examples: env-metadata and downward pods', () => {
    assert.deepEqual(kinds(examples), ['Pod/downward', 'Pod/env-metadata']);
  });

  it('a broken kustomization is reported, not rendered as empty', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'podmeta-broken-'));
    try {
      await writeFile(path.join(dir, 'kustomization.yaml'), 'resources:\n  - missing.yaml\n');
      await assert.rejects(kustomize(dir), /kubectl kustomize .* failed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('every rendered object passes the Kubernetes schemas', () => {
  it('base, components and examples', async () => {
    await assertSchemaValid([...base, ...full, ...examples]);
  });

  it('the validator rejects broken objects', async () => {
    const d = clone(find(base, 'Deployment', 'podmeta-example'));
    const badPort = clone(d);
    (sidecar(badPort).ports![0] as { containerPort: unknown }).containerPort = '9978';
    assert.match((await schemaProblems(badPort)).join('\n'), /containerPort must be integer/);

    const noName = clone(d);
    delete (app(noName) as Partial<IContainer>).name;
    assert.match((await schemaProblems(noName)).join('\n'), /must have required property .?name/);

    const typo = clone(d);
    const sc = sidecar(typo).securityContext as Record<string, unknown>;
    sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
    delete sc.readOnlyRootFilesystem;
    assert.match(
      (await schemaProblems(typo)).join('\n'),
      /initContainers\[0\]\.securityContext\.readOnlyRootFileSystem: unknown field/,
    );

    const wrongKind = { ...clone(d), kind: 'Deploymnet' };
    assert.match((await schemaProblems(wrongKind)).join('\n'), /no schema for apps\/v1 Deploymnet/);
  });
});

describe('security and correctness properties', () => {
  it('hold for everything rendered', () => {
    assert.deepEqual(securityProblems(base), []);
    assert.deepEqual(securityProblems(full), []);
    assert.deepEqual(securityProblems(examples), []);
  });

  it('the base: native sidecar, identity env, probes, volume, token, resources in one place', () => {
    const d = find(base, 'Deployment', 'podmeta-example');
    const spec = specOf(d);
    const pm = sidecar(d);
    assert.equal(pm.restartPolicy, 'Always');
    assert.equal(spec.serviceAccountName, 'podmeta');
    assert.equal(spec.automountServiceAccountToken, true);
    assert.deepEqual(
      spec.securityContext && {
        runAsNonRoot: spec.securityContext.runAsNonRoot,
        runAsUser: spec.securityContext.runAsUser,
        runAsGroup: spec.securityContext.runAsGroup,
        seccomp: spec.securityContext.seccompProfile?.type,
      },
      { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccomp: 'RuntimeDefault' },
    );
    // every identity variable of the contract (SERVICE_ACCOUNT_NAME is the alternative spelling)
    const fieldEnv = Object.fromEntries(
      (pm.env ?? []).filter((e) => e.valueFrom?.fieldRef).map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]),
    );
    const { SERVICE_ACCOUNT_NAME: _alt, ...wanted } = FIELD_ENV;
    assert.deepEqual(fieldEnv, wanted);
    // the base grants no node access, so it must not try to read the Node
    assert.equal(envValue(pm, 'PODMETA_NODE_LABELS'), '');
    // probes on 9978, the metadata port not declared
    assert.deepEqual(pm.ports, [{ name: 'probes', containerPort: 9978, protocol: 'TCP' }]);
    assert.equal(pm.startupProbe?.httpGet?.path, '/readyz');
    assert.equal(pm.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(pm.livenessProbe?.httpGet?.path, '/livez');
    // the downwardAPI volume: whole directory at /etc/podinfo, labels/annotations/identity/resources of `app`
    assert.deepEqual(pm.volumeMounts, [{ name: 'podinfo', mountPath: '/etc/podinfo', readOnly: true }]);
    const items = spec.volumes?.find((v) => v.name === 'podinfo')?.downwardAPI?.items ?? [];
    assert.deepEqual(
      items.map((i) => [i.path, i.fieldRef?.fieldPath ?? `${i.resourceFieldRef?.containerName}:${i.resourceFieldRef?.resource}/${i.resourceFieldRef?.divisor}`]),
      [
        ['podName', 'metadata.name'],
        ['podNamespace', 'metadata.namespace'],
        ['podUid', 'metadata.uid'],
        ['labels', 'metadata.labels'],
        ['annotations', 'metadata.annotations'],
        ['containerCpuRequestMilliCores', 'app:requests.cpu/1m'],
        ['containerCpuLimitMilliCores', 'app:limits.cpu/1m'],
        ['containerMemoryRequestKibibytes', 'app:requests.memory/1Ki'],
        ['containerMemoryLimitKibibytes', 'app:limits.memory/1Ki'],
      ],
    );
    // the app polls podmeta with the required header
    assert.match((app(d).args ?? []).join('\n'), /curl -sS -H 'Metadata: true' http:\/\/127\.0\.0\.1:9977\/metadata/);
    // the examples run podmeta with exactly the base's resources (one place to size it)
    for (const p of examples) assert.deepEqual(sidecar(p).resources, pm.resources, id(p));
    assert.deepEqual(pm.resources, { requests: { cpu: '10m', memory: '96Mi' }, limits: { cpu: '100m', memory: '160Mi' } });
  });

  it('RBAC: pods get/list/watch in the namespace; nodes only with the component; bindings follow the namespace', () => {
    const role = find(full, 'Role', 'podmeta');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const cr = find(full, 'ClusterRole', 'podmeta-node-reader');
    assert.deepEqual(cr.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    for (const name of ['RoleBinding/podmeta', 'ClusterRoleBinding/podmeta-node-reader']) {
      const b = full.find((o) => id(o) === name)!;
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'podmeta', namespace: 'team-a' }], name);
    }
    const pm = sidecar(find(full, 'Deployment', 'podmeta-example'));
    assert.equal(envValue(pm, 'PODMETA_PROXY_LISTEN'), '127.0.0.1:8001');
    assert.match(envValue(pm, 'PODMETA_NODE_LABELS') ?? '', /^topology\.kubernetes\.io\/zone,/);
    assert.equal(pm.env?.filter((e) => e.name === 'PODMETA_NODE_LABELS').length, 1);
    // no write verb and no secrets anywhere
    for (const o of [...base, ...full])
      for (const r of (o.rules as IPolicyRule[] | undefined) ?? []) {
        assert.ok(r.verbs.every((v) => ['get', 'list', 'watch'].includes(v)), id(o));
        assert.ok(!(r.resources ?? []).some((x) => x.includes('secret') || x === '*'), id(o));
      }
  });

  it('a namePrefix overlay keeps every reference intact', async () => {
    const objs = await renderOverlay({ namespace: 'ns1', namePrefix: 'x-', components: ['components/node-labels'] });
    assert.deepEqual(securityProblems(objs), []);
    assert.equal(specOf(find(objs, 'Deployment', 'x-podmeta-example')).serviceAccountName, 'x-podmeta');
    assert.deepEqual((find(objs, 'ClusterRoleBinding', 'x-podmeta-node-reader').subjects as ISubject[])[0], {
      kind: 'ServiceAccount',
      name: 'x-podmeta',
      namespace: 'ns1',
    });
  });

  it('the examples read from podmeta with the header, without the API', () => {
    for (const p of examples) {
      const pm = sidecar(p);
      assert.equal(envValue(pm, 'PODMETA_API'), 'off', id(p));
      assert.equal(specOf(p).automountServiceAccountToken, false, id(p));
      assert.match((app(p).args ?? []).join('\n'), /curl -sS -H 'Metadata: true' .*http:\/\/127\.0\.0\.1:9977\/metadata\//, id(p));
    }
    const downward = find(examples, 'Pod', 'downward');
    assert.deepEqual(downward.metadata.labels, { zone: 'us-est-coast', cluster: 'test-cluster1', rack: 'rack-22' });
    assert.match((app(downward).args ?? []).join('\n'), /metadata\/pod\/labels\?format=text/);
    const env = find(examples, 'Pod', 'env-metadata');
    assert.match((app(env).args ?? []).join('\n'), /metadata\/\$1\?format=text/);
    assert.equal(envValue(sidecar(env), 'POD_NAME'), undefined); // it comes from a fieldRef, not a value
  });

  // Each mutation breaks one property of the rendered base; the checker must name it.
  const mutations: Array<[string, (objs: K8sObject[]) => void, RegExp]> = [
    ['sidecar without restartPolicy', (o) => void delete sidecar(dep(o)).restartPolicy, /native sidecar: restartPolicy Always/],
    [
      'sidecar as a regular container',
      (o) => {
        const s = specOf(dep(o));
        s.containers.push(sidecar(dep(o)));
        s.initContainers = [];
      },
      /native sidecar \(in initContainers\)/,
    ],
    ['root user', (o) => void (specOf(dep(o)).securityContext!.runAsUser = 0), /numeric non-root uid/],
    ['runAsNonRoot off', (o) => void (specOf(dep(o)).securityContext!.runAsNonRoot = false), /runAsNonRoot must be true/],
    ['seccomp unconfined', (o) => void (specOf(dep(o)).securityContext!.seccompProfile = { type: 'Unconfined' }), /seccompProfile must be RuntimeDefault/],
    ['writable root fs', (o) => void (app(dep(o)).securityContext!.readOnlyRootFilesystem = false), /container app: readOnlyRootFilesystem/],
    ['privilege escalation', (o) => void delete sidecar(dep(o)).securityContext!.allowPrivilegeEscalation, /allowPrivilegeEscalation must be false/],
    ['capabilities kept', (o) => void (sidecar(dep(o)).securityContext!.capabilities = { drop: [] }), /capabilities must drop ALL/],
    ['capability added', (o) => void (app(dep(o)).securityContext!.capabilities!.add = ['NET_RAW']), /must not add capabilities/],
    ['host network', (o) => void (specOf(dep(o)).hostNetwork = true), /host namespaces/],
    ['probe on the metadata port', (o) => void (sidecar(dep(o)).livenessProbe!.httpGet!.port = 9977), /livenessProbe must use the probe port 9978/],
    ['readiness on /livez', (o) => void (sidecar(dep(o)).readinessProbe!.httpGet!.path = '/livez'), /readinessProbe path/],
    ['no startupProbe', (o) => void delete sidecar(dep(o)).startupProbe, /needs a startupProbe/],
    ['metadata port exposed', (o) => void sidecar(dep(o)).ports!.push({ containerPort: 9977 }), /only the probe port/],
    ['listen on all interfaces', (o) => void sidecar(dep(o)).env!.push({ name: 'PODMETA_LISTEN', value: '0.0.0.0:9977' }), /must stay on loopback/],
    ['header off', (o) => void sidecar(dep(o)).env!.push({ name: 'PODMETA_REQUIRE_HEADER', value: 'false' }), /REQUIRE_HEADER/],
    [
      'wrong fieldPath',
      (o) => void (sidecar(dep(o)).env!.find((e) => e.name === 'POD_IP')!.valueFrom!.fieldRef!.fieldPath = 'status.hostIP'),
      /POD_IP must come from status\.podIP/,
    ],
    [
      'secret in env',
      (o) => void sidecar(dep(o)).env!.push({ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }),
      /must not come from a Secret/,
    ],
    ['volume via subPath', (o) => void (sidecar(dep(o)).volumeMounts![0]!.subPath = 'labels'), /subPath never receives updates/],
    ['volume not mounted', (o) => void (sidecar(dep(o)).volumeMounts = []), /does not mount the downwardAPI volume/],
    ['volume writable', (o) => void delete sidecar(dep(o)).volumeMounts![0]!.readOnly, /mounted readOnly/],
    [
      'divisor that loses precision',
      (o) => void (downwardItem(o, 'containerCpuRequestMilliCores').resourceFieldRef!.divisor = '1'),
      /says divisor 1m but the divisor is 1/,
    ],
    [
      'resource file without a unit',
      (o) => void (downwardItem(o, 'containerMemoryLimitKibibytes').path = 'mem_limit'),
      /mem_limit: the name must state its unit/,
    ],
    [
      'resource of an unknown container',
      (o) => void (downwardItem(o, 'containerCpuLimitMilliCores').resourceFieldRef!.containerName = 'nope'),
      /existing containerName/,
    ],
    ['no memory limit', (o) => void delete sidecar(dep(o)).resources!.limits!.memory, /resources\.limits\.memory/],
    ['latest image', (o) => void (app(dep(o)).image = 'curlimages/curl:latest'), /must be pinned/],
    ['write verb', (o) => void (rules(o, 'Role')[0]!.verbs = ['get', 'list', 'watch', 'patch']), /verb patch is not read-only/],
    ['secrets', (o) => void rules(o, 'Role')[0]!.resources!.push('secrets'), /must not grant access to secrets/],
    ['wildcard', (o) => void (rules(o, 'Role')[0]!.resources = ['*']), /must not grant core\/\*/],
    ['cluster-wide pods', (o) => void (rules(o, 'ClusterRole')[0]!.resources = ['pods', 'configmaps']), /must not grant core\/configmaps/],
    [
      'binding to another namespace',
      (o) => void ((o.find((x) => x.kind === 'ClusterRoleBinding')!.subjects as ISubject[])[0]!.namespace = 'default'),
      /subject namespace default differs/,
    ],
    [
      'binding to a missing role',
      (o) => void ((o.find((x) => x.kind === 'RoleBinding')!.roleRef as { name: string }).name = 'nope'),
      /roleRef Role\/nope/,
    ],
  ];
  const dep = (objs: K8sObject[]) => find(objs, 'Deployment', 'podmeta-example');
  const rules = (objs: K8sObject[], kind: string) => objs.find((o) => o.kind === kind)!.rules as IPolicyRule[];
  const downwardItem = (objs: K8sObject[], p: string) => {
    const item = specOf(dep(objs))
      .volumes?.find((v) => v.downwardAPI)
      ?.downwardAPI?.items?.find((i) => i.path === p);
    assert.ok(item, `downward item ${p}`);
    return item;
  };

  for (const [name, mutate, expected] of mutations) {
    it(`the checker catches: ${name}`, () => {
      const objs = clone(full);
      mutate(objs);
      assert.notDeepEqual(objs, full, 'the mutation changed something');
      assert.match(securityProblems(objs).join('\n'), expected);
    });
  }
});
