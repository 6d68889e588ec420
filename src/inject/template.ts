// What podmeta adds to a pod: the native sidecar, the downwardAPI volume it watches, and the env var that tells
// app containers where it is. The same spec k8s/deployment.yaml writes by hand (test/inject.test.ts compares
// them), except that the security context is complete on the container itself: an injected pod's own
// securityContext is the user's, so podmeta cannot lean on it and still passes Pod Security `restricted`.

export const SIDECAR_NAME = 'podmeta';
export const VOLUME_NAME = 'podinfo';
export const DOWNWARD_DIR = '/etc/podinfo';
export const PODMETA_URL = { name: 'PODMETA_URL', value: 'http://127.0.0.1:9977' } as const;
export const UID = 65532;

const REQUESTS = { cpu: '10m', memory: '96Mi' } as const;
const LIMITS = { cpu: '100m', memory: '160Mi' } as const;
/** The sidecar's resources (README "Memory budget": sized from a passing soak; the soak checks its peak against the limit). */
export const SIDECAR_RESOURCES = { requests: REQUESTS, limits: LIMITS } as const;

const IDENTITY: ReadonlyArray<[string, string]> = [
  ['POD_NAME', 'metadata.name'],
  ['POD_NAMESPACE', 'metadata.namespace'],
  ['POD_UID', 'metadata.uid'],
  ['POD_IP', 'status.podIP'],
  ['POD_IPS', 'status.podIPs'],
  ['NODE_NAME', 'spec.nodeName'],
  ['HOST_IP', 'status.hostIP'],
  ['HOST_IPS', 'status.hostIPs'],
  ['SERVICE_ACCOUNT', 'spec.serviceAccountName'],
];

export interface SidecarOptions {
  image: string;
  volumeName: string;
  /** agent variables from the pod's annotations (PODMETA_NODE_LABELS defaults to "": no Node read, no ClusterRole) */
  settings: ReadonlyArray<{ name: string; value: string }>;
  /** requests = limits, to keep a Guaranteed pod Guaranteed */
  guaranteed: boolean;
}

export function sidecar({ image, volumeName, settings, guaranteed }: SidecarOptions): Record<string, unknown> {
  const env: Array<Record<string, unknown>> = IDENTITY.map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { fieldPath } } }));
  if (!settings.some((s) => s.name === 'PODMETA_NODE_LABELS')) env.push({ name: 'PODMETA_NODE_LABELS', value: '' });
  for (const s of settings) env.push({ name: s.name, value: s.value });
  const httpGet = (path: string) => ({ path, port: 'probes' });
  return {
    name: SIDECAR_NAME,
    image,
    imagePullPolicy: 'IfNotPresent',
    restartPolicy: 'Always',
    env,
    ports: [{ name: 'probes', containerPort: 9978, protocol: 'TCP' }],
    startupProbe: { httpGet: httpGet('/readyz'), periodSeconds: 1, failureThreshold: 30 },
    readinessProbe: { httpGet: httpGet('/readyz'), periodSeconds: 10, failureThreshold: 3 },
    livenessProbe: { httpGet: httpGet('/livez'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    resources: { requests: { ...(guaranteed ? LIMITS : REQUESTS) }, limits: { ...LIMITS } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      runAsUser: UID,
      runAsGroup: UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // the whole directory, never subPath: a subPath mount never receives updates
    volumeMounts: [{ name: volumeName, mountPath: DOWNWARD_DIR, readOnly: true }],
  };
}

/** The downwardAPI volume: identity, live labels/annotations, and `container`'s resources in precise units. */
export function downwardVolume(name: string, container: string): Record<string, unknown> {
  const field = (path: string, fieldPath: string) => ({ path, fieldRef: { fieldPath } });
  const resource = (path: string, r: string, divisor: string) => ({ path, resourceFieldRef: { containerName: container, resource: r, divisor } });
  return {
    name,
    downwardAPI: {
      items: [
        field('podName', 'metadata.name'),
        field('podNamespace', 'metadata.namespace'),
        field('podUid', 'metadata.uid'),
        field('labels', 'metadata.labels'),
        field('annotations', 'metadata.annotations'),
        resource('containerCpuRequestMilliCores', 'requests.cpu', '1m'),
        resource('containerCpuLimitMilliCores', 'limits.cpu', '1m'),
        resource('containerMemoryRequestKibibytes', 'requests.memory', '1Ki'),
        resource('containerMemoryLimitKibibytes', 'limits.memory', '1Ki'),
      ],
    },
  };
}
