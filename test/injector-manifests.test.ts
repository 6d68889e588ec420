// k8s/components/injector (and ./without-cert-manager): rendered with the real kubectl, validated against the
// Kubernetes schemas (cert-manager's kinds structurally: kubernetes-models has no schema for them), and checked
// for the webhook settings the established injectors learned; each check is shown to fail on a broken copy.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { K8S, REPO, id, kustomize, schemaProblems, type K8sObject } from './support/manifests.js';
import { restrictedProblems } from './support/pod-security.js';

type Obj = Record<string, any>;
const DIR = path.join(K8S, 'components', 'injector');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const CONTROL_PLANE = ['kube-system', 'kube-public', 'kube-node-lease'];

let withCm: K8sObject[];
let withoutCm: K8sObject[];
before(async () => {
  [withCm, withoutCm] = await Promise.all([kustomize(DIR), kustomize(path.join(DIR, 'without-cert-manager'))]);
});

const one = (objs: readonly K8sObject[], kind: string): Obj => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Obj;
};

/** Everything wrong with a rendered injector; [] when all is well. */
function injectorProblems(objs: readonly K8sObject[], { certManager }: { certManager: boolean }): string[] {
  const out: string[] = [];
  const find = (kind: string) => objs.filter((o) => o.kind === kind) as Obj[];
  const [d] = find('Deployment');
  const [svc] = find('Service');
  const [whc] = find('MutatingWebhookConfiguration');
  const [pdb] = find('PodDisruptionBudget');
  if (!d || !svc || !whc || !pdb) return ['missing Deployment, Service, MutatingWebhookConfiguration or PodDisruptionBudget'];
  const ns = d.metadata.namespace as string;
  const pod = d.spec.template;
  const c = (pod.spec.containers as Obj[]).find((x) => x.name === 'injector');
  if (!c) return ['no injector container'];
  // the workload
  if (d.spec.replicas < 2) out.push('Deployment: at least 2 replicas');
  for (const p of restrictedProblems({ spec: pod.spec })) out.push(`Deployment: Pod Security restricted: ${p}`);
  if (c.securityContext?.readOnlyRootFilesystem !== true) out.push('injector: readOnlyRootFilesystem');
  if (pod.spec.automountServiceAccountToken !== false) out.push('Deployment: no service-account token (the webhook never calls the API)');
  if (pod.metadata.labels?.['podmeta.io/inject'] !== 'false') out.push('Deployment: the injector must opt itself out');
  if (JSON.stringify(c.command) !== JSON.stringify(['/usr/local/bin/node', '--disable-sigusr1', '/app/dist/injector.js']))
    out.push('injector: command must be /usr/local/bin/node --disable-sigusr1 /app/dist/injector.js');
  if (c.image !== `podmeta:${VERSION}`) out.push(`injector: image ${c.image} is not podmeta:${VERSION}`);
  const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
  if (env.PODMETA_INJECTOR_IMAGE !== c.image) out.push('PODMETA_INJECTOR_IMAGE must be the injector image');
  for (const [probe, p] of [['readinessProbe', '/readyz'], ['livenessProbe', '/livez']] as const)
    if (c[probe]?.httpGet?.scheme !== 'HTTPS' || c[probe]?.httpGet?.path !== p || c[probe]?.httpGet?.port !== 'https') out.push(`injector: ${probe} must be HTTPS ${p} on port https`);
  if (!(c.ports as Obj[]).some((p) => p.name === 'https' && p.containerPort === 8443)) out.push('injector: port https 8443');
  if (!c.resources?.limits?.memory || !c.resources?.requests?.cpu) out.push('injector: resources');
  const tls = (pod.spec.volumes as Obj[]).find((v) => v.secret)?.secret?.secretName;
  if (!(c.volumeMounts as Obj[]).some((m) => m.mountPath === '/etc/podmeta-injector/tls' && m.readOnly === true && !m.subPath)) out.push('injector: the TLS Secret mounted read-only, whole (no subPath: it must see renewals)');
  // no RBAC at all
  for (const o of objs) if (/Role/.test(o.kind)) out.push(`${id(o)}: the injector needs no RBAC`);
  if (!objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.spec.serviceAccountName)) out.push('the ServiceAccount is not rendered');
  // availability
  if (pdb.spec.minAvailable !== 1 || !isDeepStrictEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels)) out.push('PodDisruptionBudget: minAvailable 1 over the injector pods');
  if (!isDeepStrictEqual(svc.spec.selector, d.spec.selector.matchLabels)) out.push('Service must select the injector pods');
  if (svc.spec.ports?.[0]?.targetPort !== 'https') out.push('Service targets the https port');
  // the webhook
  if (whc.webhooks.length !== 1) out.push('one webhook');
  const w = whc.webhooks[0] ?? {};
  if (w.failurePolicy !== 'Ignore') out.push('webhook: failurePolicy Ignore');
  if (!(w.timeoutSeconds <= 5)) out.push('webhook: timeoutSeconds <= 5');
  if (w.sideEffects !== 'None') out.push('webhook: sideEffects None');
  if (w.reinvocationPolicy !== 'IfNeeded') out.push('webhook: reinvocationPolicy IfNeeded');
  if (JSON.stringify(w.admissionReviewVersions) !== '["v1"]') out.push('webhook: admissionReviewVersions [v1]');
  if (!isDeepStrictEqual(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]))
    out.push('webhook: rules must be CREATE of pods only');
  if (!isDeepStrictEqual(w.objectSelector, { matchLabels: { 'podmeta.io/inject': 'true' } })) out.push('webhook: objectSelector on podmeta.io/inject=true');
  const excluded = (w.namespaceSelector?.matchExpressions ?? []).find((e: Obj) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn')?.values ?? [];
  for (const n of [...CONTROL_PLANE, ns]) if (!excluded.includes(n)) out.push(`webhook: namespaceSelector must exclude ${n}`);
  const s = w.clientConfig?.service ?? {};
  if (s.name !== svc.metadata.name || s.namespace !== ns || s.path !== '/mutate' || s.port !== 443) out.push('webhook: clientConfig.service must be the Service, path /mutate, port 443');
  if (w.clientConfig?.caBundle !== undefined || w.clientConfig?.url !== undefined) out.push('webhook: no caBundle (or url) rendered');
  const inject = whc.metadata.annotations?.['cert-manager.io/inject-ca-from'];
  const certs = find('Certificate');
  if (certManager) {
    const serving = certs.find((x) => x.spec.secretName === tls);
    if (!serving) out.push(`no Certificate for the Secret ${tls}`);
    else {
      if (inject !== `${ns}/${serving.metadata.name}`) out.push(`cert-manager.io/inject-ca-from must be ${ns}/${serving.metadata.name}, got ${inject}`);
      for (const dns of [`${svc.metadata.name}.${ns}.svc`]) if (!serving.spec.dnsNames?.includes(dns)) out.push(`Certificate: dnsNames must include ${dns}`);
      const issuer = objs.find((o) => o.kind === serving.spec.issuerRef.kind && o.metadata.name === serving.spec.issuerRef.name) as Obj | undefined;
      if (!issuer) out.push('Certificate: its issuer is not rendered');
      else if (issuer.spec.ca && !certs.some((x) => x.spec.isCA && x.spec.secretName === issuer.spec.ca.secretName)) out.push('the CA Issuer has no CA Certificate');
    }
    for (const o of [...certs, ...find('Issuer')]) if (o.apiVersion !== 'cert-manager.io/v1' || o.metadata.namespace !== ns) out.push(`${id(o as K8sObject)}: cert-manager.io/v1 in ${ns}`);
  } else {
    if (inject !== undefined) out.push('without cert-manager: no inject-ca-from annotation');
    if (objs.some((o) => o.apiVersion.startsWith('cert-manager.io/'))) out.push('without cert-manager: no cert-manager objects');
  }
  return out;
}

