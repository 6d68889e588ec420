// Status messages and fix hints: each hint says what to change, e.g. for a 403 the exact RBAC rule and the
// ServiceAccount to bind it to (from the Status message, else the token's claims, else the pod spec).
// Nothing here ever includes the token.

import type { StatusError } from '../status.js';
import type { ApiRequestError } from './transport.js';
import type { Resource, Verb } from './watch.js';


export interface HintContext {
  resource: Resource;
  verb: Verb;
  namespace: string;
  /** pod name (resource pod) or node name (resource node) */
  name: string;
  saDir: string;
  baseUrl: string;
  /** ServiceAccount as "ns/name", when known from the token or the pod */
  serviceAccount?: string | undefined;
}

const SA_IN_MESSAGE = /User "system:serviceaccount:([^:"]+):([^"]+)"/;

/** "ns/name" of the ServiceAccount: from a Forbidden message first, else the fallback. */
export function serviceAccountOf(err: ApiRequestError, fallback: string | undefined): string | undefined {
  const m = SA_IN_MESSAGE.exec(err.info.status?.message ?? err.message);
  return m ? `${m[1]}/${m[2]}` : fallback;
}

function splitSa(sa: string | undefined, namespace: string): { ns: string; name: string } {
  const [ns, name] = sa?.includes('/') ? sa.split('/', 2) : [namespace, sa];
  return { ns: ns || namespace, name: name || '<service-account>' };
}

const VERBS = '["get","list","watch"]';

export function forbiddenHint(ctx: HintContext, err: ApiRequestError): StatusError {
  const { ns: saNs, name: saName } = splitSa(serviceAccountOf(err, ctx.serviceAccount), ctx.namespace);
  const detail = err.info.status?.message ?? err.message;
  if (ctx.resource === 'pod') {
    return {
      reason: 'Forbidden',
      message: `RBAC denies "${ctx.verb}" on pods in namespace "${ctx.namespace}": ${detail}`,
      hint:
        `Role in namespace "${ctx.namespace}" needs: apiGroups [""], resources ["pods"], verbs ${VERBS}; ` +
        `bind it to ServiceAccount ${saNs}/${saName} ` +
        `(the "${ctx.verb}" request was refused). E.g. kubectl -n ${ctx.namespace} create role podmeta --verb=get,list,watch --resource=pods ` +
        `&& kubectl -n ${ctx.namespace} create rolebinding podmeta --role=podmeta --serviceaccount=${saNs}:${saName}. ` +
        `Or set PODMETA_API=off to use only the downward API.`,
    };
  }
  const getOnly = ctx.verb === 'get';
  return {
    reason: 'Forbidden',
    message: `RBAC denies "${ctx.verb}" on nodes (cluster-scoped): ${detail}`,
    hint:
      `ClusterRole needs: apiGroups [""], resources ["nodes"], verbs ${getOnly ? '["get"] (at least; add "list","watch" for live updates)' : VERBS}; ` +
      `bind it with a ClusterRoleBinding to ServiceAccount ${saNs}/${saName} ` +
      `(the "${ctx.verb}" request was refused). E.g. kubectl create clusterrole podmeta-nodes --verb=get,list,watch --resource=nodes ` +
      `&& kubectl create clusterrolebinding podmeta-nodes-${saNs}-${saName} --clusterrole=podmeta-nodes --serviceaccount=${saNs}:${saName}. ` +
      (getOnly ? '' : `With "get" alone podmeta reads the Node once per 10 minutes. `) +
      `Or set PODMETA_NODE_LABELS= (empty) to never read the Node.`,
  };
}

export function podNotFound(namespace: string, name: string): StatusError {
  return {
    reason: 'NotFound',
    message: `pod "${name}" not found in namespace "${namespace}"`,
    hint:
      `is the pod name right? Set POD_NAME from the downward API (env: - name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}) ` +
      `and POD_NAMESPACE from metadata.namespace, or mount a downwardAPI volume item podName / pod/name; ` +
      `podmeta keeps watching and picks the pod up if it appears`,
  };
}

export function nodeNotFound(name: string): StatusError {
  return {
    reason: 'NotFound',
    message: `node "${name}" not found`,
    hint: `is the node name right? Set NODE_NAME from the downward API (env: - name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}), or leave it unset so podmeta takes spec.nodeName from its pod`,
  };
}

export function podUnknown(what: 'name' | 'namespace', saDir: string): StatusError {
  return {
    reason: 'PodUnknown',
    message: `the pod's ${what} is unknown, so the pod cannot be read from the API server`,
    hint:
      what === 'name'
        ? `set POD_NAME from the downward API (env: - name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}) or mount a downwardAPI volume item podName / pod/name`
        : `set POD_NAMESPACE (valueFrom: {fieldRef: {fieldPath: metadata.namespace}}), or mount the service-account volume so ${saDir}/namespace exists`,
  };
}

export function nodeNameUnknown(): StatusError {
  return {
    reason: 'NodeUnknown',
    message: `the node name is unknown, so node labels cannot be read`,
    hint: `set NODE_NAME (env valueFrom: {fieldRef: {fieldPath: spec.nodeName}}), or let podmeta read its own pod (it takes spec.nodeName from there)`,
  };
}

export function podDeleted(namespace: string, name: string): StatusError {
  return {
    reason: 'PodDeleted',
    message: `pod ${namespace}/${name} was deleted; serving its last known state`,
    hint: 'the pod is shutting down; nothing to fix unless the pod keeps running (then check POD_NAME)',
  };
}

export function nodeDeleted(name: string): StatusError {
  return {
    reason: 'NodeDeleted',
    message: `node "${name}" was deleted; serving its last known labels`,
    hint: 'the node is being removed; nothing to fix unless this persists (then check NODE_NAME)',
  };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'Timeout']);

/** Message + hint for a request failure. */
export function describeFailure(ctx: HintContext, err: ApiRequestError, tokenPath: string): StatusError {
  const code = err.info.httpCode;
  const what = ctx.resource === 'pod' ? `pod ${ctx.namespace}/${ctx.name}` : `node ${ctx.name}`;
  if (err.kind === 'tls') {
    return {
      reason: 'TLSVerifyFailed',
      message: `the API server's certificate at ${ctx.baseUrl} does not verify against ${ctx.saDir}/ca.crt (${err.info.reason ?? 'verify failed'}: ${err.message}); the token was not sent`,
      hint:
        `${ctx.saDir}/ca.crt must be the cluster CA (the kube-root-ca.crt that the default service-account volume mounts); ` +
        `check that KUBERNETES_SERVICE_HOST points at the API server itself (not a TLS-intercepting proxy) and that its certificate lists that address`,
    };
  }
  if (code === 403) return forbiddenHint(ctx, err);
  if (code === 401) {
    return {
      reason: 'Unauthorized',
      message: `the API server rejected the service-account token (401) even after re-reading ${tokenPath}`,
      hint:
        `the token is expired or not valid for this cluster: mount kubelet's projected token (automountServiceAccountToken, no stale copy), ` +
        `make sure the ServiceAccount still exists; restarting the pod issues a fresh token`,
    };
  }
  if (code === 404) {
    if (ctx.resource === 'node') return nodeNotFound(ctx.name);
    return {
      reason: 'NotFound',
      message: `${ctx.verb} ${what}: ${err.message}`,
      hint: 'the API server does not serve /api/v1 here: is KUBERNETES_SERVICE_HOST the Kubernetes API server?',
    };
  }
  if (code === 410) {
    return {
      reason: 'Expired',
      message: `the watch of ${what} keeps answering "too old resource version" right after a relist`,
      hint: 'an API server with a lagging watch cache; podmeta relists with backoff, nothing to fix unless this persists',
    };
  }
  if (code === 429 || (code !== undefined && code >= 500)) {
    return {
      reason: err.info.reason ?? (code === 429 ? 'TooManyRequests' : 'InternalError'),
      message: `the API server answered ${code} to ${ctx.verb} ${what}: ${err.message}`,
      hint: 'the API server is overloaded or restarting; podmeta retries with backoff and honours Retry-After. If it persists, check the API server health and API Priority and Fairness',
    };
  }
  if (code !== undefined) {
    return { reason: err.info.reason ?? `HTTP${code}`, message: `${ctx.verb} ${what} failed with ${code}: ${err.message}`, hint: 'unexpected answer; podmeta retries with backoff' };
  }
  if (err.info.reason === 'WatchSilent') {
    return {
      reason: 'WatchSilent',
      message: `the watch of ${what} went silent (${err.message}); reconnecting`,
      hint: 'something on the path (NAT, conntrack, load balancer) dropped the long-lived connection without closing it; podmeta reconnects by itself. If frequent, raise the idle timeout on the path to the API server',
    };
  }
  if (err.info.reason === 'WatchClosed') {
    return {
      reason: 'WatchClosed',
      message: `the watch of ${what} ended right after it started, without any event; retrying with backoff`,
      hint: 'usually an API server restarting or a proxy/load balancer closing streams; nothing to fix unless it persists (then check what sits between the pod and the API server)',
    };
  }
  if (err.kind === 'network' || err.kind === 'timeout') {
    const r = err.info.reason ?? err.kind;
    return {
      reason: 'Unreachable',
      message: `cannot reach the API server at ${ctx.baseUrl} (${r})`,
      hint:
        (UNREACHABLE.has(r) ? '' : `(${err.message}) `) +
        `check KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and that NetworkPolicies allow egress to the API server; podmeta retries with backoff`,
    };
  }
  return {
    reason: err.info.reason ?? 'BadResponse',
    message: `unexpected answer from the API server to ${ctx.verb} ${what}: ${err.message}`,
    hint: 'is KUBERNETES_SERVICE_HOST really the API server (not a proxy that buffers or alters watch streams)? podmeta retries with backoff',
  };
}

export function credentialsMissing(saDir: string, problems: readonly string[]): StatusError {
  return {
    reason: 'NoCredentials',
    message: `PODMETA_API=auto and no in-cluster credentials: ${problems.join('; ')}`,
    hint:
      `nothing to fix if the pod should not use the API server. To enrich the document from it, mount the service-account token ` +
      `(automountServiceAccountToken: true) at ${saDir} (PODMETA_SA_DIR) and run in a cluster (KUBERNETES_SERVICE_HOST/PORT); ` +
      `set PODMETA_API=off to make the opt-out explicit`,
  };
}

export function credentialsUnusable(saDir: string, problems: readonly string[]): StatusError {
  return {
    reason: 'CredentialsUnusable',
    message: `PODMETA_API=auto but the in-cluster API access is broken: ${problems.join('; ')}`,
    hint:
      `the service-account volume at ${saDir} (PODMETA_SA_DIR) must hold readable token and ca.crt files: check the volume mount, ` +
      `the container's user (runAsUser / fsGroup must be able to read the projected files) and PODMETA_SA_DIR; ` +
      `KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT are set by Kubernetes and must not be overridden with other values. ` +
      `Set PODMETA_API=off to use only the downward API`,
  };
}

export function containerUnknown(container: string, names: readonly string[]): StatusError {
  return {
    reason: 'ContainerUnknown',
    message: `PODMETA_CONTAINER=${container} names no container of this pod (it has: ${names.join(', ') || 'none'}); resources show the downward values`,
    hint: `set PODMETA_CONTAINER to the app container's name (one of: ${names.join(', ') || 'none'}), or unset it`,
  };
}

/** PODMETA_API=off: disabled on purpose — still a message and a hint (the contract: anything not ok has both). */
export function apiOff(): StatusError {
  return {
    reason: 'Off',
    message: 'PODMETA_API=off: the API server is never contacted',
    hint: 'nothing to fix if the pod should not use the API server; set PODMETA_API=auto (or on) and mount the service-account token to add phase, owner, workload, containers and node labels',
  };
}

/** PODMETA_NODE_LABELS is empty: the Node is never read. */
export function nodeLabelsEmpty(): StatusError {
  return {
    reason: 'NoNodeLabels',
    message: 'PODMETA_NODE_LABELS is empty: the Node is never read',
    hint: 'nothing to fix if node labels are not wanted; unset PODMETA_NODE_LABELS (the default list) or name the label keys to copy into node.labels',
  };
}
