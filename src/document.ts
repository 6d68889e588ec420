// The metadata document (its public shape is docs/openapi.yaml; README "The document and the endpoints") and the "parts" each source hands to the store.
// A field that no source provides is absent: never null, never an invented "".

export type StringMap = Readonly<Record<string, string>>;

/** Canonical quantity strings plus base-unit numbers, as in the contract's `resources`. */
export interface ResourceValues {
  cpu?: string;
  cpuMillicores?: number;
  memory?: string;
  memoryBytes?: number;
  ephemeralStorage?: string;
  ephemeralStorageBytes?: number;
}

export interface ContainerInfo {
  name: string;
  /** a native sidecar: an init container with restartPolicy Always (absent for regular containers) */
  sidecar?: true;
  image?: string;
  imageID?: string;
  ready?: boolean;
  restartCount?: number;
  /** what the container runs with now: the Pod status when it reports them (after an in-place resize), else the spec */
  resources?: { requests?: StringMap; limits?: StringMap };
}

/** The top-level `resources`: canonical quantity strings plus base-unit numbers. */
export interface Resources {
  requests?: ResourceValues;
  limits?: ResourceValues;
}

export interface OwnerRef {
  kind: string;
  name: string;
}

export interface PodInfo {
  name?: string;
  namespace?: string;
  uid?: string;
  ip?: string;
  ips?: readonly string[];
  serviceAccount?: string;
  labels?: StringMap;
  annotations?: StringMap;
  phase?: string;
  qosClass?: string;
  startTime?: string;
  owner?: OwnerRef;
  workload?: OwnerRef;
  containers?: readonly ContainerInfo[];
  /** an in-place resize is not done yet: the Pod has a PodResizePending / PodResizeInProgress condition */
  resize?: 'Pending' | 'InProgress';
  /** set by the API source when the pod object was deleted */
  deleted?: boolean;
}

export interface NodeInfo {
  name?: string;
  hostIP?: string;
  hostIPs?: readonly string[];
  labels?: StringMap;
}

export interface MetadataDocument {
  revision: number;
  pod: PodInfo;
  node: NodeInfo;
  resources: Resources;
  files?: StringMap;
}

export type ResourceKind = 'cpu' | 'memory' | 'ephemeral-storage';
export type ResourceSide = 'requests' | 'limits';

/**
 * One downward-API resource reading: `ceil(quantity / divisor)` as kubelet reported it, converted back to
 * base units (millicores for cpu, bytes for memory / ephemeral-storage). `granularity` is the divisor in
 * base units (1 for `1m`, 1000 for cores, 1024 for KiB, ...): the smaller, the finer; the finer one wins.
 */
export interface ResourceReading {
  kind: ResourceKind;
  side: ResourceSide;
  base: number;
  granularity: number;
}

/** What one source contributes. Sources never see the merged document: they hand parts to the store. */
export interface SourcePart {
  pod?: PodInfo;
  node?: NodeInfo;
  readings?: readonly ResourceReading[];
  /** (API) the PODMETA_CONTAINER's current resources; while present they replace the downward readings */
  resources?: Resources;
  files?: StringMap;
}

/**
 * The Node label keys a pod carries itself: since Kubernetes 1.35 (KEP-4742, PodTopologyLabelsAdmission,
 * beta and on) the API server copies them from the Node onto the Pod's labels at binding.
 */
export const POD_TOPOLOGY_KEYS: readonly string[] = ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region'];

export type SourceName = 'env' | 'downward' | 'api' | 'node';

export type SourceState = 'ok' | 'disabled' | 'missing' | 'degraded' | 'error';

export interface SourceStatus {
  state: SourceState;
  /** ISO time of the last state change */
  since: string;
  /** present whenever state is not ok/disabled */
  error?: { message: string; hint: string; reason?: string };
  /** extra fields, never secrets: downward {dir, files, kubeletLayout, withheld?, problems?}; node {mode: watch|get|pod-labels, …};
   * api/node when not reading {why, missing?} */
  detail?: Readonly<Record<string, unknown>>;
}

/** Drop the fields that are undefined: a field no source provides is absent, never null or "". */
export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
