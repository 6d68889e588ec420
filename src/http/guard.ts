// The metadata port's request rules, in one place for the koa app and the raw fast paths (and the proxy,
// whose `x-forwarded-for` rule is `forwardedHeader` too):
//  1. Host must be a loopback name or address (`localhost`, any `127.x.y.z`, `[::1]`, with or without a port)
//     or one of PODMETA_ALLOWED_HOSTS — a DNS-rebound page sends its own host name and is refused;
//  2. a request carrying X-Forwarded-For or Forwarded — even empty — came through a proxy and is refused;
//  3. (by default) the header `Metadata: true` is required.

import type { IncomingHttpHeaders } from 'node:http';

export interface GuardRules {
  requireHeader: boolean;
  /** extra Host values accepted (PODMETA_ALLOWED_HOSTS): `name` (any port) or `name:port` */
  allowedHosts?: readonly string[];
}

const LOOPBACK_HOST = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d{1,5})?$/i;

/** A Host check for one list of extra names; the result for a given header value is cached. */
export function hostMatcher(allowed: readonly string[] = []): (host: string | undefined) => boolean {
  const extra = new Set(allowed.map((h) => h.toLowerCase()));
  const seen = new Map<string, boolean>();
  return (host) => {
    if (host === undefined) return false;
    let ok = seen.get(host);
    if (ok === undefined) {
      const h = host.toLowerCase();
      const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d{1,5}$/, '');
      ok = LOOPBACK_HOST.test(h) || extra.has(h) || extra.has(name);
      if (seen.size < 256) seen.set(host, ok);
    }
    return ok;
  };
}

/**
 * The forwarding header a request carries (`X-Forwarded-For` first, then `Forwarded`), or undefined: the one
 * rule for both listeners (this one and the proxy's `x-forwarded-for` rule). The header being present is what
 * counts: an empty `X-Forwarded-For:` is refused too.
 */
export function forwardedHeader(headers: IncomingHttpHeaders): 'X-Forwarded-For' | 'Forwarded' | undefined {
  if (headers['x-forwarded-for'] !== undefined) return 'X-Forwarded-For';
  if (headers.forwarded !== undefined) return 'Forwarded';
  return undefined;
}

/** The metadata port's 403 message for a request that came through a proxy; undefined otherwise. */
export function forwardedRefusal(headers: IncomingHttpHeaders): string | undefined {
  const name = forwardedHeader(headers);
  return name === undefined
    ? undefined
    : `requests carrying ${name} are refused: the metadata API serves the pod's own containers directly, never through a proxy; remove the ${name} header`;
}

export type Guard = (headers: IncomingHttpHeaders) => string | undefined;

/** The metadata port's rules as one function: the 403 message for a refused request, undefined when it may proceed. */
export function metadataGuard({ requireHeader, allowedHosts = [] }: GuardRules): Guard {
  const hostOk = hostMatcher(allowedHosts);
  return (headers) => {
    if (!hostOk(headers.host)) {
      const got = headers.host === undefined ? 'no Host header' : `Host ${JSON.stringify(headers.host)}`;
      return `${got} is not accepted on the metadata API: use localhost, 127.0.0.1 or [::1], or add the name to PODMETA_ALLOWED_HOSTS (this stops DNS-rebinding attacks)`;
    }
    const forwarded = forwardedRefusal(headers);
    if (forwarded !== undefined) return forwarded;
    const md = headers.metadata;
    if (requireHeader && md !== 'true' && (typeof md !== 'string' || md.trim().toLowerCase() !== 'true')) {
      if (md === undefined) {
        return 'missing header "Metadata: true": add it to the request, e.g. curl -H "Metadata: true" ... (it protects against request forgery from a sibling app)';
      }
      return `header Metadata is ${JSON.stringify(md)}; it must be exactly "Metadata: true" (it protects against request forgery from a sibling app)`;
    }
    return undefined;
  };
}
