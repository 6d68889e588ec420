// Node JSON → the 'node' SourcePart: `{ node: { labels } }` with only the configured labels
// (PODMETA_NODE_LABELS; key syntax in ../keys.ts). Pure.

import type { SourcePart, StringMap } from '../document.js';
import { keyMatcher, putKey } from '../keys.js';
import type { KubeObject } from './watch.js';

export function filterLabels(labels: unknown, patterns: readonly string[]): StringMap {
  const match = keyMatcher(patterns);
  const out = {} as Record<string, string>;
  if (labels && typeof labels === 'object') {
    for (const k of Object.keys(labels as object).sort()) {
      const v = (labels as Record<string, unknown>)[k];
      if (typeof v === 'string' && match(k)) putKey(out, k, v);
    }
  }
  return out;
}

export function nodeToPart(node: KubeObject, patterns: readonly string[]): SourcePart {
  return { node: { labels: filterLabels(node.metadata?.labels, patterns) } };
}
