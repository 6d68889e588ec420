// When the Node must be read at all. The pod carries topology.kubernetes.io/zone and /region itself on
// Kubernetes ≥ 1.35 (KEP-4742); node.labels takes them from there (merge.ts), so:
//   PODMETA_NODE_LABELS unset (the default list): the Node is read only when the pod lacks one of the two
//     — with both on the pod, no Node request and no ClusterRole; the default's other keys (instance-type,
//     arch, os) are then read only when PODMETA_NODE_LABELS is set explicitly (and the ClusterRole granted);
//   PODMETA_NODE_LABELS set: the Node is read unless every entry is an exact key the pod carries;
//   PODMETA_NODE_LABELS empty: never.
// See docs/rbac.md ("Topology labels without a ClusterRole").

import { POD_TOPOLOGY_KEYS, type StringMap } from '../document.js';

export function topologyOnPod(podLabels: StringMap | undefined): string[] {
  return POD_TOPOLOGY_KEYS.filter((k) => podLabels !== undefined && Object.hasOwn(podLabels, k));
}

export function nodeReadNeeded(patterns: readonly string[], podLabels: StringMap | undefined, isDefault: boolean): boolean {
  const wanted = patterns.map((p) => p.trim()).filter((p) => p !== '');
  if (wanted.length === 0) return false;
  const carried = topologyOnPod(podLabels);
  if (isDefault) return carried.length < POD_TOPOLOGY_KEYS.length;
  return wanted.some((p) => !carried.includes(p));
}
