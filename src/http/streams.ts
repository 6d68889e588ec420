// Open long-lived responses (SSE streams and waiting long-polls): a cap with a clear 503, one shared
// keep-alive timer (not one per stream), and "end them all" for shutdown.

export interface OpenStream {
  kind: 'sse' | 'longpoll';
  /** end the response cleanly (shutdown) */
  close(): void;
  /** SSE only: write a keep-alive comment */
  ping?(): void;
}

export class StreamRegistry {
  private readonly open = new Set<OpenStream>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly max: number,
    private readonly keepAliveMs: number,
    private readonly onCount: (kind: OpenStream['kind'], n: number) => void = () => {},
  ) {}

  get size(): number {
    return this.open.size;
  }

  private readonly counts = { sse: 0, longpoll: 0 };

  count(kind: OpenStream['kind']): number {
    return this.counts[kind];
  }

  /** Register a stream; undefined when the cap is reached (answer 503). Returns the release function. */
  acquire(s: OpenStream): (() => void) | undefined {
    if (this.open.size >= this.max) return undefined;
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
