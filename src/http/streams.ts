// Open long-lived responses (SSE streams and waiting long-polls): a cap with a clear 503, at most one per
// connection (HTTP/1.1 answers in order, so a second one pipelined behind an open stream could never be
// delivered — it would only hold a slot), one shared keep-alive timer (not one per stream), and "end them
// all" for shutdown.

import type { Socket } from 'node:net';
import { HttpError } from './errors.js';
import { streamsOn } from './connections.js';

export interface OpenStream {
  kind: 'sse' | 'longpoll';
  /** end the response cleanly (shutdown) */
  close(): void;
  /** SSE only: write a keep-alive comment */
  ping?(): void;
}

export const STREAMS_PER_CONNECTION = 1;

export class StreamRegistry {
  private readonly open = new Set<OpenStream>();
  private readonly counts = { sse: 0, longpoll: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly max: number,
    private readonly keepAliveMs: number,
    private readonly onCount: (kind: OpenStream['kind'], n: number) => void = () => {},
  ) {}

  /** Register a stream on a connection; returns the release function. Throws HttpError 503 when the cap is
   * reached, 429 when the connection already has one open. */
  acquire(s: OpenStream, socket: Socket): () => void {
    if (streamsOn(socket) >= STREAMS_PER_CONNECTION) {
      throw new HttpError(429, 'this connection already has an open event stream or long-poll; open another connection for another stream', {
        'Retry-After': '1',
      });
    }
    if (this.open.size >= this.max) {
      throw new HttpError(503, `too many open streams and long-polls (limit ${this.max}, PODMETA_MAX_STREAMS); retry later`, { 'Retry-After': '1' });
    }
    streamsOn(socket, +1);
    this.open.add(s);
    this.onCount(s.kind, ++this.counts[s.kind]);
    if (s.ping && !this.timer) {
      this.timer = setInterval(() => {
        for (const x of this.open) x.ping?.();
      }, this.keepAliveMs);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      streamsOn(socket, -1);
      this.open.delete(s);
      this.onCount(s.kind, --this.counts[s.kind]);
      if (this.open.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }
}
