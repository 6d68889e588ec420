// An incremental parser for text/event-stream (WHATWG HTML "server-sent events", §9.2.6): the one SSE
// parser of this repository — the CLI's `watch`, the test helpers and the benchmarks read streams with it.
// Feed it decoded text in arbitrary chunks; it calls back once per dispatched event, comment and retry.
// (@podmeta/client carries its own copy: it is a separate, zero-dependency package.)

export interface SseMessage {
  /** `event:` field, `message` when absent */
  event: string;
  /** the last `id:` seen so far on this stream (the spec's "last event ID"), undefined before any */
  id: string | undefined;
  data: string;
}

export interface SseHandlers {
  event(e: SseMessage): void;
  comment?(text: string): void;
  retry?(ms: number): void;
}

export class SseParser {
  private buf = '';
  private started = false;
  private pendingCr = false;
  private eventType = '';
  private data: string[] = [];
  private lastId: string | undefined;

  constructor(private readonly on: SseHandlers) {}

  /** the stream's last event ID (what a reconnect sends as Last-Event-ID) */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  feed(text: string): void {
    if (!this.started) {
      if (text === '') return;
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // a CR at the end of the previous chunk may be the first half of CRLF
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buf += text;
    let start = 0;
    for (;;) {
      const cr = this.buf.indexOf('\r', start);
      const lf = this.buf.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      this.line(this.buf.slice(start, end));
      if (this.buf[end] === '\r') {
        if (end + 1 === this.buf.length) {
          this.pendingCr = true;
          start = end + 1;
          break;
        }
        start = this.buf[end + 1] === '\n' ? end + 2 : end + 1;
      } else start = end + 1;
    }
    this.buf = this.buf.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.on.comment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.on.retry?.(Number(value));
        break;
      default:
      // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    this.eventType = '';
    if (this.data.length === 0) return;
    const data = this.data.join('\n');
    this.data = [];
    this.on.event({ event: type, id: this.lastId, data });
  }
}
