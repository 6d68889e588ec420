// Merge the sources' parts into one document body (without revision). Pure.
// Precedence: identity fields env > volume > API (all agree in practice; the local sources are there
// first). Labels/annotations: the API part carries them only while its watch is healthy, and then wins;
// otherwise the volume. Resources: the API part's (PODMETA_CONTAINER's current values, sent only while the
// watch is healthy) win; otherwise the downward readings, the finer one winning (see quantity.ts).
// node.labels: the Node's selected labels, with topology.kubernetes.io/zone and /region taken from the
// pod's own labels when the pod carries them (KEP-4742 copies them at binding; see docs/rbac.md) and
// PODMETA_NODE_LABELS selects them. Excluded annotations never appear. Absent stays absent: no null, no
// invented "".

import { compact, POD_TOPOLOGY_KEYS, type MetadataDocument, type NodeInfo, type PodInfo, type SourceName, type SourcePart, type StringMap } from './document.js';
import { putKey, type KeyMatch } from './keys.js';
import { resourcesFromReadings } from './quantity.js';

export type Parts = Partial<Record<SourceName, SourcePart | undefined>>;
export type DocumentBody = Omit<MetadataDocument, 'revision'>;

function first<K extends keyof PodInfo>(key: K, ...pods: (PodInfo | undefined)[]): PodInfo[K] | undefined {
  for (const p of pods) if (p?.[key] !== undefined) return p[key];
  return undefined;
}

function firstNode<K extends keyof NodeInfo>(key: K, ...nodes: (NodeInfo | undefined)[]): NodeInfo[K] | undefined {
  for (const n of nodes) if (n?.[key] !== undefined) return n[key];
  return undefined;
}

function without(map: StringMap | undefined, drop: (k: string) => boolean): StringMap | undefined {
  if (map === undefined) return undefined;
  const out = {} as Record<string, string>;
  for (const k of Object.keys(map)) if (!drop(k)) putKey(out, k, map[k]!);
  return out;
}

/** The Node's labels plus the selected topology keys from the pod's own labels (the pod wins); sorted. */
function nodeLabels(fromNode: StringMap | undefined, podLabels: StringMap | undefined, select: KeyMatch): StringMap | undefined {
  const fromPod = POD_TOPOLOGY_KEYS.filter((k) => select(k) && podLabels !== undefined && Object.hasOwn(podLabels, k));
  if (fromPod.length === 0) return fromNode;
  const all = { ...fromNode } as Record<string, string>;
  for (const k of fromPod) putKey(all, k, podLabels![k]!);
  const out = {} as Record<string, string>;
  for (const k of Object.keys(all).sort()) putKey(out, k, all[k]!);
  return out;
}

const NONE: KeyMatch = () => false;

/** The pod fields only the API source knows (phase, qosClass, containers, resize, …), in podToPart's order: a
 * field added there reaches the document with no line here. The fields other sources also carry are merged
 * above by precedence. */
function apiOnly(api: PodInfo | undefined): Partial<PodInfo> {
  if (!api) return {};
  const { name: _name, namespace: _namespace, uid: _uid, ip: _ip, ips: _ips, serviceAccount: _sa, labels: _labels, annotations: _annotations, ...only } = api;
  return only;
}

export function mergeParts(parts: Parts, excludeAnnotation: KeyMatch, nodeLabel: KeyMatch = NONE): DocumentBody {
  const env = parts.env?.pod;
  const vol = parts.downward?.pod;
  const api = parts.api?.pod;
  const labels = api?.labels ?? vol?.labels;
  const pod: PodInfo = compact({
    name: first('name', env, vol, api),
    namespace: first('namespace', env, vol, api),
    uid: first('uid', env, vol, api),
    ip: first('ip', env, vol, api),
    ips: first('ips', env, vol, api),
    serviceAccount: first('serviceAccount', env, vol, api),
    labels,
    annotations: without(api?.annotations ?? vol?.annotations, excludeAnnotation),
    ...apiOnly(api),
  });
  const envNode = parts.env?.node;
  const apiNode = parts.api?.node;
  const node: NodeInfo = compact({
    name: firstNode('name', envNode, apiNode),
    hostIP: firstNode('hostIP', envNode, apiNode),
    hostIPs: firstNode('hostIPs', envNode, apiNode),
    labels: nodeLabels(parts.node?.node?.labels, labels, nodeLabel),
  });
  const resources = parts.api?.resources ?? resourcesFromReadings([...(parts.env?.readings ?? []), ...(parts.downward?.readings ?? [])]);
  const body: DocumentBody = { pod, node, resources };
  const files = parts.downward?.files;
  if (files && Object.keys(files).length > 0) body.files = files;
  return body;
}
