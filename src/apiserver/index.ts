// The API server source: reads and watches the agent's own Pod (→ 'api' part) and its Node's labels
// (→ 'node' part) at O(1) cost per pod. See docs/rbac.md for RBAC and the measured request rates.

import { join } from 'node:path';
import type { SourcePart, SourceStatus, StringMap } from '../document.js';
import type { Logger } from '../log.js';
import { readServiceAccount, TokenSource } from './credentials.js';
import { apiOff, credentialsMissing, credentialsUnusable, nodeLabelsEmpty, nodeNameUnknown, podUnknown } from './hints.js';
import { NodeSource } from './node-source.js';
import { PodSource } from './pod-source.js';
import { STARTING, StatusReporter } from './status.js';
import type { StatusSink } from '../status.js';
import { resolveTiming, type ApiTiming } from './timing.js';
import { apiBaseUrl, Transport } from './transport.js';
import { nodeNameOf } from './pod.js';
import { nodeReadNeeded, topologyOnPod } from './topology.js';

/** PODMETA_API=on but no usable in-cluster credentials / service address. */
export class ApiConfigError extends Error {
  override readonly name = 'ApiConfigError';
}

export interface ApiMetrics {
  request?(resource: 'pod' | 'node', verb: 'list' | 'watch' | 'get', code: number | 'error'): void;
  watchRestart?(resource: 'pod' | 'node'): void;
  relist?(resource: 'pod' | 'node'): void;
  event?(resource: 'pod' | 'node', type: string): void;
}

export interface ApiSourceOptions {
  mode: 'auto' | 'on' | 'off';
  /** PODMETA_SA_DIR */
  saDir: string;
  /** KUBERNETES_SERVICE_HOST / _PORT (injected, never read from process.env here) */
  serviceHost?: string;
  servicePort?: string;
  podName?: string;
  /** falls back to saDir/namespace */
  namespace?: string;
  /** else spec.nodeName of the pod once read */
  nodeName?: string;
  /** exact keys, or prefixes ending in '/' or '*'; [] = never read the Node */
  nodeLabels: readonly string[];
  /** PODMETA_NODE_LABELS was left unset (the default list): see topology.ts for what that changes */
  nodeLabelsDefault?: boolean;
  /** the pod's labels as the local sources (downwardAPI volume) know them at start */
  podLabels?: StringMap;
  /** PODMETA_CONTAINER: the app container whose current resources become the top-level `resources` */
  container?: string;
  log: Logger;
  onPart(source: 'api' | 'node', part: SourcePart | undefined): void;
  /** the owner of the sources' statuses (the agent's store) … */
  statuses?: StatusSink;
  /** … or, on their own (tests), a callback on every change */
  onStatus?(source: 'api' | 'node', status: SourceStatus): void;
  metrics?: ApiMetrics;
  timing?: Partial<ApiTiming>;
  /** User-Agent sent to the API server */
  userAgent?: string;
}

export interface ApiSource {
  /** resolves quickly (does not wait for the network); mode 'on' without credentials rejects with ApiConfigError */
  start(): Promise<void>;
  /** aborts watches and timers, destroys the agent; resolves promptly */
  stop(): Promise<void>;
  readonly transport: Transport | undefined;
}

/** https://host:port from the service variables, or a message naming the bad one (never throws). */
function serviceUrl(host: string, port: string | undefined): URL | string {
  if (port !== undefined && !/^\d{1,5}$/.test(port.trim())) return `KUBERNETES_SERVICE_PORT=${JSON.stringify(port)} is not a port number`;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `KUBERNETES_SERVICE_PORT=${port} is out of range 1-65535`;
  try {
    return apiBaseUrl(host, port?.trim());
  } catch {
    return `KUBERNETES_SERVICE_HOST=${JSON.stringify(host)} is not a host name or address`;
  }
}

