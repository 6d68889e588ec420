// A small raw SSE reader over fetch (for asserting exact ids, retry and comments; the `eventsource`
// package is used elsewhere as the real-client check). Parsing is src/sse-parse.ts, shared with the CLI.

import { SseParser, type SseMessage } from '../../src/sse-parse.js';

export type SseEvent = SseMessage;
export type SseEnd = 'end' | 'reset' | 'aborted';

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  retry: number | undefined;
  /** how the stream ended: 'end' = the server finished the response cleanly (last chunk sent);
   * 'reset' = the connection broke or the body was cut short; 'aborted' = close() was called */
  ended: Promise<SseEnd>;
  /** resolves with the first event (from index `from`) that matches */
  next(pred?: (e: SseEvent) => boolean, ms?: number): Promise<SseEvent>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { Metadata: 'true', ...headers }, signal: ac.signal });
  const s: SseStream = {
    status: res.status,
    headers: res.headers,
    events: [],
    comments: [],
    retry: undefined,
    ended: Promise.resolve('end'),
    next: () => Promise.reject(new Error('no stream')),
    close: () => ac.abort(),
  };
  if (!res.body) return s;
  let consumed = 0;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  s.next = (pred = () => true, ms = 5000) =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        while (consumed < s.events.length) {
          const e = s.events[consumed++]!;
          if (pred(e)) {
            resolve(e);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching SSE event within ${ms} ms (have ${s.events.length})`));
      }, ms);
      const w = (): void => {
        if (check()) {
          clearTimeout(timer);
          waiters.delete(w);
        }
      };
      waiters.add(w);
    });
  s.ended = (async (): Promise<SseEnd> => {
    const decoder = new TextDecoder();
    const parser = new SseParser({
      event: (e) => {
        s.events.push(e);
        notify();
      },
      comment: (c) => s.comments.push(c.trim()),
      retry: (ms) => {
        s.retry = ms;
      },
    });
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      return 'end';
    } catch (err) {
      // close() aborts on purpose; anything else (ECONNRESET, a chunked body cut short) is a reset
      return ac.signal.aborted ? 'aborted' : 'reset';
    }
  })();
  return s;
}
