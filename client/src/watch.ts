// A live view of the document (or one part) over GET /events: the snapshot, then each `change` with its
// JSON Patch applied to a private copy. Never a wrong value: a patch that does not apply, a revision gap
// (whole-document streams number every revision), an event from another agent run or unparsable data
// all drop the stream and take a fresh snapshot. A dropped stream resumes with Last-Event-ID (the agent
// replays what was missed, or sends a snapshot); a restarted agent (new epoch in the ids) answers with a
// snapshot, so it is followed transparently. Reconnects back off exponentially with jitter from the
// server's `retry:`; a stream on which nothing, not even the `: keep-alive` comment, arrives for the idle
// time is treated as half-open and replaced.

import { open, readBody, retryAfterMs } from './http.js';
import { PodmetaError, errorFromResponse } from './errors.js';
import { SseParser, type SseEvent } from './sse.js';
import { applyPatch } from './patch.js';
import { deepEqual, deepFreeze } from './values.js';
import { eventsPath, segments } from './paths.js';

export interface WatchItem<T> {
  /** the value after this revision (undefined while the watched part is absent) */
  readonly value: T | undefined;
  /** the agent's document revision (it starts again from 1 when the agent restarts) */
  readonly revision: number;
}

export interface WatchOptions {
  signal?: AbortSignal;
  /** replace a stream on which nothing arrived for this long. Default: derived from the agent's keep-alive
   * cadence — 3 × the longest gap seen between keep-alives, within 1.5 s…35 s; 35 s (the contract's 15 s
   * keep-alive, twice, plus margin) until one has been seen. */
  idleTimeoutMs?: number;
  /** longest reconnect delay (default 30 s) */
  maxBackoffMs?: number;
}

export interface WatchDeps {
  base: string;
  /** connect + response-head deadline of each (re)connect; never applied to the open stream */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  onClose?: () => void;
}

/** The contract: a keep-alive comment at least every 15 s. */
export const KEEPALIVE_MAX_MS = 15_000;
const DEFAULT_IDLE_MS = 2 * KEEPALIVE_MAX_MS + 5_000;
const MIN_IDLE_MS = 1_500;
const DEFAULT_RETRY_MS = 1_000;

type Verdict = 'ok' | 'ignored' | 'resync';
interface Outcome {
  kind: 'ended' | 'idle' | 'resync' | 'failed';
  /** the stream delivered a snapshot or change before it ended */
  delivered: boolean;
  error?: PodmetaError;
  retryAfter?: number | undefined;
}

class Cursor<T> {
  readonly queue: WatchItem<T>[] = [];
  wake: (() => void) | undefined;
  push(item: WatchItem<T>): void {
    this.queue.push(item);
    this.wake?.();
  }
}

function parseId(id: string | undefined): { epoch: string; revision: number } | undefined {
  if (!id) return undefined;
  const dot = id.lastIndexOf('.');
  const rev = id.slice(dot + 1);
  return dot > 0 && /^\d{1,15}$/.test(rev) ? { epoch: id.slice(0, dot), revision: Number(rev) } : undefined;
}

function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

export class Watch<T = unknown> implements AsyncIterable<WatchItem<T>> {
  /** counters, for logs and tests */
  readonly stats = { connects: 0, snapshots: 0, changes: 0, resyncs: 0, idleTimeouts: 0 };
  /** resolves with the first value (rejects only when the watch fails for good or is closed first) */
  readonly ready: Promise<WatchItem<T>>;

  private value: T | undefined;
  private rev: number | undefined;
  private epochId: string | undefined;
  private lastEventId: string | undefined;
  private have = false;
  private isClosed = false;
  private isConnected = false;
  private fatal: PodmetaError | undefined;
  private lastError: PodmetaError | undefined;
  private retryMs = DEFAULT_RETRY_MS;
  private maxGap = 0;
  private resyncs = 0;
  private needSnapshot = false;
  private readonly whole: boolean;
  private readonly url: string;
  private readonly ac = new AbortController();
  private readonly cursors = new Set<Cursor<T>>();
  private settleReady: { resolve(i: WatchItem<T>): void; reject(e: unknown): void } | undefined;

