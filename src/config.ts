// Configuration: a pure function of an injected env object (t3-env style). Every problem is reported at
// once, each prefixed with the variable's name; the composition root prints the message and exits 2.
// Empty string = unset, except for the list variables whose contract gives "empty" a meaning
// (PODMETA_NODE_LABELS: never read the Node; PODMETA_ANNOTATIONS_EXCLUDE: exclude nothing).

import * as z from 'zod/mini';
import type { LogLevel } from './log.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyConfig {
  listen: ListenAddress;
  acceptPaths?: string[];
  rejectPaths?: string[];
  rejectMethods?: string[];
  acceptHosts?: string[];
  /** concurrent forwarded requests / streams (watches, followed logs); beyond them 429 + Retry-After */
  maxRequests?: number;
  maxWatches?: number;
}

export interface Config {
  listen: ListenAddress;
  probeListen: ListenAddress;
  downwardDir: string;
  api: 'auto' | 'on' | 'off';
  saDir: string;
  nodeLabels: string[];
  /** PODMETA_NODE_LABELS was not set: the default list (see src/apiserver/topology.ts) */
  nodeLabelsDefault: boolean;
  /** PODMETA_CONTAINER: the app container the top-level `resources` describe (from the Pod status) */
  container?: string;
  requireHeader: boolean;
  annotationsExclude: string[];
  proxy?: ProxyConfig;
  logLevel: LogLevel;
  /** additions beyond the contract (tuning; documented in the README) */
  maxStreams: number;
  resyncSeconds: number;
  debounceMs: number;
  maxFileBytes: number;
  /** PODMETA_ALLOWED_HOSTS: Host values the metadata listener accepts besides loopback names */
  allowedHosts: string[];
  /** open connections per listener (metadata, probes), and requests in flight per connection */
  maxConnections: number;
  probeMaxConnections: number;
  maxPipeline: number;
  /** Kubernetes' own service variables */
  serviceHost?: string;
  servicePort?: string;
}

export const DEFAULTS = {
  PODMETA_LISTEN: '127.0.0.1:9977',
  PODMETA_PROBE_LISTEN: '0.0.0.0:9978',
  PODMETA_DOWNWARD_DIR: '/etc/podinfo',
  PODMETA_API: 'auto',
  PODMETA_SA_DIR: '/var/run/secrets/kubernetes.io/serviceaccount',
  PODMETA_NODE_LABELS:
    'topology.kubernetes.io/zone,topology.kubernetes.io/region,node.kubernetes.io/instance-type,kubernetes.io/arch,kubernetes.io/os',
  PODMETA_REQUIRE_HEADER: 'true',
  PODMETA_ANNOTATIONS_EXCLUDE: 'kubectl.kubernetes.io/last-applied-configuration',
  PODMETA_LOG_LEVEL: 'info',
  PODMETA_MAX_STREAMS: '1024',
  PODMETA_RESYNC_SECONDS: '60',
  PODMETA_DEBOUNCE_MS: '15',
  // Every valid pod's volume files fit: annotations are at most 256 KiB of keys + values (apimachinery
  // TotalAnnotationSizeLimitB); in kubelet's `%q` file a value byte becomes at most 4 (`\x01`), a key byte stays
  // 1, and each line adds 4 (`=`, two quotes, `\n`) — worth more than 4 per byte of budget only for the 62
  // one-character keys. So ≤ 4 × 262 144 + 62 = 1 048 638 bytes; labels are raw ASCII, smaller than the
  // pod object itself (≤ 1.5 MiB in etcd). 2 MiB covers both with room to spare.
  PODMETA_MAX_FILE_BYTES: '2097152',
  PODMETA_ALLOWED_HOSTS: '',
  PODMETA_MAX_CONNECTIONS: '1280',
  PODMETA_PROBE_MAX_CONNECTIONS: '128',
  PODMETA_MAX_PIPELINE: '16',
} as const;