export function createApiSource(opts: ApiSourceOptions): ApiSource {
  const timing = resolveTiming(opts.timing);
  const { log } = opts;
  const ac = new AbortController();
  const tasks: Promise<void>[] = [];
  const report = (source: 'api' | 'node', status: SourceStatus): void => opts.onStatus?.(source, status);
  const apiStatus = new StatusReporter('api', opts.statuses ?? report, log, timing.now);
  const nodeStatus = new StatusReporter('node', opts.statuses ?? report, log, timing.now);
  let transport: Transport | undefined;
  let tokens: TokenSource | undefined;
  let nodeStarted = false;
  let nodeName = opts.nodeName;
  let podLabels = opts.podLabels;
  /** the Pod object was seen, or it cannot be read: the pod's labels are as known as they will get */
  let podSettled = false;

  const spawn = (what: string, run: () => Promise<void>, status: StatusReporter): void => {
    tasks.push(
      run().catch((err: unknown) => {
        log.error(`${what} stopped by an unexpected error`, { err });
        status.set('error', { reason: 'InternalError', message: `${what} stopped: ${(err as Error)?.message ?? String(err)}`, hint: 'a bug in podmeta; please report it with the log' });
      }),
    );
  };

  /** what the pod and the node source share */
  const common = (t: Transport, tk: TokenSource, source: 'api' | 'node') => ({
    transport: t,
    timing,
    signal: ac.signal,
    metrics: opts.metrics,
    saDir: opts.saDir,
    serviceAccount: () => tk.serviceAccount(),
    status: source === 'api' ? apiStatus : nodeStatus,
    onPart: (part: SourcePart | undefined) => opts.onPart(source, part),
  });

  /** start the Node watch once the node name is known and a configured key needs the Node itself */
  const maybeStartNode = (namespace: string): void => {
    if (nodeStarted || ac.signal.aborted || !transport || !tokens || opts.nodeLabels.length === 0) return;
    if (nodeName === undefined) return;
    if (!podSettled) return; // wait for the Pod (the freshest labels; they may carry the topology keys)
    if (!nodeReadNeeded(opts.nodeLabels, podLabels, opts.nodeLabelsDefault ?? false)) {
      nodeStatus.set('ok', undefined, { mode: 'pod-labels', keys: topologyOnPod(podLabels) });
      return;
    }
    startNode(nodeName, namespace);
  };

  const startNode = (name: string, namespace: string): void => {
    if (!transport || !tokens) return;
    nodeStarted = true;
    nodeStatus.set('degraded', STARTING);
    const node = new NodeSource({ ...common(transport, tokens, 'node'), name, labels: opts.nodeLabels, namespace });
    spawn('node source', () => node.run(), nodeStatus);
  };

  return {
    get transport(): Transport | undefined {
      return transport;
    },

    async start(): Promise<void> {
      if (opts.mode === 'off') {
        apiStatus.set('disabled', apiOff(), { why: 'PODMETA_API=off' });
        nodeStatus.set('disabled', apiOff(), { why: 'PODMETA_API=off' });
        return;
      }
      const problems: string[] = [];
      if (!opts.serviceHost) problems.push('KUBERNETES_SERVICE_HOST is not set');
      if (!opts.servicePort) problems.push('KUBERNETES_SERVICE_PORT is not set');
      const sa = await readServiceAccount(opts.saDir);
      problems.push(...sa.problems);
      const baseUrl = opts.serviceHost ? serviceUrl(opts.serviceHost, opts.servicePort) : undefined;
      if (typeof baseUrl === 'string') problems.push(baseUrl);
      if (problems.length > 0 || !sa.token || !sa.ca || !(baseUrl instanceof URL)) {
        if (opts.mode === 'on') {
          throw new ApiConfigError(
            `PODMETA_API=on but the in-cluster API access is incomplete: ${problems.join('; ')}. ` +
              `Mount the service-account token (automountServiceAccountToken: true) at PODMETA_SA_DIR, or set PODMETA_API=auto/off`,
          );
        }
        // nothing mounted and no service address: the ordinary opt-out. Anything else is a broken setup.
        const absent = problems.every((p) => / does not exist$| is not set$/.test(p));
        const detail = { why: 'PODMETA_API=auto and no usable in-cluster credentials', missing: problems };
        const [state, error] = absent ? (['disabled', credentialsMissing(opts.saDir, problems)] as const) : (['error', credentialsUnusable(opts.saDir, problems)] as const);
        apiStatus.set(state, error, detail);
        nodeStatus.set(state, error, detail);
        return;
      }
      tokens = new TokenSource(join(opts.saDir, 'token'), sa.token, log);
      tokens.start(timing.tokenRefreshMs);
      transport = new Transport({ baseUrl, ca: sa.ca, tokens, userAgent: opts.userAgent ?? 'podmeta', saDir: opts.saDir, caRefreshMs: timing.tokenRefreshMs, log });
      const namespace = opts.namespace ?? sa.namespace;
      const podReadable = opts.podName !== undefined && namespace !== undefined;
      if (opts.podName === undefined) apiStatus.set('error', podUnknown('name', opts.saDir));
      else if (namespace === undefined) apiStatus.set('error', podUnknown('namespace', opts.saDir));
      else {
        apiStatus.set('degraded', STARTING);
        const pod = new PodSource({
          ...common(transport, tokens, 'api'),
          namespace,
          name: opts.podName,
          ...(opts.container !== undefined ? { container: opts.container } : {}),
          onPod: (pod) => {
            nodeName ??= nodeNameOf(pod);
            podLabels = pod.metadata?.labels ?? {};
            podSettled = true;
            maybeStartNode(namespace);
          },
          onTrouble: () => {
            if (podSettled) return;
            podSettled = true; // the pod cannot be read: decide from what the volume says
            maybeStartNode(namespace);
          },
        });
        spawn('pod source', () => pod.run(), apiStatus);
      }
      if (!podReadable) podSettled = true;
      if (opts.nodeLabels.length === 0) nodeStatus.set('disabled', nodeLabelsEmpty(), { why: 'PODMETA_NODE_LABELS is empty' });
      else if (nodeName === undefined && !podReadable) nodeStatus.set('error', nodeNameUnknown());
      else {
        nodeStatus.set('degraded', { ...STARTING, message: nodeName === undefined ? 'waiting for spec.nodeName from the pod' : 'waiting for the pod\'s labels (they may carry the topology labels)' });
        maybeStartNode(namespace ?? '');
      }
    },

    async stop(): Promise<void> {
      ac.abort();
      tokens?.stop();
      while (tasks.length > 0) await Promise.allSettled(tasks.splice(0));
      transport?.destroy();
    },
  };
}
