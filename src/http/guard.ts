// The metadata port's request rules, in one place for the koa app and the raw fast paths: a request
// carrying X-Forwarded-For / Forwarded is refused, and (by default) `Metadata: true` is required.

import type { IncomingHttpHeaders } from 'node:http';

/** The 403 message for a request the rules refuse; undefined when it may proceed. */
export function metadataRefusal(headers: IncomingHttpHeaders, requireHeader: boolean): string | undefined {
  for (const [key, name] of [
    ['x-forwarded-for', 'X-Forwarded-For'],
    ['forwarded', 'Forwarded'],
  ] as const) {
    const v = headers[key];
    if (v !== undefined && v !== '') {
      return `requests carrying ${name} are refused: the metadata API serves the pod's own containers directly, never through a proxy; remove the ${name} header`;
    }
  }
  const md = headers.metadata;
  if (requireHeader && (typeof md !== 'string' || md.trim().toLowerCase() !== 'true')) {
    return 'missing header "Metadata: true": add it to the request, e.g. curl -H "Metadata: true" ... (it protects against request forgery from a sibling app)';
  }
  return undefined;
}