/** `host:port`, `[v6]:port`; port 0..65535 (0 = any free port, for tests). */
export function parseListen(value: string): ListenAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.%\w-]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  if (!m) return `expected host:port or [ipv6]:port, got ${JSON.stringify(value)}`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range 0-65535`;
  return { host: (m[1] ?? m[2])!, port };
}

// zod/mini: the same schemas as zod's classic API, tree-shakable — the bundle carries ~1/10 of zod.
type Issues = { issues: { code: 'custom'; message: string; input: unknown }[] };
const custom = (ctx: Issues, input: unknown, message: string): void => void ctx.issues.push({ code: 'custom', message, input });

/** `host:port` as a zod schema (also used by src/inject/config.ts). */
export const listen = z.pipe(
  z.string(),
  z.transform((v: string, ctx) => {
    const r = parseListen(v);
    if (typeof r !== 'string') return r;
    custom(ctx as Issues, v, r);
    return z.NEVER;
  }),
);

const split = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const list = z.pipe(z.string(), z.transform(split));

const regexList = z.pipe(
  z.string(),
  z.transform((v: string, ctx) => {
    const items = split(v);
    for (const re of items) {
      try {
        new RegExp(re);
      } catch (err) {
        custom(ctx as Issues, v, `invalid regular expression ${JSON.stringify(re)}: ${(err as Error).message}`);
      }
    }
    return items;
  }),
);

const int = (min: number, max: number) =>
  z.pipe(
    z.string().check(z.regex(/^\d+$/, 'expected a whole number')),
    z.pipe(
      z.transform((v: string) => Number(v)),
      z.number().check(z.gte(min, `expected at least ${min}`), z.lte(max, `expected at most ${max}`)),
    ),
  );

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, `expected one of ${values.join(', ')}`);

export const absolute = z.string().check(z.startsWith('/', 'expected an absolute path'));

const schema = z.object({
  PODMETA_LISTEN: listen,
  PODMETA_PROBE_LISTEN: listen,
  PODMETA_DOWNWARD_DIR: absolute,
  PODMETA_API: oneOf(['auto', 'on', 'off']),
  PODMETA_SA_DIR: absolute,
  PODMETA_NODE_LABELS: list,
  PODMETA_REQUIRE_HEADER: z.stringbool({
    truthy: ['true', '1', 'yes', 'on'],
    falsy: ['false', '0', 'no', 'off'],
    error: 'expected true or false (also 1/0, yes/no, on/off)',
  }),
  PODMETA_ANNOTATIONS_EXCLUDE: list,
  PODMETA_PROXY_LISTEN: z.optional(listen),
  PODMETA_PROXY_ACCEPT_PATHS: z.optional(regexList),
  PODMETA_PROXY_REJECT_PATHS: z.optional(regexList),
  PODMETA_PROXY_REJECT_METHODS: z.optional(regexList),
  PODMETA_PROXY_ACCEPT_HOSTS: z.optional(regexList),
  // defaults in src/proxy/index.ts (64, 128); each ≤ 256 so both stay within the API transport's 512 connections
  PODMETA_PROXY_MAX_REQUESTS: z.optional(int(1, 256)),
  PODMETA_PROXY_MAX_WATCHES: z.optional(int(1, 256)),
  PODMETA_LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error']),
  PODMETA_MAX_STREAMS: int(1, 1_000_000),
  PODMETA_RESYNC_SECONDS: int(1, 86_400),
  // a burst of volume events delays a read by at most 60 ms (DownwardSource maxDelayMs), so a longer
  // debounce would not be honoured: refuse it rather than cap it silently
  PODMETA_DEBOUNCE_MS: int(0, 60),
  PODMETA_MAX_FILE_BYTES: int(1024, 64 * 1024 * 1024),
  PODMETA_CONTAINER: z.optional(
    z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a container name (lower-case DNS label: a-z, 0-9, "-", at most 63)')),
  ),
  PODMETA_ALLOWED_HOSTS: list,
  PODMETA_MAX_CONNECTIONS: int(2, 1_000_000),
  PODMETA_PROBE_MAX_CONNECTIONS: int(2, 1_000_000),
  PODMETA_MAX_PIPELINE: int(1, 1024),
  KUBERNETES_SERVICE_HOST: z.optional(z.string()),
  KUBERNETES_SERVICE_PORT: z.optional(z.string()),
});

const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/** Two listeners on the same port whose hosts overlap (equal, or one is a wildcard) cannot both listen. */
function listenerClash(listeners: readonly (readonly [string, ListenAddress])[]): string | undefined {
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const [na, a] = listeners[i]!;
      const [nb, b] = listeners[j]!;
      if (a.port === 0 || a.port !== b.port) continue;
      if (a.host === b.host || WILDCARD.has(a.host) || WILDCARD.has(b.host))
        return `${na} and ${nb} both use port ${a.port} (${a.host} and ${b.host} overlap): give each listener its own port`;
    }
  }
  return undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const KEEP_EMPTY = new Set(['PODMETA_NODE_LABELS', 'PODMETA_ANNOTATIONS_EXCLUDE']);

/** One ConfigError naming every bad variable: `  NAME="value": why` per issue. */
export function configError(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, env: Readonly<Record<string, string | undefined>>): ConfigError {
  const lines = issues.map((i) => {
    const name = String(i.path[0] ?? '?');
    return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
  });
  return new ConfigError(`invalid configuration (${lines.length} problem${lines.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
}

/** Pure: env in, Config out. Throws ConfigError naming every bad variable. */
export function parseConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const raw = env[key];
    const value = raw === undefined || (raw.trim() === '' && !KEEP_EMPTY.has(key)) ? undefined : raw.trim();
    input[key] = value ?? (DEFAULTS as Record<string, string>)[key];
  }
  const r = schema.safeParse(input);
  if (!r.success) throw configError(r.error.issues, env);
  const e = r.data;
  const clash = listenerClash([
    ['PODMETA_LISTEN', e.PODMETA_LISTEN],
    ['PODMETA_PROBE_LISTEN', e.PODMETA_PROBE_LISTEN],
    ...(e.PODMETA_PROXY_LISTEN ? [['PODMETA_PROXY_LISTEN', e.PODMETA_PROXY_LISTEN] as const] : []),
  ]);
  if (clash) throw new ConfigError(`invalid configuration (1 problem):\n  ${clash}`);
  const cfg: Config = {
    listen: e.PODMETA_LISTEN,
    probeListen: e.PODMETA_PROBE_LISTEN,
    downwardDir: e.PODMETA_DOWNWARD_DIR,
    api: e.PODMETA_API,
    saDir: e.PODMETA_SA_DIR,
    nodeLabels: e.PODMETA_NODE_LABELS,
    nodeLabelsDefault: env.PODMETA_NODE_LABELS === undefined,
    requireHeader: e.PODMETA_REQUIRE_HEADER,
    annotationsExclude: e.PODMETA_ANNOTATIONS_EXCLUDE,
    logLevel: e.PODMETA_LOG_LEVEL,
    maxStreams: e.PODMETA_MAX_STREAMS,
    resyncSeconds: e.PODMETA_RESYNC_SECONDS,
    debounceMs: e.PODMETA_DEBOUNCE_MS,
    maxFileBytes: e.PODMETA_MAX_FILE_BYTES,
    allowedHosts: e.PODMETA_ALLOWED_HOSTS,
    maxConnections: e.PODMETA_MAX_CONNECTIONS,
    probeMaxConnections: e.PODMETA_PROBE_MAX_CONNECTIONS,
    maxPipeline: e.PODMETA_MAX_PIPELINE,
  };
  if (e.PODMETA_CONTAINER) cfg.container = e.PODMETA_CONTAINER;
  if (e.KUBERNETES_SERVICE_HOST) cfg.serviceHost = e.KUBERNETES_SERVICE_HOST;
  if (e.KUBERNETES_SERVICE_PORT) cfg.servicePort = e.KUBERNETES_SERVICE_PORT;
  if (e.PODMETA_PROXY_LISTEN) {
    const proxy: ProxyConfig = { listen: e.PODMETA_PROXY_LISTEN };
    if (e.PODMETA_PROXY_MAX_REQUESTS !== undefined) proxy.maxRequests = e.PODMETA_PROXY_MAX_REQUESTS;
    if (e.PODMETA_PROXY_MAX_WATCHES !== undefined) proxy.maxWatches = e.PODMETA_PROXY_MAX_WATCHES;
    if (e.PODMETA_PROXY_ACCEPT_PATHS) proxy.acceptPaths = e.PODMETA_PROXY_ACCEPT_PATHS;
    if (e.PODMETA_PROXY_REJECT_PATHS) proxy.rejectPaths = e.PODMETA_PROXY_REJECT_PATHS;
    if (e.PODMETA_PROXY_REJECT_METHODS) proxy.rejectMethods = e.PODMETA_PROXY_REJECT_METHODS;
    if (e.PODMETA_PROXY_ACCEPT_HOSTS) proxy.acceptHosts = e.PODMETA_PROXY_ACCEPT_HOSTS;
    cfg.proxy = proxy;
  }
  return cfg;
}
