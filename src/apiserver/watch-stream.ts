// One watch stream as a pure state machine: bytes, the end of the response, a dropped connection and
// timer expiries go in; actions come out (arm/clear a timer, report health, hand an object on, stop
// reading, finish with an outcome). No I/O, no clock of its own: Reflector.consume drives it.
//
//   streaming ──ERROR event──▶ draining ──end / linger timer──▶ done
//       │                                                        ▲
//       └── end, drop, undecodable line, silence timer ──────────┘
//
// Any byte re-arms the silence timer (the half-open guard, see guard.ts). The stream counts as healthy
// once it delivered an event or stayed open for quickFailMs. After an ERROR the server ends the stream
// itself: the machine stops reading and lets it (the connection then stays in the keep-alive pool for the
// relist), finishing on the end or after lingerMs, whichever comes first.

import type { InactivityGuard } from './guard.js';
import { LineDecoder } from './lines.js';
import { ApiRequestError, statusError, type KubeStatus } from './transport.js';

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

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type TimerName = 'health' | 'silence' | 'linger';

export interface WatchOutcome {
  /** the last resourceVersion seen (the watch's start RV if none) */
  rv: string;
  /** events received (bookmarks included, ERROR excluded) */
  received: number;
  /** an ERROR 410 arrived: relist */
  expired: boolean;
  /** the stream reported itself healthy */
  healthy: boolean;
  error?: ApiRequestError;
}

export type StreamAction =
  | { do: 'arm'; timer: TimerName; ms: number }
  | { do: 'clear'; timer: TimerName }
  | { do: 'healthy' }
  | { do: 'event'; type: string }
  | { do: 'object'; type: WatchEventType; object: KubeObject }
  /** stop reading and let the server end the response */
  | { do: 'drain' }
  /** release the response; `abort`: also abort the request (the connection is presumed dead) */
  | { do: 'finish'; outcome: WatchOutcome; abort: boolean };

export interface WatchStreamOptions {
  /** the one object watched: events for other names are ignored */
  name: string;
  rv: string;
  timeoutS: number;
  quickFailMs: number;
  /** after an ERROR, wait at most this long for the server to end the stream */
  lingerMs: number;
  guard: InactivityGuard;
  now(): number;
}

const TIMERS: readonly TimerName[] = ['health', 'silence', 'linger'];

export class WatchStream {
  private phase: 'streaming' | 'draining' | 'done' = 'streaming';
  private readonly out: WatchOutcome;
  private readonly decoder = new LineDecoder();

  constructor(private readonly o: WatchStreamOptions) {
    this.out = { rv: o.rv, received: 0, expired: false, healthy: false };
  }

  get state(): 'streaming' | 'draining' | 'done' {
    return this.phase;
  }

  start(): StreamAction[] {
    this.o.guard.streamStarted();
    return [{ do: 'arm', timer: 'health', ms: this.o.quickFailMs }, this.armSilence()];
  }

  data(chunk: Uint8Array): StreamAction[] {
    if (this.phase !== 'streaming') return [];
    const acts: StreamAction[] = [this.armSilence()];
    let lines: string[];
    try {
      lines = this.decoder.push(chunk);
    } catch (err) {
      return [...acts, ...this.finish(new ApiRequestError('protocol', (err as Error).message, { reason: 'BadWatchEvent' }))];
    }
    for (const line of lines) {
      this.line(line, acts);
      if (this.phase !== 'streaming') break;
    }
    return acts;
  }

  /** the server ended the response */
  end(): StreamAction[] {
    if (this.phase === 'done') return [];
    const acts: StreamAction[] = [];
    if (this.phase === 'streaming') {
      const rest = this.decoder.rest();
      // a torn last line of a dropped stream is ignored: the RV before it is still right
      if (rest !== undefined && parses(rest)) this.line(rest, acts);
    }
    return [...acts, ...this.finish()];
  }

  /** the connection dropped (reset, server gone): like a timeout, the next watch resumes from the RV */
  closed(): StreamAction[] {
    return this.finish();
  }

  timer(name: TimerName): StreamAction[] {
    if (this.phase === 'done') return [];
    if (name === 'health') return this.phase === 'streaming' ? this.markHealthy() : [];
    if (name === 'linger') return this.finish();
    this.o.guard.fired();
    const ms = this.o.guard.limitMs(this.o.timeoutS);
    return this.finish(new ApiRequestError('timeout', `watch stream silent for ${ms} ms (half-open connection?)`, { reason: 'WatchSilent' }), true);
  }

  private armSilence(): StreamAction {
    // recomputed at every byte: tightens as soon as a bookmark interval is learned
    return { do: 'arm', timer: 'silence', ms: this.o.guard.limitMs(this.o.timeoutS) };
  }

  private markHealthy(): StreamAction[] {
    if (this.out.healthy) return [];
    this.out.healthy = true;
    return [{ do: 'clear', timer: 'health' }, { do: 'healthy' }];
  }

  private line(line: string, acts: StreamAction[]): void {
    let ev: { type?: string; object?: KubeObject & KubeStatus };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      acts.push(...this.finish(new ApiRequestError('protocol', 'undecodable line in watch stream', { reason: 'BadWatchEvent' })));
      return;
    }
    const type = ev?.type ?? '';
    const obj = ev?.object;
    acts.push({ do: 'event', type });
    if (type === 'ERROR') {
      const code = obj?.code;
      if (code === 410) this.out.expired = true;
      else this.out.error = statusError(code ?? 500, obj, undefined, 'ERROR event in watch stream');
      this.phase = 'draining';
      acts.push({ do: 'clear', timer: 'health' }, { do: 'clear', timer: 'silence' }, { do: 'drain' }, { do: 'arm', timer: 'linger', ms: this.o.lingerMs });
      return;
    }
    this.out.received++;
    const rv = obj?.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv) this.out.rv = rv;
    acts.push(...this.markHealthy());
    if (type === 'BOOKMARK') this.o.guard.bookmark(this.o.now());
    else if ((type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') && obj?.metadata?.name === this.o.name) {
      acts.push({ do: 'object', type, object: obj });
    }
  }

  private finish(error?: ApiRequestError, abort = false): StreamAction[] {
    if (this.phase === 'done') return [];
    this.phase = 'done';
    if (error) this.out.error = error;
    return [...TIMERS.map((timer): StreamAction => ({ do: 'clear', timer })), { do: 'finish', outcome: { ...this.out }, abort }];
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
