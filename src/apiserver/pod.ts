// Pod JSON (core/v1) → the 'api' SourcePart. Pure. Absent stays absent: a field the Pod does not carry is
// left out, never null or "".
//
// workload, derived from the controller ownerReference without any further read:
//   ReplicaSet R with the pod label pod-template-hash=H and R = "<d>-H"  → Deployment d
//   ReplicaSet otherwise (bare ReplicaSet, Argo Rollout, …)             → the ReplicaSet itself
//   StatefulSet / DaemonSet / ReplicationController / other             → the owner itself
//   Job "<c>-<n>" whose number n is a CronJob schedule time in minutes since the epoch (how the CronJob
//     controller names Jobs) within [n, n + 7 days] of the pod's creation                → CronJob c
//   Job otherwise                                                       → the Job
// The CronJob rule cannot tell a hand-made Job named like "backup-29000000" created in that very minute
// from a CronJob's; that collision is judged acceptable (no extra read, no extra RBAC).

import { compact } from '../document.js';
import type { ContainerInfo, NodeInfo, OwnerRef, PodInfo, ResourceKind, ResourceReading, Resources, SourcePart, StringMap } from '../document.js';
import { parseQuantity, resourcesFromReadings } from '../quantity.js';
import { putKey } from '../keys.js';
import type { KubeObject } from './watch.js';

interface Quantities {
  [name: string]: string;
}

interface ResourceRequirements {
  requests?: Quantities;
  limits?: Quantities;
}

interface ContainerSpec {
  name?: string;
  image?: string;
  resources?: ResourceRequirements;
  /** init containers only: "Always" makes it a native sidecar */
  restartPolicy?: string;
}

interface PodSpec {
  nodeName?: string;
  serviceAccountName?: string;
  containers?: ContainerSpec[];
  initContainers?: ContainerSpec[];
}

interface ContainerStatus {
  name?: string;
  image?: string;
  imageID?: string;
  ready?: boolean;
  restartCount?: number;
  /** what the runtime reports the container runs with (follows an in-place resize) */
  resources?: ResourceRequirements;
  /** requests the node allocated to the container */
  allocatedResources?: Quantities;
}

interface PodStatus {
  phase?: string;
  qosClass?: string;
  startTime?: string;
  podIP?: string;
  podIPs?: { ip?: string }[];
  hostIP?: string;
  hostIPs?: { ip?: string }[];
  conditions?: { type?: string; status?: string }[];
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

const CRONJOB_WINDOW_MIN = 7 * 24 * 60;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function stringMap(v: unknown): StringMap {
  const out = {} as Record<string, string>;
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'string') putKey(out, k, x);
  }
  return out;
}

function ips(list: { ip?: string }[] | undefined): string[] | undefined {
  const out = (Array.isArray(list) ? list : []).map((e) => str(e?.ip)).filter((x): x is string => x !== undefined);
  return out.length > 0 ? out : undefined;
}

/** The workload behind the controller owner (see the header comment). */
export function deriveWorkload(owner: OwnerRef | undefined, labels: StringMap, creationTimestamp?: string): OwnerRef | undefined {
  if (!owner) return undefined;
  if (owner.kind === 'ReplicaSet') {
    const hash = labels['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`) && owner.name.length > hash.length + 1) {
      return { kind: 'Deployment', name: owner.name.slice(0, -(hash.length + 1)) };
    }
    return owner;
  }
  if (owner.kind === 'Job') {
    const m = /^(.+)-(\d{1,12})$/.exec(owner.name);
    const created = creationTimestamp ? Date.parse(creationTimestamp) : NaN;
    if (m && !Number.isNaN(created)) {
      const scheduledMin = Number(m[2]);
      const createdMin = Math.floor(created / 60_000);
      if (createdMin >= scheduledMin && createdMin - scheduledMin <= CRONJOB_WINDOW_MIN) return { kind: 'CronJob', name: m[1]! };
    }
    return owner;
  }
  return owner;
}

function quantityMap(v: unknown): StringMap | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const m = stringMap(v);
  return Object.keys(m).length > 0 ? m : undefined;
}

/**
 * What a container runs with now: the status's `resources` when the kubelet reports them (they follow an
 * in-place resize); else the requests the node allocated (`allocatedResources`) with the spec's limits;
 * else the spec (the desired values).
 */
function currentResources(c: ContainerSpec, st: ContainerStatus | undefined): { requests?: StringMap; limits?: StringMap } {
  const reported = st?.resources && typeof st.resources === 'object' ? st.resources : undefined;
  const requests = quantityMap(reported ? reported.requests : st?.allocatedResources ?? c.resources?.requests);
  const limits = quantityMap(reported ? reported.limits : c.resources?.limits);
  return compact({ requests, limits });
}

interface Listed {
  info: ContainerInfo;
  current: { requests?: StringMap; limits?: StringMap };
}

