// Selecting a part of the document by path, and rendering it (JSON or text), cached per snapshot so a
// repeated request costs a map lookup, not a serialization.
//
// Path rule (contract): `pod/name`, `node/labels`, ... walk the document; under `pod/labels`,
// `pod/annotations`, `node/labels` and `files` the whole rest of the path is ONE key, so
// `pod/labels/app.kubernetes.io/name` works; `%2F` inside a segment works too. Arrays take an index, and
// `pod/containers/<name>` selects a container by name.

import { etagOf, type Snapshot } from './store.js';
import { quoteGo } from './goformat.js';

export class PathError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404,
  ) {
    super(message);
  }
}

const MAP_PARENTS = new Set(['pod/labels', 'pod/annotations', 'node/labels', 'files']);

/** Split a raw (still percent-encoded) path like "pod/labels/a%2Fb" into decoded segments. */
export function splitPath(raw: string): string[] {
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  return trimmed.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new PathError(`malformed percent-encoding in path segment ${JSON.stringify(s)}`, 400);
    }
  });
}

/** Resolve segments to keys (applying the map rule). Returns the key list actually used. */
export function resolveKeys(segments: readonly string[]): string[] {
  const keys: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    keys.push(segments[i]!);
    if (MAP_PARENTS.has(keys.join('/')) && i + 1 < segments.length) {
      keys.push(segments.slice(i + 1).join('/'));
      break;
    }
  }
  return keys;
}

export interface Selected {
  found: boolean;
  value: unknown;
}

export function selectValue(doc: unknown, keys: readonly string[]): Selected {
  let cur: unknown = doc;
  for (const k of keys) {
    if (Array.isArray(cur)) {
      if (/^(0|[1-9]\d{0,8})$/.test(k)) cur = cur[Number(k)];
      else cur = cur.find((c: unknown) => typeof c === 'object' && c !== null && (c as { name?: unknown }).name === k);
    } else if (typeof cur === 'object' && cur !== null && Object.hasOwn(cur, k)) {
      cur = (cur as Record<string, unknown>)[k];
    } else {
      return { found: false, value: undefined };
    }
    if (cur === undefined) return { found: false, value: undefined };
  }
  return { found: true, value: cur };
}

export type Format = 'json' | 'text';

export interface Rendered {
  body: Buffer;
  etag: string;
  contentType: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/** Text form: a string raw; a scalar as text; an array of scalars one per line; an object as kubelet's
 * `key="value"` lines (keys sorted byte-wise, Go-quoted values, no trailing newline), nested keys joined by `/`. */
export function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) return value.map(String).join('\n');
  const lines: [string, string][] = [];
  const flat = (v: unknown, prefix: string): void => {
    if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) flat(x, prefix ? `${prefix}/${k}` : k);
    } else {
      lines.push([prefix, typeof v === 'string' ? v : String(v)]);
    }
  };
  flat(value, '');
  lines.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  return lines.map(([k, v]) => `${k}=${quoteGo(v)}`).join('\n');
}

/** Bounds of the render cache of one snapshot: entries and bytes. Beyond them a part is rendered per request
 * (correct, just not cached). The cache lives as long as its snapshot, i.e. until the next revision. */
export const RENDER_CACHE_ENTRIES = 256;
export const RENDER_CACHE_BYTES = 8 * 1024 * 1024;

interface RenderCache {
  map: Map<string, Rendered | null>;
  bytes: number;
}

const caches = new WeakMap<Snapshot, RenderCache>();

function cached(snap: Snapshot, key: string, compute: () => Rendered | null): Rendered | null {
  let c = caches.get(snap);
  if (!c) caches.set(snap, (c = { map: new Map(), bytes: 0 }));
  const hit = c.map.get(key);
  if (hit !== undefined) return hit;
  const out = compute();
  const size = key.length + (out?.body.length ?? 0);
  if (c.map.size < RENDER_CACHE_ENTRIES && c.bytes + size <= RENDER_CACHE_BYTES) {
    c.map.set(key, out);
    c.bytes += size;
  }
  return out;
}

function renderUncached(snap: Snapshot, keys: readonly string[], format: Format): Rendered | null {
  const sel = selectValue(snap.doc, keys);
  if (!sel.found) return null;
  const body = Buffer.from(format === 'json' ? JSON.stringify(sel.value) : toText(sel.value));
  const etag = etagOf(body);
  return { body, etag: format === 'json' ? etag : etag.slice(0, -1) + '-t"', contentType: format === 'json' ? JSON_TYPE : TEXT_TYPE };
}

/** Render the part at `keys` of a snapshot in a format; null when the path does not exist. Cached. */
export function render(snap: Snapshot, keys: readonly string[], format: Format): Rendered | null {
  if (keys.length === 0 && format === 'json') return { body: snap.body, etag: snap.etag, contentType: JSON_TYPE };
  return cached(snap, `${format}\u0000${keys.join('\u0000')}`, () => renderUncached(snap, keys, format));
}

/** The same for a raw (still percent-encoded) path as it came in the URL: one map lookup per request once
 * cached. Throws PathError for malformed percent-encoding. */
export function renderRaw(snap: Snapshot, rawPath: string, format: Format): Rendered | null {
  return cached(snap, `${format}\u0001${rawPath}`, () => render(snap, resolveKeys(splitPath(rawPath)), format));
}
