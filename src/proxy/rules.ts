// The ambassador's request filter: pure functions from (method, target, headers) to "forward" or "refuse,
// naming the rule and the variable that changes it". kubectl proxy's knobs keep their meaning (a path must
// match an accept regex and no reject regex; a method matching a reject regex is refused; the Host, port
// removed, must match an accept-hosts regex); only the defaults are stricter, and a set variable replaces
// its default, never adds to it — so opening anything is always an explicit choice.

import type { IncomingHttpHeaders } from 'node:http';
import type { ProxyConfig } from '../config.js';
import { forwardedHeader } from '../http/guard.js';

export interface PathRule {
  /** short name shown in refusals and logs */
  name: string;
  /** the regex as a user writes it in PODMETA_PROXY_REJECT_PATHS (to keep this rule there) */
  source: string;
  pattern: RegExp;
  /** what is refused, as the start of a sentence ("secrets are not served …") */
  what: string;
  /** a path the rule must refuse (used to tell when a custom reject list dropped the rule) */
  sample: string;
}

/**
 * Refused by default; `PODMETA_PROXY_REJECT_PATHS`, when set, replaces this whole list (docs/proxy.md lists
 * the sources to copy into it to keep them).
 */
const pathRule = (name: string, source: string, what: string, sample: string): PathRule => ({ name, source, pattern: new RegExp(source), what, sample });

export const BUILTIN_PATH_RULES: readonly PathRule[] = [
  pathRule('secrets', '^/api/v1/(watch/)?(namespaces/[^/]+/)?secrets(/|$)', 'secrets are', '/api/v1/namespaces/default/secrets'),
  pathRule('exec', '^/api/v1/namespaces/[^/]+/pods/[^/]+/exec(/|$)', 'pod exec is', '/api/v1/namespaces/default/pods/p/exec'),
  pathRule('attach', '^/api/v1/namespaces/[^/]+/pods/[^/]+/attach(/|$)', 'pod attach is', '/api/v1/namespaces/default/pods/p/attach'),
  pathRule('portforward', '^/api/v1/namespaces/[^/]+/pods/[^/]+/portforward(/|$)', 'pod port-forward is', '/api/v1/namespaces/default/pods/p/portforward'),
  pathRule(
    'proxy',
    '^/api/v1/((namespaces/[^/]+/)?(pods|services|nodes)/[^/]+/proxy|proxy)(/|$)',
    'proxy sub-resources (pods/*/proxy, services/*/proxy, nodes/*/proxy) are',
    '/api/v1/namespaces/default/services/s/proxy',
  ),
];

export const DEFAULT_ACCEPT_HOSTS: readonly string[] = ['^localhost$', '^127\\.0\\.0\\.1$', '^\\[::1\\]$'];
/** without PODMETA_PROXY_REJECT_METHODS only these are forwarded */
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);
const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;

interface Listed {
  source: string;
  re: RegExp;
}

export interface ProxyRules {
  acceptPaths: Listed[] | undefined; // undefined: every path (kubectl's "^.*")
  rejectPaths: Listed[] | undefined; // undefined: BUILTIN_PATH_RULES
  rejectMethods: Listed[] | undefined; // undefined: all but GET/HEAD
  acceptHosts: Listed[];
}

const compile = (sources: readonly string[]): Listed[] => sources.map((source) => ({ source, re: new RegExp(source) }));

/** The config's regex sources (already validated by parseConfig) → matchers. */
export function compileRules(config: Pick<ProxyConfig, 'acceptPaths' | 'rejectPaths' | 'rejectMethods' | 'acceptHosts'>): ProxyRules {
  return {
    acceptPaths: config.acceptPaths ? compile(config.acceptPaths) : undefined,
    rejectPaths: config.rejectPaths ? compile(config.rejectPaths) : undefined,
    rejectMethods: config.rejectMethods ? compile(config.rejectMethods) : undefined,
    acceptHosts: compile(config.acceptHosts ?? DEFAULT_ACCEPT_HOSTS),
  };
}