describe('k8s/components/injector', () => {
  it('renders the webhook, its workload and its certificate', () => {
    assert.deepEqual(withCm.map(id).sort(), [
      'Certificate/podmeta-injector',
      'Certificate/podmeta-injector-ca',
      'Deployment/podmeta-injector',
      'Issuer/podmeta-injector-ca',
      'Issuer/podmeta-injector-selfsigned',
      'MutatingWebhookConfiguration/podmeta-injector',
      'Namespace/podmeta-system',
      'PodDisruptionBudget/podmeta-injector',
      'Service/podmeta-injector',
      'ServiceAccount/podmeta-injector',
    ]);
    assert.deepEqual(withoutCm.map(id).sort(), withCm.map(id).filter((n) => !/^(Certificate|Issuer)\//.test(n)).sort());
    assert.equal(one(withCm, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  it('passes the Kubernetes schemas (cert-manager kinds are checked structurally above)', async () => {
    const problems = (await Promise.all([...withCm, ...withoutCm].filter((o) => !o.apiVersion.startsWith('cert-manager.io/')).map(schemaProblems))).flat();
    assert.deepEqual(problems, []);
  });

  it('has every property, with and without cert-manager', () => {
    assert.deepEqual(injectorProblems(withCm, { certManager: true }), []);
    assert.deepEqual(injectorProblems(withoutCm, { certManager: false }), []);
  });

  const webhook = (o: K8sObject[]) => one(o, 'MutatingWebhookConfiguration').webhooks[0] as Obj;
  const dep = (o: K8sObject[]) => one(o, 'Deployment');
  const mutations: Array<[string, (o: K8sObject[]) => void, RegExp]> = [
    ['failurePolicy Fail', (o) => void (webhook(o).failurePolicy = 'Fail'), /failurePolicy Ignore/],
    ['long timeout', (o) => void (webhook(o).timeoutSeconds = 10), /timeoutSeconds <= 5/],
    ['UPDATE too', (o) => void webhook(o).rules[0].operations.push('UPDATE'), /CREATE of pods only/],
    ['no objectSelector', (o) => void delete webhook(o).objectSelector, /objectSelector/],
    ['kube-system not excluded', (o) => void webhook(o).namespaceSelector.matchExpressions[0].values.shift(), /exclude kube-system/],
    ['own namespace not excluded', (o) => void webhook(o).namespaceSelector.matchExpressions[0].values.pop(), /exclude podmeta-system/],
    ['a caBundle rendered', (o) => void (webhook(o).clientConfig.caBundle = 'Zm9v'), /no caBundle/],
    ['reinvocation Never', (o) => void (webhook(o).reinvocationPolicy = 'Never'), /IfNeeded/],
    ['sideEffects Some', (o) => void (webhook(o).sideEffects = 'Some'), /sideEffects None/],
    ['one replica', (o) => void (dep(o).spec.replicas = 1), /2 replicas/],
    ['root', (o) => void (dep(o).spec.template.spec.securityContext.runAsNonRoot = false), /restricted: container injector: runAsNonRoot/],
    ['token mounted', (o) => void (dep(o).spec.template.spec.automountServiceAccountToken = true), /no service-account token/],
    ['plain HTTP probe', (o) => void delete dep(o).spec.template.spec.containers[0].readinessProbe.httpGet.scheme, /readinessProbe must be HTTPS/],
    ['wrong injected image', (o) => void (dep(o).spec.template.spec.containers[0].env[0].value = 'podmeta:0.0.1'), /PODMETA_INJECTOR_IMAGE/],
    ['a Role', (o) => void o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'x' } }), /needs no RBAC/],
    ['CA annotation names another namespace', (o) => void (one(o, 'MutatingWebhookConfiguration').metadata.annotations['cert-manager.io/inject-ca-from'] = 'default/podmeta-injector'), /inject-ca-from must be podmeta-system\/podmeta-injector/],
    ['certificate for another service', (o) => void (o.find((x) => x.metadata.name === 'podmeta-injector' && x.kind === 'Certificate') as Obj).spec.dnsNames.splice(0, 2, 'x.svc'), /dnsNames must include podmeta-injector\.podmeta-system\.svc/],
  ];
  for (const [name, mutate, expected] of mutations)
    it(`the checker catches: ${name}`, () => {
      const objs = structuredClone(withCm);
      mutate(objs);
      assert.notDeepEqual(objs, withCm);
      assert.match(injectorProblems(objs, { certManager: true }).join('\n'), expected);
    });
});
