// A list+watch reflector for ONE named object (client-go's reflector, reduced): see shared/kubernetes.md §6.
//   list  GET <collection>?fieldSelector=metadata.name=N&resourceVersion=0          (served from the cache)
//   watch GET <collection>?watch=1&fieldSelector=…&resourceVersion=<list RV>&allowWatchBookmarks=true
//             &timeoutSeconds=<random 300–600>
// The RV is taken from every event, BOOKMARK included, so a re-watch resumes where the last one ended.
// ERROR 410 in a 200 stream, or a plain HTTP 410 → relist. A watch that ended normally is re-opened at
// once; a failure (or a watch that ended in < quickFailMs without an event) waits a full-jitter backoff,
// at least Retry-After. A stream that is silent for longer than the inactivity guard (half-open TCP) is
// torn down; any byte, bookmarks included, re-arms the guard.

import type { IncomingMessage } from 'node:http';
import { LineDecoder } from './lines.js';
import { Backoff, sleep, type ApiTiming } from './timing.js';
import { ApiRequestError, classifyError, statusError, type KubeStatus, type Transport } from './transport.js';

export type Resource = 'pod' | 'node';
export type Verb = 'list' | 'watch' | 'get';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

/** The subset of ApiMetrics a reflector reports to (same shape as index.ts's ApiMetrics). */
export interface ReflectorMetrics {
  request?(resource: Resource, verb: Verb, code: number | 'error'): void;
  watchRestart?(resource: Resource): void;
  relist?(resource: Resource): void;
  event?(resource: Resource, type: string): void;
}

/** A failure handed to the owner, with the request that failed. */
export interface ReflectorFailure {
  error: ApiRequestError;
  verb: Verb;
  /** how long the reflector waits before the next attempt */
  delayMs: number;
}

export interface ReflectorOptions {
  transport: Transport;
  resource: Resource;
  /** e.g. /api/v1/namespaces/NS/pods or /api/v1/nodes */
  collectionPath: string;
  name: string;
  timing: ApiTiming;
  signal: AbortSignal;
  metrics?: ReflectorMetrics | undefined;
  /** 'LIST' carries the list's item (undefined: no such object); the others are watch events */
  onObject(type: 'LIST' | 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject | undefined): void;
  /** a list answered, or a watch has been streaming for quickFailMs / delivered an event */
  onHealthy(): void;
  /** return 'stop' to end the reflector (e.g. to fall back to GET polling) */
  onFailure(f: ReflectorFailure): 'stop' | void;
}

/** Failures a retry soon will not fix: back off up to the persistent cap. */
export function isPersistent(err: ApiRequestError): boolean {
  if (err.kind === 'tls') return true;
  const c = err.info.httpCode;
  return c === 401 || c === 403 || c === 404;
}

interface WatchOutcome {
  rv: string;
  /** events received (bookmarks included, ERROR excluded) */
  received: number;
  expired: boolean;
  /** onHealthy was called for this stream */
  healthy: boolean;
  error?: ApiRequestError;
}

export class Reflector {
  private readonly backoff: Backoff;
  /** learned gap between two periodic bookmarks (ms), for the 'auto' inactivity guard */
  private bookmarkGapMs: number | undefined;
  /** the assumed bookmark cadence tore a watch down before any bookmark arrived: stop assuming */
  private assumedGapFailed = false;
  private lists = 0;
  private watches = 0;

  constructor(private readonly o: ReflectorOptions) {
    this.backoff = new Backoff(o.timing);
  }

  private get selector(): string {
    return `metadata.name=${this.o.name}`;
  }