/**
 * The host a `Host` header names, lower-cased, port removed, IPv6 brackets kept:
 * `localhost:8001` → `localhost`, `[::1]:8001` → `[::1]`. (kubectl strips the brackets too, so its own
 * default `^\[::1\]$` never matches `[::1]:8001`; here it does.) Anything that is not `host` or
 * `host:digits` (e.g. `[::1]evil`, `[::1]:x`, `localhost:8001:1`, `a b`) is returned whole, so no accept-hosts
 * pattern written for a host name matches it by accident.
 */
export function hostOf(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  if (h.startsWith('[')) {
    const m = /^(\[[0-9a-f:.]+\])(?::\d{1,5})?$/.exec(h);
    return m ? m[1]! : h;
  }
  const m = /^([^:\s[\]/@]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]! : h;
}

export type CanonicalPath = { ok: true; path: string; query: string } | { ok: false; problem: string };

// after decoding, a segment may not hold these: an encoded "/" or "\" would re-split the path upstream,
// "%" means double encoding, control characters have no business in a resource path
const BAD_DECODED = /[/\\%\u0000-\u001f\u007f]/;

/**
 * The request target as the API server will see it (percent-decoded, split into segments), or why it is
 * refused. Nothing is rewritten: a target that is not already in canonical form is refused, so the path the
 * rules match and the path forwarded can never disagree (`//`, `/./`, `/../`, `%2F`, `%2e`, `%252F`, `\`).
 */
export function canonicalPath(target: string): CanonicalPath {
  if (!target.startsWith('/')) return { ok: false, problem: 'the request target is not a path starting with "/"' };
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (raw.includes('\\')) return { ok: false, problem: 'the path contains "\\"' };
  if (raw.includes('#')) return { ok: false, problem: 'the path contains "#"' };
  const segments = raw.split('/').slice(1);
  const decoded: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '' && i !== segments.length - 1) return { ok: false, problem: 'the path contains an empty segment ("//")' };
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      return { ok: false, problem: `the path segment ${JSON.stringify(seg)} is not valid percent-encoded UTF-8` };
    }
    if (d === '.' || d === '..') return { ok: false, problem: `the path contains a "${d}" segment${seg !== d ? ` (encoded as ${JSON.stringify(seg)})` : ''}` };
    if (BAD_DECODED.test(d)) return { ok: false, problem: `the path segment ${JSON.stringify(seg)} encodes "/", "\\", "%" or a control character` };
    decoded.push(d);
  }
  return { ok: true, path: '/' + decoded.join('/'), query };
}

export type Decision =
  | { allow: true; /** decoded path the rules matched */ path: string }
  | { allow: false; rule: string; message: string };

export interface RequestFacts {
  method: string;
  /** `req.url`: the raw request target */
  target: string;
  headers: IncomingHttpHeaders;
}

const refuse = (rule: string, message: string): Decision => ({ allow: false, rule, message });
const first = (list: readonly Listed[], value: string): Listed | undefined => list.find((l) => l.re.test(value));

