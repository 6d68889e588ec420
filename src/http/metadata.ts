// GET /metadata[/<path>]: the document or one part, JSON or text, ETag/304, and long-poll
// (?wait=true&timeout=<s> with If-None-Match or ?etag=). Raw node:http, no koa: every answer is bytes
// rendered once per revision and path (select.ts), so a sub-path, a text form, a 304 or a long-poll
// answer costs what the whole document costs. Reads the store's current snapshot only.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../store.js';
import { render, renderRaw, PathError, type Format, type Rendered } from '../select.js';
import { HttpError, writeError } from './errors.js';
import { formatOf, single, type Query } from './query.js';
import { keysFromPath, notFound } from './paths.js';
import type { StreamRegistry } from './streams.js';

export const LONGPOLL_DEFAULT_S = 60;
export const LONGPOLL_MAX_S = 300;

export function tagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header === etag) return true;
  // one strong tag that is not ours (the usual case: a long-poll with the previous tag)
  if (header[0] === '"' && !header.includes(',')) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const x = t.trim();
    return x === '*' || x.replace(/^W\//, '') === bare;
  });
}

function parseBool(q: Query, name: string): boolean {
  const v = single(q, name);
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new HttpError(400, `query parameter ${name} must be true or false, got ${JSON.stringify(v)}`);
}

function parseTimeout(q: Query): number {
  const v = single(q, 'timeout');
  if (v === undefined) return LONGPOLL_DEFAULT_S;
  if (!/^\d{1,6}$/.test(v) || Number(v) > LONGPOLL_MAX_S) {
    throw new HttpError(400, `query parameter timeout must be a whole number of seconds from 0 to ${LONGPOLL_MAX_S}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/** The response headers of a rendered part (200 and 304), built once per rendering like its bytes. */
const headerCache = new WeakMap<Rendered, { ok: string[]; notModified: string[] }>();

function headersOf(r: Rendered): { ok: string[]; notModified: string[] } {
  let h = headerCache.get(r);
  if (!h) {
    h = {
      ok: ['Content-Type', r.contentType, 'Content-Length', String(r.body.length), 'ETag', r.etag, 'Cache-Control', 'no-store'],
      notModified: ['ETag', r.etag, 'Cache-Control', 'no-store'],
    };
    headerCache.set(r, h);
  }
  return h;
}

/** The answer of a rendered part: 304 when `inm` matches its tag, else the bytes (none for HEAD). */
export function send(req: IncomingMessage, res: ServerResponse, r: Rendered, inm: string | undefined, matches = tagMatches(inm, r.etag)): number {
  const h = headersOf(r);
  if (matches) {
    res.writeHead(304, h.notModified);
    res.end();
    return 304;
  }
  res.writeHead(200, h.ok);
  res.end(req.method === 'HEAD' ? undefined : r.body);
  return 200;
}

function renderOrThrow(store: Store, rawPath: string, format: Format): Rendered {
  try {
    const r = renderRaw(store.current, rawPath, format);
    if (r) return r;
  } catch (err) {
    if (err instanceof PathError) throw new HttpError(err.status, err.message);
    throw err;
  }
  throw notFound(keysFromPath(rawPath));
}

export interface MetadataDeps {
  store: Store;
  streams: StreamRegistry;
}

/**
 * Answer GET/HEAD /metadata<rawPath>?<query>. Returns the status sent, or a promise of it for a long-poll.
 * Throws HttpError before anything is written.
 */
export function serveMetadata({ store, streams }: MetadataDeps, req: IncomingMessage, res: ServerResponse, rawPath: string, q: Query): number | Promise<number> {
  const format = formatOf(q, req.headers.accept);
  const wait = parseBool(q, 'wait');
  const timeoutS = parseTimeout(q);
  const tag = single(q, 'etag') ?? req.headers['if-none-match'];
  const first = renderOrThrow(store, rawPath, format);
  const matches = tagMatches(tag, first.etag);
  if (!wait || !tag || !matches || req.method === 'HEAD') return send(req, res, first, tag, matches);
  return longPoll(store, streams, req, res, keysFromPath(rawPath), format, tag, timeoutS);
}

/** Wait until the selected part differs from `tag`, the timeout, the client leaves, or shutdown. */
function longPoll(
  store: Store,
  streams: StreamRegistry,
  req: IncomingMessage,
  res: ServerResponse,
  keys: readonly string[],
  format: Format,
  tag: string,
  timeoutS: number,
): Promise<number> {
  let finish: (r: Rendered | null | 'timeout' | 'gone') => void = () => {};
  // before the promise: a refusal (the stream cap) is thrown to the caller, which answers it
  const release = streams.acquire({ kind: 'longpoll', close: () => finish('timeout') }, req.socket);
  return new Promise<number>((resolve) => {
    const unsubscribe = store.subscribe((change) => {
      const r = render(change.after, keys, format);
      if (!r || !tagMatches(tag, r.etag)) finish(r);
    });
    const timer = setTimeout(() => finish('timeout'), timeoutS * 1000);
    const onClose = (): void => finish('gone');
    res.on('close', onClose);
    req.socket.setTimeout(0);
    finish = (r) => {
      finish = () => {};
      clearTimeout(timer);
      unsubscribe();
      release();
      res.off('close', onClose);
      if (r === 'gone') return resolve(499);
      const now = r === 'timeout' ? render(store.current, keys, format) : r;
      if (!now) {
        const e = notFound(keys);
        writeError(res, e.status, e.message);
        return resolve(e.status);
      }
      resolve(send(req, res, now, tag));
    };
  });
}
