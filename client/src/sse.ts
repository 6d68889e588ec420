// A server-sent events parser (the WHATWG EventSource processing model): lines end in CRLF, LF or CR
// (also split across chunks), `field: value` with one optional space, comments start with `:`, an
// event is dispatched at a blank line when it has data, `id` persists until changed, `retry` takes
// digits only, a leading BOM is dropped.

export interface SseEvent {
  type: string;
  data: string;
  /** the last event ID at dispatch (persists across events, as in EventSource) */
  id: string | undefined;
}

export interface SseHandlers {
  event(e: SseEvent): void;
  comment?(text: string): void;
  retry?(ms: number): void;
}

export class SseParser {
  private buf = '';
  private started = false;
  private skipLf = false;
  private type = '';
  private data: string[] = [];
  private lastId: string | undefined;

  constructor(private readonly h: SseHandlers) {}

  push(chunk: string): void {
    let s = chunk;
    if (!this.started && s.length > 0) {
      this.started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    if (this.skipLf && s.startsWith('\n')) s = s.slice(1);
    this.skipLf = false;
    this.buf += s;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // a CR at the very end may be the first half of a CRLF split across chunks
      if (m[0] === '\r' && m.index === this.buf.length - 1) this.skipLf = true;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.h.event({ type: this.type || 'message', data: this.data.join('\n'), id: this.lastId });
      this.type = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) {
      this.h.comment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\u0000')) this.lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.h.retry?.(Number(value));
  }
}
