// One key matcher for every configured key list (PODMETA_NODE_LABELS, PODMETA_ANNOTATIONS_EXCLUDE).
// Syntax, the same for both lists:
//   "a/b"  exact key
//   "a/"   prefix: every key starting with "a/" (the trailing '/' is part of the prefix)
//   "a*"   prefix: every key starting with "a"; "*" alone matches every key
// Entries are trimmed; empty entries are ignored. Annotation and label keys never end in '/' or '*', so
// neither form can be mistaken for an exact key.

export type KeyMatch = (key: string) => boolean;

export function keyMatcher(patterns: readonly string[]): KeyMatch {
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

/**
 * Set `key` as an own, enumerable data property — also when it is "__proto__", which a plain assignment
 * would turn into a prototype change (and the key would silently vanish). Every map built from outside data
 * (labels, annotations) is filled through this, so it keeps every key; JSON.stringify, Object.keys and
 * spreads then see "__proto__" like any other key. Maps stay ordinary objects (deep-equal to literals).
 */
export function putKey<V>(map: Record<string, V>, key: string, value: V): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}
