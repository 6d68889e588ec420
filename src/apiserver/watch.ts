// A list+watch reflector for ONE named object (client-go's reflector, reduced): client-go tools/cache/reflector.go; docs/rbac.md explains the cost.
//   list  GET <collection>?fieldSelector=metadata.name=N&resourceVersion=0          (served from the cache)
//   watch GET <collection>?watch=1&fieldSelector=…&resourceVersion=<list RV>&allowWatchBookmarks=true
//             &timeoutSeconds=<random 300–600>
// The RV is taken from every event, BOOKMARK included, so a re-watch resumes where the last one ended.
// ERROR 410 in a 200 stream, or a plain HTTP 410 → relist. A watch that ended normally is re-opened at
// once; a failure (or a watch that ended in < quickFailMs without an event) waits a full-jitter backoff,
// at least Retry-After. A stream that is silent for longer than the inactivity guard (half-open TCP, see
// guard.ts) is torn down; any byte, bookmarks included, re-arms the guard. One stream's life is the pure
// state machine in watch-stream.ts; this file holds the retry loop and the I/O around it.

import { InactivityGuard } from './guard.js';
import { Backoff, sleep, type ApiTiming } from './timing.js';
import { ApiRequestError, classifyError, type ApiResponse, type Transport } from './transport.js';
import { WatchStream, type KubeObject, type StreamAction, type TimerName, type WatchOutcome } from './watch-stream.js';

export type Resource = 'pod' | 'node';
export type Verb = 'list' | 'watch' | 'get';

/** the object shapes are the stream's (watch-stream.ts decodes them); re-exported for the sources */
export type { KubeObject, ObjectMeta } from './watch-stream.js';

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

export class Reflector {
  private readonly backoff: Backoff;
  /** the half-open guard; what it learns (the bookmark cadence) survives re-watches */
  private readonly guard: InactivityGuard;
  private lists = 0;
  private watches = 0;

  constructor(private readonly o: ReflectorOptions) {
    this.backoff = new Backoff(o.timing);
    this.guard = new InactivityGuard(o.timing);
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

  /** run one request; a failure is counted in the request metric (by code) and rethrown classified */
  private async counted<T>(verb: Verb, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      const e = classifyError(err);
      if (e.kind !== 'aborted') this.o.metrics?.request?.(this.o.resource, verb, e.info.httpCode ?? 'error');
      throw e;
    }
  }

  private async list(): Promise<string> {
    const { transport, resource, collectionPath, timing, signal, metrics } = this.o;
    if (this.lists++ > 0) metrics?.relist?.(resource);
    const body = await this.counted('list', () =>
      transport.getJson(collectionPath, { fieldSelector: this.selector, resourceVersion: '0' }, { signal, timeoutMs: timing.requestTimeoutMs }),
    );
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

  private async watch(rv: string): Promise<WatchOutcome & { quick: boolean }> {
    const { transport, resource, collectionPath, timing, metrics } = this.o;
    if (this.watches++ > 0) metrics?.watchRestart?.(resource);
    const span = Math.max(0, timing.watchTimeoutMaxS - timing.watchTimeoutMinS);
    const timeoutS = timing.watchTimeoutMinS + Math.floor(timing.random() * (span + 1));
    const local = new AbortController();
    const signal = AbortSignal.any([this.o.signal, local.signal]);
    const query = { watch: '1', fieldSelector: this.selector, resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutS) };
    const res = await this.counted('watch', () => transport.open(collectionPath, query, { signal, timeoutMs: timing.requestTimeoutMs }));
    metrics?.request?.(resource, 'watch', res.statusCode ?? 200);
    const started = timing.now();
    const out = await this.consume(res, rv, timeoutS, local);
    const quick = out.received === 0 && !out.error && timing.now() - started < timing.quickFailMs;
    return { ...out, quick };
  }

  /**
   * The thin I/O loop around WatchStream (the pure state machine in watch-stream.ts): feeds it the
   * response's bytes, end and drop, runs its timers, and carries out its actions.
   */
  private consume(res: ApiResponse, rv: string, timeoutS: number, local: AbortController): Promise<WatchOutcome> {
    const { timing, resource, metrics } = this.o;
    const machine = new WatchStream({
      name: this.o.name,
      rv,
      timeoutS,
      quickFailMs: timing.quickFailMs,
      lingerMs: Math.min(1000, timing.requestTimeoutMs),
      guard: this.guard,
      now: timing.now,
    });
    const timers = new Map<TimerName, NodeJS.Timeout>();
    return new Promise((resolve) => {
      const onData = (chunk: Buffer): void => apply(machine.data(chunk));
      const apply = (actions: readonly StreamAction[]): void => {
        for (const a of actions) {
          switch (a.do) {
            case 'arm':
              clearTimeout(timers.get(a.timer));
              timers.set(a.timer, setTimeout(() => apply(machine.timer(a.timer)), a.ms));
              break;
            case 'clear':
              clearTimeout(timers.get(a.timer));
              timers.delete(a.timer);
              break;
            case 'healthy':
              this.backoff.healthy();
              this.o.onHealthy();
              break;
            case 'event':
              metrics?.event?.(resource, a.type);
              break;
            case 'object':
              this.o.onObject(a.type, a.object);
              break;
            case 'drain':
              res.removeListener('data', onData);
              res.resume();
              break;
            case 'finish':
              if (a.abort) local.abort();
              res.removeListener('data', onData);
              res.destroy();
              resolve(a.outcome);
              break;
          }
        }
      };
      res.on('data', onData);
      res.once('end', () => apply(machine.end()));
      res.once('close', () => apply(machine.closed()));
      res.once('error', () => apply(machine.closed()));
      apply(machine.start());
    });
  }
}