  async run(): Promise<void> {
    const { signal } = this.o;
    let rv: string | undefined;
    // consecutive "too old" answers without a healthy watch in between; the first one is routine (a
    // watch resumed from an RV that fell out of the history) and not reported, a second one is
    let expiredStreak = 0;
    while (!signal.aborted) {
      let verb: Verb = 'list';
      try {
        if (rv === undefined) {
          rv = await this.list();
          if (signal.aborted) break;
        }
        verb = 'watch';
        const out = await this.watch(rv);
        if (out.healthy) expiredStreak = 0;
        rv = out.rv;
        if (out.expired) rv = undefined;
        if (out.error) throw out.error;
        if (out.quick) {
          throw out.expired
            ? new ApiRequestError('http', 'watch answered "too old resource version" at once', { httpCode: 410, reason: 'Expired' })
            : new ApiRequestError('protocol', 'watch ended within quickFailMs without any event', { reason: 'WatchClosed' });
        }
      } catch (err) {
        if (signal.aborted) break;
        const error = classifyError(err);
        if (error.kind === 'aborted') break;
        const expired = error.info.httpCode === 410;
        if (expired) rv = undefined;
        let delayMs = this.backoff.next(isPersistent(error));
        const ra = error.info.retryAfterMs;
        if (ra !== undefined && (error.info.httpCode === 429 || (error.info.httpCode ?? 0) >= 500)) {
          delayMs = Math.max(delayMs, Math.min(ra, this.o.timing.maxRetryAfterMs));
        }
        if (!expired || ++expiredStreak >= 2) {
          if (this.o.onFailure({ error, verb, delayMs }) === 'stop') break;
        }
        await sleep(delayMs, signal);
      }
    }
  }

  private async list(): Promise<string> {
    const { transport, resource, collectionPath, timing, signal, metrics } = this.o;
    if (this.lists++ > 0) metrics?.relist?.(resource);
    let body: unknown;
    try {
      body = await transport.getJson(
        collectionPath,
        { fieldSelector: this.selector, resourceVersion: '0' },
        { signal, timeoutMs: timing.requestTimeoutMs },
      );
    } catch (err) {
      const e = classifyError(err);
      if (e.kind !== 'aborted') metrics?.request?.(resource, 'list', e.info.httpCode ?? 'error');
      throw e;
    }
    metrics?.request?.(resource, 'list', 200);
    const list = body as { metadata?: { resourceVersion?: string }; items?: KubeObject[] };
    const rv = list?.metadata?.resourceVersion;
    if (typeof rv !== 'string' || !Array.isArray(list.items)) {
      throw new ApiRequestError('protocol', `list of ${collectionPath} has no items/resourceVersion`);
    }
    const item = list.items.find((i) => i?.metadata?.name === this.o.name);
    this.backoff.healthy();
    this.o.onHealthy();
    this.o.onObject('LIST', item);
    return rv;
  }

  private inactivityMs(timeoutS: number): number {
    const t = this.o.timing;
    if (t.inactivityMs !== 'auto') return t.inactivityMs;
    const byTimeout = timeoutS * 1000 + t.inactivityMarginMs;
    const gap = this.bookmarkGapMs ?? (this.assumedGapFailed ? undefined : t.assumedBookmarkGapMs);
    return gap === undefined ? byTimeout : Math.min(byTimeout, Math.max(3 * gap, t.inactivityMarginMs));
  }

  private async watch(rv: string): Promise<WatchOutcome & { quick: boolean }> {
    const { transport, resource, collectionPath, timing, metrics } = this.o;
    if (this.watches++ > 0) metrics?.watchRestart?.(resource);
    const span = Math.max(0, timing.watchTimeoutMaxS - timing.watchTimeoutMinS);
    const timeoutS = timing.watchTimeoutMinS + Math.floor(timing.random() * (span + 1));
    const local = new AbortController();
    const signal = AbortSignal.any([this.o.signal, local.signal]);
    let res: IncomingMessage;
    try {
      res = await transport.open(
        collectionPath,
        {
          watch: '1',
          fieldSelector: this.selector,
          resourceVersion: rv,
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(timeoutS),
        },
        { signal, timeoutMs: timing.requestTimeoutMs },
      );
    } catch (err) {
      const e = classifyError(err);
      if (e.kind !== 'aborted') metrics?.request?.(resource, 'watch', e.info.httpCode ?? 'error');
      throw e;
    }
    metrics?.request?.(resource, 'watch', res.statusCode ?? 200);
    const started = timing.now();
    const out = await this.consume(res, rv, timeoutS, local);
    const quick = out.received === 0 && !out.error && timing.now() - started < timing.quickFailMs;
    return { ...out, quick };
  }

