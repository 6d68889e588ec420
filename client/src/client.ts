// createClient(): one object per agent. get/text are one request each (ETag kept per path, so a repeat
// sends If-None-Match and a 304 returns the cached value); isAvailable never throws; waitForChange is the
// long-poll with its own deadline (timeoutS + margin); watch opens a live view over /events.

import { Agent } from 'node:http';
import type { MetadataDocument } from './document.js';
import { PodmetaError } from './errors.js';
import { request, type Answer } from './http.js';
import { metadataPath, segments, type PathValue } from './paths.js';
import { resolveBaseUrl } from './url.js';
import { deepFreeze } from './values.js';
import { Watch, type WatchOptions } from './watch.js';

export interface ClientOptions {
  /** the agent's base URL; default PODMETA_URL, else `http://` + PODMETA_LISTEN, else http://127.0.0.1:9977 */
  url?: string;
  /** deadline of each call, connect and response (default 2000 ms); never applied to an open watch */
  timeoutMs?: number;
  /** aborts every call and closes every watch of this client */
  signal?: AbortSignal;
  /** the environment to read PODMETA_URL / PODMETA_LISTEN from (default process.env) */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** overrides the client's timeoutMs for this call */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** the ETag to wait past; default: the one of this client's last read of that path (none: answers at once) */
  etag?: string;
  /** seconds the agent waits before answering 304 (0…300, default 60) */
  timeoutS?: number;
  signal?: AbortSignal;
}

export interface WaitResult<T> {
  /** false when the agent's wait timed out with nothing new (value is then the one last read) */
  changed: boolean;
  value: T;
  etag: string;
}

export interface PodmetaClient {
  /** the agent's base URL in use */
  readonly url: string;
  /** the whole document */
  get(): Promise<MetadataDocument>;
  /** one part: the same paths as /metadata/<path> (`pod/labels`, `pod/labels/app.kubernetes.io/name`, …) */
  get<P extends string>(path: P, options?: CallOptions): Promise<PathValue<P>>;
  /** one part as text (`?format=text`): a string raw, a map as kubelet's `key="value"` lines */
  text(path: string, options?: CallOptions): Promise<string>;
  /** true when the agent answers GET /metadata within the timeout; never throws, never caches false */
  isAvailable(options?: CallOptions): Promise<boolean>;
  /** the long-poll: resolves when the part differs from `etag`, or after `timeoutS` with changed: false */
  waitForChange<P extends string>(path: P, options?: WaitOptions): Promise<WaitResult<PathValue<P>>>;
  /** a live view over /events (snapshot, then each change; resume, reconnect, patches applied) */
  watch(): Watch<MetadataDocument>;
  watch<P extends string>(path: P, options?: WatchOptions): Watch<PathValue<P>>;
  /** the ETag of this client's last read of a path (JSON), if any */
  etag(path?: string): string | undefined;
  /** close every watch and idle connection of this client */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 2_000;
const LONGPOLL_MAX_S = 300;

function key(path: string | undefined, format: 'json' | 'text'): string {
  return `${format}:${segments(path).join('/')}`;
}

function withSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return ac.signal;
}

export function createClient(options: ClientOptions = {}): PodmetaClient {
  const base = resolveBaseUrl(options.url, options.env ?? process.env);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new TypeError(`timeoutMs must be a positive number of ms, got ${String(options.timeoutMs)}`);
  // keep-alive for repeated reads; idle sockets do not keep the process alive (node:http unrefs them)
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const cache = new Map<string, { etag: string; value: unknown }>();
  const watches = new Set<Watch<unknown>>();

  async function fetchPart(path: string | undefined, format: 'json' | 'text', o: CallOptions, extra: { wait?: number; etag?: string } = {}): Promise<{ answer: Answer; value: unknown }> {
    const k = key(path, format);
    const cached = cache.get(k);
    const query: string[] = [];
    if (format === 'text') query.push('format=text');
    if (extra.wait !== undefined) query.push('wait=true', `timeout=${extra.wait}`);
    const inm = extra.etag ?? cached?.etag;
    const answer = await request(
      base,
      {
        path: metadataPath(path) + (query.length ? `?${query.join('&')}` : ''),
        headers: { Accept: format === 'text' ? 'text/plain' : 'application/json', ...(inm ? { 'If-None-Match': inm } : {}) },
        timeoutMs: extra.wait !== undefined ? extra.wait * 1000 + (o.timeoutMs ?? timeoutMs) : (o.timeoutMs ?? timeoutMs),
        signal: withSignals(options.signal, o.signal),
      },
      agent,
    );
    if (answer.status === 304) {
      if (cached && cached.etag === inm) return { answer, value: cached.value };
      // a 304 for a tag this client never read (waitForChange with a caller's etag): read it once
      return fetchPart(path, format, o);
    }
    let value: unknown;
    if (format === 'text') value = answer.body;
    else {
      try {
        value = deepFreeze(JSON.parse(answer.body));
      } catch {
        throw new PodmetaError(answer.status, 'BadResponse', `the agent's answer is not JSON: ${answer.body.slice(0, 100)}`);
      }
    }
    const etag = answer.headers.etag;
    if (typeof etag === 'string') cache.set(k, { etag, value });
    return { answer, value };
  }

  const client: PodmetaClient = {
    url: base,
    async get(path?: string, o: CallOptions = {}) {
      return (await fetchPart(path, 'json', o)).value as never;
    },
    async text(path: string, o: CallOptions = {}) {
      return (await fetchPart(path, 'text', o)).value as string;
    },
    async isAvailable(o: CallOptions = {}) {
      try {
        await request(base, { path: '/metadata', method: 'HEAD', timeoutMs: o.timeoutMs ?? timeoutMs, signal: withSignals(options.signal, o.signal) }, agent);
        return true;
      } catch {
        return false;
      }
    },
    async waitForChange(path: string, o: WaitOptions = {}) {
      const timeoutS = o.timeoutS ?? 60;
      if (!Number.isInteger(timeoutS) || timeoutS < 0 || timeoutS > LONGPOLL_MAX_S) {
        throw new TypeError(`timeoutS must be a whole number of seconds from 0 to ${LONGPOLL_MAX_S}, got ${String(o.timeoutS)}`);
      }
      const before = o.etag ?? cache.get(key(path, 'json'))?.etag;
      const { answer, value } = await fetchPart(path, 'json', o.signal ? { signal: o.signal } : {}, { wait: timeoutS, ...(before ? { etag: before } : {}) });
      const etag = typeof answer.headers.etag === 'string' ? answer.headers.etag : (before ?? '');
      return { changed: before === undefined || etag !== before, value, etag } as never;
    },
    watch(path?: string, o: WatchOptions = {}) {
      let w: Watch<unknown> | undefined;
      w = new Watch<unknown>({ base, timeoutMs, signal: options.signal, onClose: () => void (w && watches.delete(w)) }, path, o);
      if (!w.closed) watches.add(w);
      return w as never;
    },
    etag(path?: string) {
      return cache.get(key(path, 'json'))?.etag;
    },
    close() {
      for (const w of watches) w.close();
      watches.clear();
      agent.destroy();
    },
  };
  return client;
}
