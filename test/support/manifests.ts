// Helpers for test/k8s.test.ts: render kustomizations with kubectl, validate every object against the Kubernetes
// schemas (kubernetes-models) plus strict field names, and check podmeta's security properties.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IPolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { IRoleRef } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleRef';
import type { ISubject } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Subject';
import { createTypeShapes, type TypeShapes } from './type-shapes.js';

const run = promisify(execFile);

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const K8S = path.join(REPO, 'k8s');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export const id = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;

/** Parse multi-document YAML; any syntax error throws. */
export function parseObjects(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    out.push(value as K8sObject);
  }
  return out;
}

/** `kubectl kustomize <dir>` → objects. Rejects with kubectl's message when the kustomization does not build. */
export async function kustomize(dir: string): Promise<K8sObject[]> {
  try {
    const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
    return parseObjects(stdout);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export interface OverlayOptions {
  namespace?: string;
  namePrefix?: string;
  /** directories under k8s/, e.g. '' (the base), 'components/proxy' */
  resources?: string[];
  components?: string[];
}

/** Render a throw-away overlay on top of k8s/ (kustomize wants relative paths to bases and components). */
export async function renderOverlay(opts: OverlayOptions): Promise<K8sObject[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podmeta-overlay-'));
  try {
    const rel = (p: string) => path.relative(dir, path.join(K8S, p)) || '.';
    const lines = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization'];
    if (opts.namespace) lines.push(`namespace: ${opts.namespace}`);
    if (opts.namePrefix) lines.push(`namePrefix: ${opts.namePrefix}`);
    lines.push('resources:', ...(opts.resources ?? ['']).map((r) => `  - ${rel(r)}`));
    if (opts.components?.length) lines.push('components:', ...opts.components.map((c) => `  - ${rel(c)}`));
    await writeFile(path.join(dir, 'kustomization.yaml'), lines.join('\n') + '\n');
    return await kustomize(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema validation

type ModelClass = new (data: unknown) => { validate(): void };

/** kubernetes-models module for an apiVersion + kind: core `v1` → `kubernetes-models/v1/Pod`. */
const modelModule = (o: K8sObject): string => `kubernetes-models/${o.apiVersion}/${o.kind}`;

let shapes: TypeShapes | undefined;
const SHAPE_KINDS = [
  ['v1', 'Pod'],
  ['v1', 'ServiceAccount'],
  ['v1', 'Service'],
  ['v1', 'ConfigMap'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['apps/v1', 'DaemonSet'],
  ['batch/v1', 'Job'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  ['v1', 'Namespace'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy'],
  ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicyBinding'],
] as const;
const alias = (apiVersion: string, kind: string) => `${apiVersion.replace(/[^A-Za-z0-9]/g, '_')}__${kind}`;

function typeShapes(): TypeShapes {
  shapes ??= createTypeShapes(
    Object.fromEntries(
      SHAPE_KINDS.map(([gv, kind]) => [alias(gv, kind), { from: `kubernetes-models/${gv}/${kind}`, name: `I${kind}` }]),
    ),
  );
  return shapes;
}

/**
 * Problems with one object: the JSON schema of its kind (kubernetes-models, Kubernetes 1.27 schemas plus newer
 * fields such as a container's restartPolicy), and — like `kubectl apply` with strict field validation — any field
 * the kind does not declare. An unknown apiVersion/kind is a problem too.
 */
export async function schemaProblems(o: K8sObject): Promise<string[]> {
  let Model: ModelClass | undefined;
  const wellFormed = /^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(String(o.apiVersion)) && /^[A-Z][A-Za-z0-9]*$/.test(String(o.kind));
  try {
    if (!wellFormed) throw new Error('malformed apiVersion/kind');
    const mod = (await import(modelModule(o))) as Record<string, unknown>;
    Model = mod[o.kind] as ModelClass | undefined;
  } catch {
    Model = undefined;
  }
  if (!Model) return [`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  const out: string[] = [];
  try {
    new Model(o).validate();
  } catch (err) {
    out.push(`${id(o)}: ${(err as Error).message}`);
  }
  const known = SHAPE_KINDS.some(([gv, kind]) => gv === o.apiVersion && kind === o.kind);
  if (!known) out.push(`${id(o)}: no field list for ${o.apiVersion} ${o.kind} (add it to SHAPE_KINDS)`);
  else out.push(...typeShapes().unknownFields(o, alias(o.apiVersion, o.kind)).map((p) => `${id(o)}: ${p}`));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Security and correctness properties of podmeta's manifests

export const SIDECAR = 'podmeta';
export const PROBE_PORT = 9978;

/** The env var names the contract reads, and the only fieldPath each may carry. */
export const FIELD_ENV: Readonly<Record<string, string>> = {
  POD_NAME: 'metadata.name',
  POD_NAMESPACE: 'metadata.namespace',
  POD_UID: 'metadata.uid',
  POD_IP: 'status.podIP',
  POD_IPS: 'status.podIPs',
  NODE_NAME: 'spec.nodeName',
  HOST_IP: 'status.hostIP',
  HOST_IPS: 'status.hostIPs',
  SERVICE_ACCOUNT: 'spec.serviceAccountName',
  SERVICE_ACCOUNT_NAME: 'spec.serviceAccountName',
};

const READ_VERBS = new Set(['get', 'list', 'watch']);
/** (apiGroup, resource) pairs podmeta may be granted: its pods, and nodes for node labels. */
const ALLOWED_RESOURCES = new Set(['/pods', '/nodes']);

/** A pod spec inside a workload object, or undefined for non-workloads. */
export function podSpecOf(o: K8sObject): IPodSpec | undefined {
  const spec = o.spec as Record<string, any> | undefined;
  if (!spec) return undefined;
  switch (o.kind) {
    case 'Pod':
      return spec as IPodSpec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return spec.template?.spec as IPodSpec | undefined;
    case 'CronJob':
      return spec.jobTemplate?.spec?.template?.spec as IPodSpec | undefined;
    default:
      return undefined;
  }
}

export function sidecarOf(spec: IPodSpec): IContainer | undefined {
  return spec.initContainers?.find((c) => c.name === SIDECAR);
}

export function envValue(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

const isLoopbackListen = (v: string) => /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/.test(v);

/** A resource file/env name must say its unit, and the unit must be the divisor's (contract: no unit = 1). */
const UNIT_WORDS: ReadonlyArray<[RegExp, string]> = [
  [/milli-?cores?|millicpu/i, '1m'],
  [/kibibytes?|kib(?![a-z])/i, '1Ki'],
  [/mebibytes?|mibibytes?|mib(?![a-z])/i, '1Mi'],
  [/gibibytes?|gib(?![a-z])/i, '1Gi'],
  [/kilobytes?/i, '1k'],
  [/megabytes?/i, '1M'],
  [/gigabytes?/i, '1G'],
  [/bytes?(?![a-z])/i, '1'],
  [/cores?(?![a-z])/i, '1'],
];

function unitProblem(name: string, divisor: unknown): string | undefined {
  if (divisor === undefined) return `${name}: set an explicit divisor (the default 1 loses precision for cpu)`;
  const found = UNIT_WORDS.find(([re]) => re.test(name));
  if (!found) return `${name}: the name must state its unit (e.g. …MilliCores, …Kibibytes) so podmeta can read it`;
  if (String(divisor) !== found[1]) return `${name}: the name says divisor ${found[1]} but the divisor is ${String(divisor)}`;
  return undefined;
}

function probeProblems(where: string, c: IContainer, name: string, probe: IProbe | undefined, paths: string[]): string[] {
  if (!probe) return [`${where}: podmeta needs a ${name}`];
  const get = probe.httpGet;
  if (!get) return [`${where}: podmeta ${name} must be httpGet`];
  const out: string[] = [];
  const port =
    typeof get.port === 'number' ? get.port : c.ports?.find((p) => p.name === get.port)?.containerPort;
  if (port !== PROBE_PORT) out.push(`${where}: podmeta ${name} must use the probe port ${PROBE_PORT} (got ${String(get.port)})`);
  if (!paths.includes(get.path ?? '')) out.push(`${where}: podmeta ${name} path must be one of ${paths.join(', ')}`);
  if (get.scheme !== undefined && get.scheme !== 'HTTP') out.push(`${where}: podmeta ${name} scheme must be HTTP`);
  return out;
}

function containerSecurity(where: string, c: IContainer): string[] {
  const out: string[] = [];
  const sc = c.securityContext;
  const at = `${where} container ${c.name}`;
  if (sc?.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation must be false`);
  if (sc?.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem must be true`);
  if (!sc?.capabilities?.drop?.includes('ALL')) out.push(`${at}: capabilities must drop ALL`);
  if (sc?.capabilities?.add?.length) out.push(`${at}: must not add capabilities`);
  if (sc?.privileged) out.push(`${at}: must not be privileged`);
  if (sc?.runAsUser === 0) out.push(`${at}: must not run as root`);
  if (sc?.runAsNonRoot === false) out.push(`${at}: runAsNonRoot must not be false`);
  if (sc?.seccompProfile && sc.seccompProfile.type !== 'RuntimeDefault') out.push(`${at}: seccomp must be RuntimeDefault`);
  for (const p of c.ports ?? []) if (p.hostPort !== undefined) out.push(`${at}: must not use hostPort`);
  const image = c.image ?? '';
  if (!/@sha256:[0-9a-f]{64}$/.test(image)) {
    const tag = /:([^/:]+)$/.exec(image)?.[1];
    if (!tag || tag === 'latest') out.push(`${at}: image ${image || '(none)'} must be pinned to a tag or digest`);
  }
  return out;
}

function workloadProblems(o: K8sObject, spec: IPodSpec, all: readonly K8sObject[]): string[] {
  const where = id(o);
  const out: string[] = [];
  const psc = spec.securityContext;
  if (psc?.runAsNonRoot !== true) out.push(`${where}: pod securityContext.runAsNonRoot must be true`);
  if (!Number.isInteger(psc?.runAsUser) || (psc?.runAsUser ?? 0) <= 0)
    out.push(`${where}: pod securityContext.runAsUser must be a numeric non-root uid`);
  if (!Number.isInteger(psc?.runAsGroup) || (psc?.runAsGroup ?? 0) <= 0)
    out.push(`${where}: pod securityContext.runAsGroup must be a numeric non-root gid`);
  if (psc?.seccompProfile?.type !== 'RuntimeDefault') out.push(`${where}: pod seccompProfile must be RuntimeDefault`);
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push(`${where}: must not share host namespaces`);
  for (const v of spec.volumes ?? []) if (v.hostPath) out.push(`${where}: must not mount hostPath ${v.name}`);

  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  for (const c of containers) out.push(...containerSecurity(where, c));

  if (spec.containers.some((c) => c.name === SIDECAR))
    out.push(`${where}: podmeta must be a native sidecar (in initContainers), not a regular container`);
  const pm = sidecarOf(spec);
  if (!pm) return [...out, `${where}: no podmeta sidecar in initContainers`];
  if (pm.restartPolicy !== 'Always') out.push(`${where}: podmeta must be a native sidecar: restartPolicy Always`);

  out.push(
    ...probeProblems(where, pm, 'startupProbe', pm.startupProbe, ['/readyz']),
    ...probeProblems(where, pm, 'readinessProbe', pm.readinessProbe, ['/readyz']),
    ...probeProblems(where, pm, 'livenessProbe', pm.livenessProbe, ['/livez', '/healthz']),
  );
  const ports = pm.ports ?? [];
  if (!ports.some((p) => p.containerPort === PROBE_PORT && p.name === 'probes'))
    out.push(`${where}: podmeta must declare containerPort ${PROBE_PORT} named probes`);
  for (const p of ports)
    if (p.containerPort !== PROBE_PORT)
      out.push(`${where}: podmeta must expose only the probe port (found ${p.containerPort}; 9977 and 8001 are loopback)`);

  // env: loopback listeners, the Metadata header, no secrets, contract names with their right field paths
  for (const name of ['PODMETA_LISTEN', 'PODMETA_PROXY_LISTEN']) {
    const v = envValue(pm, name);
    if (v !== undefined && !isLoopbackListen(v)) out.push(`${where}: ${name}=${v} must stay on loopback`);
  }
  const probeListen = envValue(pm, 'PODMETA_PROBE_LISTEN');
  if (probeListen !== undefined && !probeListen.endsWith(`:${PROBE_PORT}`))
    out.push(`${where}: PODMETA_PROBE_LISTEN must keep port ${PROBE_PORT} (the probes use it)`);
  if (/^(false|0|no|off)$/i.test(envValue(pm, 'PODMETA_REQUIRE_HEADER') ?? ''))
    out.push(`${where}: PODMETA_REQUIRE_HEADER must not be turned off`);
  if (pm.envFrom?.length) out.push(`${where}: podmeta must not use envFrom (env may hold secrets)`);
  const names = new Set(containers.map((c) => c.name));
  for (const e of pm.env ?? []) {
    const from = e.valueFrom;
    if (from?.secretKeyRef) out.push(`${where}: podmeta env ${e.name} must not come from a Secret`);
    if (from?.fieldRef) {
      const want = FIELD_ENV[e.name];
      if (want === undefined) out.push(`${where}: env ${e.name} is not a name podmeta reads`);
      else if (from.fieldRef.fieldPath !== want)
        out.push(`${where}: env ${e.name} must come from ${want}, not ${from.fieldRef.fieldPath}`);
    }
    if (from?.resourceFieldRef) {
      const r = from.resourceFieldRef;
      if (r.containerName !== undefined && !names.has(r.containerName))
        out.push(`${where}: env ${e.name} names unknown container ${r.containerName}`);
      const p = unitProblem(e.name, r.divisor);
      if (p) out.push(`${where}: env ${p}`);
    }
  }

  const res = pm.resources;
  for (const side of ['requests', 'limits'] as const)
    for (const r of ['cpu', 'memory'])
      if (res?.[side]?.[r] === undefined) out.push(`${where}: podmeta needs resources.${side}.${r}`);

  // the downwardAPI volume: mounted whole (subPath never updates), read-only, at the dir podmeta watches
  const downwardDir = envValue(pm, 'PODMETA_DOWNWARD_DIR') ?? '/etc/podinfo';
  for (const v of spec.volumes ?? []) {
    if (!v.downwardAPI) continue;
    const mounts = pm.volumeMounts?.filter((m) => m.name === v.name) ?? [];
    if (mounts.length === 0) out.push(`${where}: podmeta does not mount the downwardAPI volume ${v.name}`);
    for (const m of mounts) {
      if (m.subPath !== undefined || m.subPathExpr !== undefined)
        out.push(`${where}: downwardAPI volume ${v.name} mounted with subPath never receives updates`);
      if (m.readOnly !== true) out.push(`${where}: downwardAPI volume ${v.name} must be mounted readOnly`);
      if (m.mountPath !== downwardDir)
        out.push(`${where}: downwardAPI volume ${v.name} is mounted at ${m.mountPath}, podmeta reads ${downwardDir}`);
    }
    for (const item of v.downwardAPI.items ?? []) {
      const r = item.resourceFieldRef;
      if (!r) continue;
      if (!r.containerName || !names.has(r.containerName))
        out.push(`${where}: downwardAPI item ${item.path} must name an existing containerName`);
      const p = unitProblem(item.path, r.divisor);
      if (p) out.push(`${where}: downwardAPI item ${p}`);
    }
  }
  // the ServiceAccount it runs as must exist when the manifests create any
  const sa = spec.serviceAccountName;
  if (sa && all.some((x) => x.kind === 'ServiceAccount') && !all.some((x) => x.kind === 'ServiceAccount' && x.metadata.name === sa))
    out.push(`${where}: serviceAccountName ${sa} is not among the rendered ServiceAccounts`);
  return out;
}

function rbacProblems(o: K8sObject, all: readonly K8sObject[]): string[] {
  const where = id(o);
  const out: string[] = [];
  if (o.kind === 'Role' || o.kind === 'ClusterRole') {
    if (o.aggregationRule) out.push(`${where}: must not aggregate other roles`);
    for (const rule of (o.rules as IPolicyRule[] | undefined) ?? []) {
      for (const v of rule.verbs) if (!READ_VERBS.has(v)) out.push(`${where}: verb ${v} is not read-only`);
      if (rule.nonResourceURLs?.length) out.push(`${where}: must not grant nonResourceURLs`);
      for (const g of rule.apiGroups ?? [''])
        for (const r of rule.resources ?? []) {
          if (r.includes('secrets')) out.push(`${where}: must not grant access to secrets`);
          else if (!ALLOWED_RESOURCES.has(`${g}/${r}`)) out.push(`${where}: must not grant ${g || 'core'}/${r}`);
        }
    }
  }
  if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
    const ref = o.roleRef as IRoleRef;
    if (!all.some((x) => x.kind === ref.kind && x.metadata.name === ref.name))
      out.push(`${where}: roleRef ${ref.kind}/${ref.name} is not among the rendered roles`);
    if (o.kind === 'RoleBinding' && ref.kind === 'ClusterRole')
      out.push(`${where}: bind a namespaced Role, not a ClusterRole`);
    for (const s of (o.subjects as ISubject[] | undefined) ?? []) {
      if (s.kind !== 'ServiceAccount') out.push(`${where}: subject ${s.kind}/${s.name} must be a ServiceAccount`);
      const sa = all.find((x) => x.kind === 'ServiceAccount' && x.metadata.name === s.name);
      if (!sa) out.push(`${where}: subject ServiceAccount ${s.name} is not among the rendered ServiceAccounts`);
      const bindingNs = o.kind === 'RoleBinding' ? o.metadata.namespace : undefined;
      const subjectNs = s.namespace ?? bindingNs;
      if (o.kind === 'ClusterRoleBinding' && !s.namespace)
        out.push(`${where}: a ClusterRoleBinding subject needs a namespace`);
      if (sa && (sa.metadata.namespace ?? 'default') !== (subjectNs ?? sa.metadata.namespace ?? 'default'))
        out.push(`${where}: subject namespace ${subjectNs} differs from ServiceAccount namespace ${sa.metadata.namespace ?? 'default'}`);
    }
  }
  return out;
}

/** Every security/correctness problem in a rendered set of objects; [] when all is well. */
export function securityProblems(all: readonly K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of all) {
    const spec = podSpecOf(o);
    if (spec) out.push(...workloadProblems(o, spec, all));
    out.push(...rbacProblems(o, all));
  }
  return out;
}
