// Paths into the document, typed and encoded. The same paths as `GET /metadata/<path>`: `pod/name`,
// `pod/labels`, `pod/labels/app.kubernetes.io/name` (under a string map the whole rest is one key),
// `pod/ips/0`, `pod/containers/<name>/image`. A path the types do not know is `unknown` (an agent newer
// than this client may serve more).

import type { MetadataDocument } from './document.js';

type Strip<P extends string> = P extends `/${infer R}` ? Strip<R> : P extends `${infer R}/` ? Strip<R> : P;
type IsStringMap<T> = T extends object ? (string extends keyof T ? true : false) : false;

/** The type found at path P under T (P without leading/trailing slashes). */
export type At<T, P extends string> = P extends ''
  ? T
  : NonNullable<T> extends readonly (infer E)[]
    ? P extends `${string}/${infer R}`
      ? At<E, R>
      : E
    : IsStringMap<NonNullable<T>> extends true
      ? NonNullable<T>[keyof NonNullable<T>]
      : P extends `${infer H}/${infer R}`
        ? H extends keyof NonNullable<T>
          ? At<NonNullable<T>[H], R>
          : unknown
        : P extends keyof NonNullable<T>
          ? NonNullable<T>[P]
          : unknown;

/** What `get(path)` resolves with (a missing path rejects with code 404, so never undefined). */
export type PathValue<P extends string> = unknown extends At<MetadataDocument, Strip<P>> ? unknown : NonNullable<At<MetadataDocument, Strip<P>>>;

/** `pod/labels/a%b` → ['pod', 'labels', 'a%b'] (no leading or trailing slash; empty = the whole document). */
export function segments(path: string | undefined): string[] {
  const p = (path ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return p === '' ? [] : p.split('/');
}

/** The URL path under /metadata for a document path (each segment percent-encoded). */
export function metadataPath(path: string | undefined): string {
  const s = segments(path);
  return s.length === 0 ? '/metadata' : `/metadata/${s.map(encodeURIComponent).join('/')}`;
}

/** The `?path=` value for /events (segments encoded, then the whole value as a query value). */
export function eventsPath(path: string | undefined): string {
  const s = segments(path);
  return s.length === 0 ? '/events' : `/events?path=${encodeURIComponent(`/${s.map(encodeURIComponent).join('/')}`)}`;
}
