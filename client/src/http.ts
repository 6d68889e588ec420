// One HTTP exchange with the agent over node:http (not fetch: fetch cannot bound the connect phase on its
// own and its default 300 s header timeout would cut a long-poll): `Metadata: true` always, a deadline
// that covers connect and response, an AbortSignal, and every failure turned into a PodmetaError.
// `request()` adds the safe retries: a reset/hung-up connection, and 503 with Retry-After while the
// deadline allows; never a 4xx, never a refused connection (no agent: fail at once).

import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { PodmetaError, errorFromResponse } from './errors.js';

export interface Exchange {
  /** path and query, e.g. `/metadata/pod/labels?format=text` */
  path: string;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** ms for connect + response; undefined = none */
  timeoutMs: number | undefined;
  /** the whole call's deadline, for the message (default timeoutMs) */
  budgetMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const MAX_BODY = 16 << 20;

function noAnswer(err: unknown, what: string): PodmetaError {
  if (err instanceof PodmetaError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED') return new PodmetaError(0, 'ConnectionRefused', `no podmeta agent at ${what} (connection refused)`, { cause: err });
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return new PodmetaError(0, 'ConnectionFailed', `podmeta agent at ${what}: connection failed (${detail})`, { cause: err });
}

/** Open a request and resolve with the response head (body not read). The deadline, if any, keeps
 * running until `done()` is called, so it also covers reading the body. */
export function open(
  base: string,
  x: Exchange,
  agent: Agent | false,
): Promise<{ res: IncomingMessage; done: () => void }> {
  const url = new URL(base + x.path);
  return new Promise((resolve, reject) => {
    if (x.signal?.aborted) return reject(new PodmetaError(0, 'Aborted', 'the request was aborted'));
    const req = httpRequest(url, { method: x.method ?? 'GET', agent, headers: { Accept: 'application/json', ...x.headers, Metadata: 'true' } });
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      req.destroy(new PodmetaError(0, 'Aborted', 'the request was aborted'));
    };
    const done = (): void => {
      if (timer) clearTimeout(timer);
      x.signal?.removeEventListener('abort', onAbort);
    };
    if (x.timeoutMs !== undefined) {
      timer = setTimeout(
        () => req.destroy(new PodmetaError(0, 'Timeout', `podmeta agent at ${url.host} did not answer within ${x.budgetMs ?? x.timeoutMs} ms`)),
        x.timeoutMs,
      );
    }
    x.signal?.addEventListener('abort', onAbort, { once: true });
    req.once('error', (err) => {
      done();
      reject(noAnswer(err, url.host));
    });
    req.once('response', (res) => {
      // an error after the head (reset mid-body) surfaces through the body reader
      req.removeAllListeners('error');
      req.on('error', () => {});
      resolve({ res, done });
    });
    req.end();
  });
}

/** Read a whole body (bounded); rejects with a PodmetaError when the connection breaks mid-body. */
export function readBody(res: IncomingMessage, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) res.destroy(new PodmetaError(res.statusCode ?? 0, 'TooLarge', `response larger than ${MAX_BODY} bytes`));
      else chunks.push(c);
    });
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', (err) => reject(noAnswer(err, host)));
    res.once('close', () => {
      if (!res.complete) reject(noAnswer((res as { errored?: unknown }).errored ?? new Error('connection closed mid-response'), host));
    });
  });
}

/** Seconds (or an HTTP date) from Retry-After, as ms; undefined when absent or unusable. */
export function retryAfterMs(h: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const v = h['retry-after'];
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new PodmetaError(0, 'Aborted', 'the request was aborted'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new PodmetaError(0, 'Aborted', 'the request was aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const CONNECTION_RETRIES = 2;

/**
 * One logical request with the safe retries, all inside one deadline (`timeoutMs` for the whole call).
 * Resolves with any answer below 400 (2xx, 304); rejects with a PodmetaError otherwise.
 */
export async function request(base: string, x: Exchange, agent: Agent): Promise<Answer> {
  const deadline = x.timeoutMs === undefined ? Infinity : Date.now() + x.timeoutMs;
  const host = new URL(base).host;
  let resets = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new PodmetaError(0, 'Timeout', `podmeta agent at ${host} did not answer within ${x.timeoutMs} ms`);
    let answer: Answer;
    try {
      const { res, done } = await open(base, { ...x, timeoutMs: Number.isFinite(left) ? left : undefined, budgetMs: x.timeoutMs }, agent);
      try {
        answer = { status: res.statusCode ?? 0, headers: res.headers, body: await readBody(res, host) };
      } finally {
        done();
      }
    } catch (err) {
      // a kept-alive socket the agent closed meanwhile, or a connection reset: safe to repeat a GET
      if (err instanceof PodmetaError && err.reason === 'ConnectionFailed' && resets < CONNECTION_RETRIES) {
        await sleep(Math.min(25 * 2 ** resets++, Math.max(0, deadline - Date.now())), x.signal);
        continue;
      }
      throw err;
    }
    if (answer.status < 400) return answer;
    const wait = answer.status === 503 ? retryAfterMs(answer.headers) : undefined;
    if (wait !== undefined && Date.now() + wait < deadline) {
      await sleep(wait, x.signal);
      continue;
    }
    throw errorFromResponse(answer.status, answer.body);
  }
}
