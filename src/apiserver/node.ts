// Node JSON → the 'node' SourcePart: `{ node: { labels } }` with only the configured labels
// (PODMETA_NODE_LABELS: exact keys, or prefixes written with a trailing '/' or '*'). Pure.

import type { SourcePart, StringMap } from '../document.js';
import type { KubeObject } from './watch.js';

/** A predicate for label keys: "a/b" exact; "a/" or "a*" prefix ("*" alone: every label). */
export function labelMatcher(patterns: readonly string[]): (key: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const raw of patterns) {
    const p = raw.trim();
    if (!p) continue;
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else if (p.endsWith('/')) prefixes.push(p);
    else exact.add(p);
  }
  return (key) => exact.has(key) || prefixes.some((p) => key.startsWith(p));
}

export function filterLabels(labels: unknown, patterns: readonly string[]): StringMap {
  const match = labelMatcher(patterns);
  const out: Record<string, string> = {};
  if (labels && typeof labels === 'object') {
    for (const k of Object.keys(labels as object).sort()) {
      const v = (labels as Record<string, unknown>)[k];
      if (typeof v === 'string' && match(k)) out[k] = v;
    }
  }
  return out;
}

export function nodeToPart(node: KubeObject, patterns: readonly string[]): SourcePart {
  return { node: { labels: filterLabels(node.metadata?.labels, patterns) } };
}
