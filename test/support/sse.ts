// A small raw SSE reader over fetch (for asserting exact ids, retry and comments; the `eventsource`
// package is used elsewhere as the real-client check).

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  retry: number | undefined;
  ended: Promise<void>;
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
    ended: Promise.resolve(),
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
  s.ended = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    let ev: { event: string; id: string | undefined; data: string[] } = { event: 'message', id: undefined, data: [] };
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (ev.data.length > 0) s.events.push({ event: ev.event, id: ev.id, data: ev.data.join('\n') });
            ev = { event: 'message', id: undefined, data: [] };
            notify();
          } else if (line.startsWith(':')) s.comments.push(line.slice(1).trim());
          else {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'data') ev.data.push(value);
            else if (field === 'event') ev.event = value;
            else if (field === 'id') ev.id = value;
            else if (field === 'retry') s.retry = Number(value);
          }
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return s;
}
