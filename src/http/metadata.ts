// GET /metadata[/<path>]: the document or one part, JSON or text, ETag/304, and long-poll
// (?wait=true&timeout=<s> with If-None-Match or ?etag=). Reads the store's current snapshot only.

import type { Context } from 'koa';
import type { Store } from '../store.js';
import { render, resolveKeys, splitPath, PathError, type Format, type Rendered } from '../select.js';
import { HttpError } from './errors.js';
import type { StreamRegistry } from './streams.js';

export const LONGPOLL_DEFAULT_S = 60;
export const LONGPOLL_MAX_S = 300;

export function tagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const x = t.trim();
    return x === '*' || x.replace(/^W\//, '') === bare;
  });
}

export function queryValue(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new HttpError(400, `query parameter ${name} was given more than once`);
  return v;
}

export function parseFormat(ctx: Context): Format {
  const f = queryValue(ctx, 'format');
  if (f !== undefined) {
    if (f === 'json' || f === 'text') return f;
    throw new HttpError(400, `query parameter format must be "json" or "text", got ${JSON.stringify(f)}`);
  }
  const accept = ctx.get('Accept');
  if (accept && ctx.accepts('application/json', 'text/plain') === 'text/plain') return 'text';
  return 'json';
}

function parseBool(ctx: Context, name: string): boolean {
  const v = queryValue(ctx, name);
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new HttpError(400, `query parameter ${name} must be true or false, got ${JSON.stringify(v)}`);
}

function parseTimeout(ctx: Context): number {
  const v = queryValue(ctx, 'timeout');
  if (v === undefined) return LONGPOLL_DEFAULT_S;
  if (!/^\d{1,6}$/.test(v) || Number(v) > LONGPOLL_MAX_S) {
    throw new HttpError(400, `query parameter timeout must be a whole number of seconds from 0 to ${LONGPOLL_MAX_S}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

export function keysFromPath(raw: string): string[] {
  try {
    return resolveKeys(splitPath(raw));
  } catch (err) {
    if (err instanceof PathError) throw new HttpError(err.status, err.message);
    throw err;
  }
}

function notFound(keys: readonly string[]): HttpError {
  return new HttpError(404, `no field ${keys.join('/')}`);
}

function send(ctx: Context, r: Rendered, inm: string | undefined): void {
  ctx.set('ETag', r.etag);
  ctx.set('Cache-Control', 'no-store');
  if (tagMatches(inm, r.etag)) {
    ctx.status = 304;
    return;
  }
  ctx.status = 200;
  ctx.type = r.contentType;
  ctx.body = r.body;
}

export interface MetadataDeps {
  store: Store;
  streams: StreamRegistry;
}

export function metadataHandler({ store, streams }: MetadataDeps) {
  return async function getMetadata(ctx: Context): Promise<void> {
    const raw = ctx.path.slice('/metadata'.length);
    const keys = keysFromPath(raw);
    const format = parseFormat(ctx);
    const wait = parseBool(ctx, 'wait');
    const timeoutS = parseTimeout(ctx);
    const tag = queryValue(ctx, 'etag') ?? ctx.get('If-None-Match') ?? '';
    const first = render(store.current, keys, format);
    if (!first) throw notFound(keys);
    if (!wait || !tag || !tagMatches(tag, first.etag) || ctx.method === 'HEAD') {
      send(ctx, first, tag || undefined);
      return;
    }
    // long-poll: wait until the selected part differs from `tag`, the timeout, the client leaves, or shutdown
    let finish: (r: Rendered | null | 'timeout' | 'gone') => void = () => {};
    const release = streams.acquire({ kind: 'longpoll', close: () => finish('timeout') });
    if (!release) {
      throw new HttpError(503, `too many open streams and long-polls (limit ${streams.max}, PODMETA_MAX_STREAMS); retry later`, {
        'Retry-After': '1',
      });
    }
    const result = await new Promise<Rendered | null | 'timeout' | 'gone'>((resolve) => {
      const onClose = (): void => finish('gone');
      const unsubscribe = store.subscribe((change) => {
        const r = render(change.after, keys, format);
        if (!r || !tagMatches(tag, r.etag)) finish(r);
      });
      const timer = setTimeout(() => finish('timeout'), timeoutS * 1000);
      ctx.res.on('close', onClose);
      finish = (r) => {
        finish = () => {};
        clearTimeout(timer);
        unsubscribe();
        release();
        ctx.res.off('close', onClose);
        resolve(r);
      };
    });
    if (result === 'gone') {
      ctx.respond = false;
      return;
    }
    if (result === null) throw notFound(keys);
    if (result === 'timeout') {
      const now = render(store.current, keys, format);
      if (!now) throw notFound(keys);
      send(ctx, now, tag);
      return;
    }
    send(ctx, result, tag);
  };
}