/** Regular containers, then native sidecars (init containers with restartPolicy Always); plain init containers are not listed. */
function listContainers(spec: PodSpec, status: PodStatus): Listed[] {
  const byName = (list: ContainerStatus[] | undefined) => new Map((Array.isArray(list) ? list : []).filter((s) => s?.name).map((s) => [s.name!, s]));
  const regular = byName(status.containerStatuses);
  const init = byName(status.initContainerStatuses);
  const specs = [
    ...(Array.isArray(spec.containers) ? spec.containers : []).map((c) => [c, regular, false] as const),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []).filter((c) => c?.restartPolicy === 'Always').map((c) => [c, init, true] as const),
  ];
  const out: Listed[] = [];
  for (const [c, statuses, sidecar] of specs) {
    const name = str(c?.name);
    if (!name) continue;
    const st = statuses.get(name);
    const current = currentResources(c, st);
    const info = compact<ContainerInfo>({
      name,
      sidecar: sidecar ? true : undefined,
      image: str(c.image) ?? str(st?.image),
      imageID: str(st?.imageID),
      ready: typeof st?.ready === 'boolean' ? st.ready : undefined,
      restartCount: typeof st?.restartCount === 'number' ? st.restartCount : undefined,
      resources: Object.keys(current).length > 0 ? current : undefined,
    });
    out.push({ info, current });
  }
  return out;
}

const KINDS: readonly ResourceKind[] = ['cpu', 'memory', 'ephemeral-storage'];

/** A container's current requests/limits as the document's `resources` (canonical strings + base units). */
export function resourcesOf(current: { requests?: StringMap; limits?: StringMap }): Resources {
  const readings: ResourceReading[] = [];
  for (const side of ['requests', 'limits'] as const) {
    for (const kind of KINDS) {
      const text = current[side]?.[kind];
      const base = text === undefined ? undefined : parseQuantity(kind, text);
      if (base !== undefined) readings.push({ kind, side, base, granularity: 1 });
    }
  }
  return resourcesFromReadings(readings);
}

/** pod.resize from the Pod conditions: Pending wins (a request not yet admitted) over InProgress. */
function resizeState(status: PodStatus): PodInfo['resize'] {
  const on = (type: string) => (Array.isArray(status.conditions) ? status.conditions : []).some((c) => c?.type === type && c.status === 'True');
  if (on('PodResizePending')) return 'Pending';
  if (on('PodResizeInProgress')) return 'InProgress';
  return undefined;
}

export interface PodPartOptions {
  /** include labels and annotations (only while the pod watch is healthy) */
  includeMeta: boolean;
  /** the pod object was deleted */
  deleted?: boolean;
  /** PODMETA_CONTAINER: its current resources become the part's `resources` (only with includeMeta) */
  container?: string | undefined;
}

export function podToPart(pod: KubeObject, { includeMeta, deleted = false, container }: PodPartOptions): SourcePart {
  const meta = pod.metadata ?? {};
  const spec = (pod.spec ?? {}) as PodSpec;
  const status = (pod.status ?? {}) as PodStatus;
  const labels = stringMap(meta.labels);
  const ctl = (meta.ownerReferences ?? []).find((r) => r?.controller === true && str(r.kind) && str(r.name));
  const owner: OwnerRef | undefined = ctl ? { kind: ctl.kind!, name: ctl.name! } : undefined;
  const listed = listContainers(spec, status);
  const podInfo: PodInfo = compact<PodInfo>({
    name: str(meta.name),
    namespace: str(meta.namespace),
    uid: str(meta.uid),
    ip: str(status.podIP),
    ips: ips(status.podIPs),
    serviceAccount: str(spec.serviceAccountName),
    labels: includeMeta ? labels : undefined,
    annotations: includeMeta ? stringMap(meta.annotations) : undefined,
    phase: str(status.phase),
    qosClass: str(status.qosClass),
    startTime: str(status.startTime),
    owner,
    workload: deriveWorkload(owner, labels, meta.creationTimestamp),
    containers: listed.length > 0 ? listed.map((l) => l.info) : undefined,
    resize: resizeState(status),
    deleted: deleted ? true : undefined,
  });
  const node: NodeInfo = compact<NodeInfo>({
    name: str(spec.nodeName),
    hostIP: str(status.hostIP),
    hostIPs: ips(status.hostIPs),
  });
  const part: SourcePart = { pod: podInfo };
  if (Object.keys(node).length > 0) part.node = node;
  const own = includeMeta && container !== undefined ? listed.find((l) => l.info.name === container) : undefined;
  if (own) part.resources = resourcesOf(own.current);
  return part;
}

/** spec.nodeName of a Pod object, if set. */
export function nodeNameOf(pod: KubeObject | undefined): string | undefined {
  return str((pod?.spec as PodSpec | undefined)?.nodeName);
}

/** spec.serviceAccountName as "ns/name", if set. */
export function serviceAccountOfPod(pod: KubeObject | undefined): string | undefined {
  const sa = str((pod?.spec as PodSpec | undefined)?.serviceAccountName);
  const ns = str(pod?.metadata?.namespace);
  return sa && ns ? `${ns}/${sa}` : undefined;
}

/** The names pod.containers lists (regular containers, then native sidecars). */
export function containerNames(pod: KubeObject): string[] {
  return listContainers((pod.spec ?? {}) as PodSpec, (pod.status ?? {}) as PodStatus).map((l) => l.info.name);
}