  /**
   * Read events until the stream ends (timeout, server close, or a drop — all "re-watch now"), an ERROR
   * event arrives, or the inactivity guard fires (a failure).
   */
  private consume(res: IncomingMessage, rv: string, timeoutS: number, local: AbortController): Promise<WatchOutcome> {
    const { timing, resource, metrics } = this.o;
    const out: WatchOutcome = { rv, received: 0, expired: false, healthy: false };
    const decoder = new LineDecoder();
    let lastBookmarkAt: number | undefined;
    const markHealthy = (): void => {
      if (out.healthy) return;
      out.healthy = true;
      clearTimeout(healthTimer);
      this.backoff.healthy();
      this.o.onHealthy();
    };
    const healthTimer = setTimeout(markHealthy, timing.quickFailMs);
    let guard: NodeJS.Timeout | undefined;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    let finished = false;
    let stopped = false; // an ERROR arrived: ignore the rest of the stream
    const end = (error?: ApiRequestError): void => {
      if (finished) return;
      finished = true;
      if (error) out.error = error;
      clearTimeout(healthTimer);
      clearTimeout(guard);
      res.removeListener('data', onData);
      res.destroy();
      finish();
    };
    const arm = (): void => {
      clearTimeout(guard);
      const guardMs = this.inactivityMs(timeoutS); // tightens as soon as a bookmark interval is learned
      guard = setTimeout(() => {
        if (this.bookmarkGapMs === undefined && lastBookmarkAt === undefined) this.assumedGapFailed = true;
        local.abort();
        end(new ApiRequestError('timeout', `watch stream silent for ${guardMs} ms (half-open connection?)`, { reason: 'WatchSilent' }));
      }, guardMs);
    };
    const handle = (line: string): boolean => {
      let ev: { type?: string; object?: KubeObject & KubeStatus };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        end(new ApiRequestError('protocol', 'undecodable line in watch stream', { reason: 'BadWatchEvent' }));
        return false;
      }
      const type = ev.type ?? '';
      metrics?.event?.(resource, type);
      const obj = ev.object;
      if (type === 'ERROR') {
        // the server ends the stream right after an ERROR: let it, so the connection stays in the
        // keep-alive pool for the relist (a destroyed socket costs a new TLS handshake); cut it
        // ourselves only if the end does not follow soon
        const code = obj?.code;
        if (code === 410) out.expired = true;
        else out.error = statusError(code ?? 500, obj, undefined, 'ERROR event in watch stream');
        stopped = true;
        clearTimeout(healthTimer);
        res.removeListener('data', onData);
        res.resume();
        clearTimeout(guard);
        guard = setTimeout(() => end(), Math.min(1000, timing.requestTimeoutMs));
        return false;
      }
      out.received++;
      const newRv = obj?.metadata?.resourceVersion;
      if (typeof newRv === 'string' && newRv) out.rv = newRv;
      markHealthy();
      if (type === 'BOOKMARK') {
        const now = timing.now();
        if (lastBookmarkAt !== undefined) this.bookmarkGapMs = now - lastBookmarkAt;
        lastBookmarkAt = now;
      } else if ((type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') && obj?.metadata?.name === this.o.name) {
        this.o.onObject(type, obj);
      }
      return true;
    };
    const onData = (chunk: Buffer): void => {
      arm();
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch (err) {
        end(new ApiRequestError('protocol', (err as Error).message, { reason: 'BadWatchEvent' }));
        return;
      }
      for (const line of lines) if (!handle(line)) return;
    };
    res.on('data', onData);
    res.once('end', () => {
      const rest = finished || stopped ? undefined : decoder.rest();
      if (rest !== undefined) {
        let whole = true;
        try {
          JSON.parse(rest);
        } catch {
          whole = false; // torn last line of a dropped stream: ignore it, the RV before it is still right
        }
        if (whole) handle(rest);
      }
      end();
    });
    // a drop (socket reset, server gone mid-stream) ends the watch like a timeout: resume from out.rv
    res.once('close', () => end());
    res.once('error', () => end());
    arm();
    return done.then(() => out);
  }
}