/** Decide one request. Order: forwarding headers, Host, upgrade, impersonation, method, path. */
export function checkRequest(rules: ProxyRules, { method, target, headers }: RequestFacts): Decision {
  const shown = forwardedHeader(headers);
  if (shown !== undefined) {
    return refuse(
      'x-forwarded-for',
      `requests carrying ${shown} are refused (rule "x-forwarded-for"): the proxy serves the pod's own containers directly, never through another proxy; remove the ${shown} header`,
    );
  }
  const host = hostOf(headers.host);
  if (!first(rules.acceptHosts, host)) {
    return refuse(
      'accept-hosts',
      `Host ${JSON.stringify(host)} is not accepted (rule "accept-hosts", a DNS-rebinding defence); connect through localhost, 127.0.0.1 or [::1], or set PODMETA_PROXY_ACCEPT_HOSTS`,
    );
  }
  if (headers.upgrade !== undefined) {
    return refuse(
      'upgrade',
      'connection upgrades (exec, attach, port-forward over SPDY or WebSocket) are never proxied (rule "upgrade"); no setting changes this',
    );
  }
  if (Object.keys(headers).some((h) => h.startsWith('impersonate-'))) {
    return refuse(
      'impersonation',
      'Impersonate-* headers are refused (rule "impersonation"): requests through the proxy act as the pod\'s service account only; no setting changes this',
    );
  }
  if (rules.rejectMethods === undefined) {
    if (!READ_METHODS.has(method)) {
      return refuse(
        'read-only',
        `method ${method} is refused: the proxy is read-only (rule "read-only", only GET and HEAD); set PODMETA_PROXY_REJECT_METHODS to allow writes explicitly (e.g. "^$" allows every method, as kubectl proxy does)`,
      );
    }
  } else {
    const hit = first(rules.rejectMethods, method);
    if (hit) return refuse('reject-methods', `method ${method} is refused by PODMETA_PROXY_REJECT_METHODS entry ${JSON.stringify(hit.source)} (rule "reject-methods"); change PODMETA_PROXY_REJECT_METHODS to allow it`);
  }
  const c = canonicalPath(target);
  if (!c.ok) {
    return refuse('canonical-path', `${c.problem} (rule "canonical-path"); send the plain path: "//", "/./", "/../" and encoded "/", "\\", "." or "%" are refused before any other rule, and no setting changes this`);
  }
  const path = c.path;
  if (rules.rejectPaths === undefined) {
    const hit = BUILTIN_PATH_RULES.find((r) => r.pattern.test(path));
    if (hit) return refuse(hit.name, `${hit.what} not served through the proxy (rule "${hit.name}"); set PODMETA_PROXY_REJECT_PATHS to override`);
  } else {
    const hit = first(rules.rejectPaths, path);
    if (hit) return refuse('reject-paths', `path ${path} is refused by PODMETA_PROXY_REJECT_PATHS entry ${JSON.stringify(hit.source)} (rule "reject-paths"); change PODMETA_PROXY_REJECT_PATHS to allow it`);
  }
  if (rules.acceptPaths !== undefined && !first(rules.acceptPaths, path)) {
    return refuse('accept-paths', `path ${path} matches no PODMETA_PROXY_ACCEPT_PATHS entry (rule "accept-paths"); add a regex for it to PODMETA_PROXY_ACCEPT_PATHS`);
  }
  return { allow: true, path };
}

/**
 * What a configuration opens beyond the defaults, one sentence each, for a startup warning: write methods
 * that are no longer refused, built-in path rules a custom reject list no longer covers, hosts replaced.
 */
export function relaxedRules(config: Pick<ProxyConfig, 'acceptPaths' | 'rejectPaths' | 'rejectMethods' | 'acceptHosts'>): string[] {
  const rules = compileRules(config);
  const out: string[] = [];
  if (rules.rejectMethods) {
    const open = WRITE_METHODS.filter((m) => !first(rules.rejectMethods!, m));
    if (open.length > 0) out.push(`the proxy forwards write methods (${open.join(', ')}): PODMETA_PROXY_REJECT_METHODS is set and does not refuse them`);
  }
  if (rules.rejectPaths) {
    const dropped = BUILTIN_PATH_RULES.filter(
      (r) => !first(rules.rejectPaths!, r.sample) && (rules.acceptPaths === undefined || first(rules.acceptPaths, r.sample)),
    ).map((r) => r.name);
    if (dropped.length > 0) out.push(`built-in path rules no longer applied (${dropped.join(', ')}): PODMETA_PROXY_REJECT_PATHS replaces them and does not refuse what they refused`);
  }
  if (config.acceptHosts) out.push(`accepted Host names replaced by PODMETA_PROXY_ACCEPT_HOSTS (${config.acceptHosts.join(', ')})`);
  return out;
}