  constructor(
    private readonly deps: WatchDeps,
    path: string | undefined,
    private readonly o: WatchOptions = {},
  ) {
    this.whole = segments(path).length === 0;
    this.url = eventsPath(path);
    this.ready = new Promise<WatchItem<T>>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {}); // awaiting it still sees the rejection; nobody awaiting is not a crash
    for (const s of [deps.signal, o.signal]) {
      if (s?.aborted) this.close();
      else s?.addEventListener('abort', () => this.close(), { once: true });
    }
    if (!this.isClosed) void this.run();
  }

  /** the latest value (undefined before the first snapshot, or while the watched part is absent) */
  get current(): T | undefined {
    return this.value;
  }

  /** the revision of `current` (undefined before the first snapshot) */
  get revision(): number | undefined {
    return this.rev;
  }

  /** the agent run that sent `current` (changes when the agent restarts) */
  get epoch(): string | undefined {
    return this.epochId;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** the error that ended the watch (a 4xx), else the last connection problem (cleared by nothing: informative) */
  get error(): PodmetaError | undefined {
    return this.fatal ?? this.lastError;
  }

  /** Stop: the stream is closed, every `for await` loop ends. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.ac.abort();
    this.deps.onClose?.();
    if (!this.have) this.settleReady?.reject(this.fatal ?? new PodmetaError(0, 'Aborted', 'the watch was closed'));
    for (const c of this.cursors) c.wake?.();
  }

  /** The current value first (if any), then one item per change. Leaving the loop closes the watch. */
  [Symbol.asyncIterator](): AsyncIterator<WatchItem<T>> {
    const c = new Cursor<T>();
    if (this.have) c.queue.push(Object.freeze({ value: this.value, revision: this.rev! }));
    this.cursors.add(c);
    return {
      next: async (): Promise<IteratorResult<WatchItem<T>>> => {
        for (;;) {
          const item = c.queue.shift();
          if (item) return { done: false, value: item };
          if (this.isClosed) {
            this.cursors.delete(c);
            if (this.fatal) throw this.fatal;
            return { done: true, value: undefined };
          }
          await new Promise<void>((r) => (c.wake = r));
          c.wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<WatchItem<T>>> => {
        this.cursors.delete(c);
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  private idleMs(): number {
    if (this.o.idleTimeoutMs !== undefined) return this.o.idleTimeoutMs;
    return this.maxGap === 0 ? DEFAULT_IDLE_MS : Math.min(DEFAULT_IDLE_MS, Math.max(MIN_IDLE_MS, 3 * this.maxGap));
  }

  private backoff(n: number): number {
    return jitter(Math.min(this.o.maxBackoffMs ?? 30_000, this.retryMs * 2 ** Math.min(n, 20)));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.ac.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.isClosed) {
      const out = await this.connect();
      if (this.isClosed) break;
      if (out.error && out.error.code >= 400 && out.error.code < 500) {
        // the agent refused the request itself (header, Host, bad path): repeating it cannot help
        this.fatal = out.error;
        this.close();
        break;
      }
      if (out.error) this.lastError = out.error;
      let delay: number;
      if (out.kind === 'resync') {
        this.stats.resyncs++;
        delay = this.resyncs++ === 0 ? 0 : this.backoff(this.resyncs - 2);
      } else if (out.delivered) {
        failures = 0;
        delay = jitter(this.retryMs);
      } else {
        delay = this.backoff(failures++);
      }
      if (out.retryAfter !== undefined) delay = Math.max(delay, out.retryAfter);
      await this.sleep(delay);
    }
  }

  private async connect(): Promise<Outcome> {
    this.stats.connects++;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (!this.needSnapshot && this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    this.needSnapshot = false;
    let opened: Awaited<ReturnType<typeof open>>;
    try {
      opened = await open(this.deps.base, { path: this.url, headers, timeoutMs: this.deps.timeoutMs, signal: this.ac.signal }, false);
    } catch (err) {
      return { kind: 'failed', delivered: false, error: err as PodmetaError };
    }
    const { res, done } = opened;
    const status = res.statusCode ?? 0;
    if (status !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
      let body = '';
      try {
        body = await readBody(res, new URL(this.deps.base).host);
      } catch {
        // the status says enough
      } finally {
        done();
      }
      const error = status === 200 ? new PodmetaError(200, 'BadResponse', `/events answered ${String(res.headers['content-type'])}, not an event stream`) : errorFromResponse(status, body);
      return { kind: 'failed', delivered: false, error, retryAfter: status === 503 ? retryAfterMs(res.headers) : undefined };
    }
    done(); // the connect deadline ends here: an open stream has only the idle timeout
    return new Promise<Outcome>((resolve) => {
      let delivered = false;
      let settled = false;
      let lastPing = Date.now();
      let idle: NodeJS.Timeout | undefined;
      const finish = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        this.isConnected = false;
        if (o.kind === 'resync') this.needSnapshot = true;
        res.destroy();
        resolve(o);
      };
      const arm = (): void => {
        clearTimeout(idle);
        const ms = this.idleMs();
        idle = setTimeout(() => {
          this.stats.idleTimeouts++;
          finish({ kind: 'idle', delivered, error: new PodmetaError(0, 'Timeout', `nothing from the agent for ${ms} ms (not even a keep-alive): reconnecting`) });
        }, ms);
      };
      const parser = new SseParser({
        event: (e) => {
          if (settled) return;
          const v = this.onEvent(e);
          if (v === 'resync') finish({ kind: 'resync', delivered });
          else if (v === 'ok') delivered = true;
        },
        comment: () => {
          const now = Date.now();
          this.maxGap = Math.max(this.maxGap, now - lastPing);
          lastPing = now;
        },
        retry: (ms) => {
          this.retryMs = Math.min(Math.max(ms, 1), 60_000);
        },
      });
      this.isConnected = true;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        parser.push(chunk);
        if (!settled) arm();
      });
      res.once('end', () => finish({ kind: 'ended', delivered }));
      res.once('close', () => finish({ kind: 'ended', delivered, error: new PodmetaError(0, 'ConnectionFailed', 'the event stream closed') }));
      res.on('error', () => {});
      const onAbort = (): void => finish({ kind: 'ended', delivered });
      this.ac.signal.addEventListener('abort', onAbort, { once: true });
      res.once('close', () => this.ac.signal.removeEventListener('abort', onAbort));
      if (this.ac.signal.aborted) onAbort();
      arm();
    });
  }

  private onEvent(e: SseEvent): Verdict {
    if (e.type !== 'snapshot' && e.type !== 'change') return 'ignored';
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch {
      return 'resync';
    }
    const id = parseId(e.id);
    if (e.type === 'snapshot') {
      if (!id) return 'resync';
      if (this.whole && (typeof data !== 'object' || data === null)) return 'resync';
      this.epochId = id.epoch;
      this.lastEventId = e.id;
      this.stats.snapshots++;
      this.publish((data === null ? undefined : data) as T | undefined, id.revision);
      return 'ok';
    }
    // a change: only on top of a snapshot of the same agent run
    if (!this.have || !id || id.epoch !== this.epochId) return 'resync';
    const { revision, patch } = (data ?? {}) as { revision?: unknown; patch?: unknown };
    if (typeof revision !== 'number' || revision !== id.revision) return 'resync';
    if (revision <= this.rev!) return 'ignored'; // already applied: never twice
    // the whole-document stream numbers every revision; a part's stream skips the ones that did not touch it
    if (this.whole && revision !== this.rev! + 1) return 'resync';
    let next: unknown;
    try {
      next = applyPatch(this.value === undefined ? undefined : structuredClone(this.value), patch);
    } catch {
      return 'resync';
    }
    if (this.whole) {
      if (typeof next !== 'object' || next === null || Array.isArray(next)) return 'resync';
      (next as { revision: number }).revision = revision;
    }
    this.lastEventId = e.id;
    this.resyncs = 0;
    this.stats.changes++;
    this.publish(next as T | undefined, revision);
    return 'ok';
  }

  private publish(value: T | undefined, revision: number): void {
    const v = deepFreeze(value);
    const changed = !this.have || !deepEqual(v, this.value);
    this.value = v;
    this.rev = revision;
    this.have = true;
    if (!changed) return;
    const item: WatchItem<T> = Object.freeze({ value: v, revision });
    this.settleReady?.resolve(item);
    for (const c of this.cursors) c.push(item);
  }
}
