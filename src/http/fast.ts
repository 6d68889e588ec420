// The metadata listener's request pipeline, and its one rule for two paths:
//   RAW (this file, before koa): every request to /metadata, /metadata/<path> and /events — the reads that
//     must cost what a static response costs and the streams that must not each keep a koa context alive.
//     The guard, the method check, strict query parsing and errors (HttpError → writeError) all happen here.
//   KOA (app.ts): everything else — /status, and the JSON 404/405 of unknown routes and methods — with the
//     same guard (guard.ts) and the same error shape (errors.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../store.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import type { Guard } from './guard.js';
import type { EventHub } from './events.js';
import type { StreamRegistry } from './streams.js';
import { HttpError, writeError } from './errors.js';
import { parseQuery, single, type Query } from './query.js';
import { serveMetadata } from './metadata.js';
import { countRequest } from './tally.js';

export interface RawDeps {
  store: Store;
  streams: StreamRegistry;
  hub: EventHub;
  metrics: Metrics;
  log: Logger;
  guard: Guard;
}

const NO_QUERY = parseQuery('');
/** Parsed query strings by their raw text: clients repeat the same URL (polling, long-polls with the current
 * tag), so most requests skip parsing and decoding. Bounded; only valid queries are kept (Query is read-only). */
const QUERY_CACHE_MAX = 256;
const QUERY_CACHE_MAX_LENGTH = 512;
const queries = new Map<string, Query>();

function queryOf(raw: string): Query {
  const hit = queries.get(raw);
  if (hit) return hit;
  const q = parseQuery(raw); // throws HttpError for a malformed one: never cached
  if (raw.length <= QUERY_CACHE_MAX_LENGTH) {
    if (queries.size >= QUERY_CACHE_MAX) queries.delete(queries.keys().next().value!);
    queries.set(raw, q);
  }
  return q;
}

/** Is this request the raw pipeline's? (Then `rawRequest` answers it.) */
export function isRawPath(url: string): boolean {
  return url.startsWith('/metadata') ? url.length === 9 || url[9] === '/' || url[9] === '?' : url === '/events' || url.startsWith('/events?');
}

export function rawPipeline(deps: RawDeps) {
  const { store, streams, hub, metrics, log, guard } = deps;
  /** Count every answer; time errors, event streams and the long-polls that waited, not the 200/304 reads
   * (a long-poll answered at once is one): their cost is a map lookup and a write, less than observing a
   * labelled histogram. */
  const done = (route: string, c: number, start: bigint, waited: boolean): void => {
    countRequest(metrics, route, c);
    if (c >= 400 || route === 'events' || waited) {
      metrics.httpDuration.observe({ server: 'metadata', route }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
  const answer = (route: string, code: number | Promise<number>, start: bigint): void => {
    if (typeof code === 'number') done(route, code, start, false);
    else void code.then((c) => done(route, c, start, true));
  };

  /** Answer a request for which isRawPath(req.url) is true. */
  return function rawRequest(req: IncomingMessage, res: ServerResponse): void {
    const start = process.hrtime.bigint();
    const url = req.url ?? '';
    const qi = url.indexOf('?');
    const pathname = qi < 0 ? url : url.slice(0, qi);
    const events = pathname === '/events';
    let route = events ? 'events' : pathname === '/metadata' ? 'metadata' : 'metadata_path';
    try {
      const refusal = guard(req.headers);
      if (refusal !== undefined) throw new HttpError(403, refusal);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new HttpError(405, `method ${req.method} is not allowed on ${pathname}; allowed: GET, HEAD`, { Allow: 'GET, HEAD' });
      }
      const q = qi < 0 ? NO_QUERY : queryOf(url.slice(qi + 1));
      if (events) {
        const header = req.headers['last-event-id'];
        hub.open(req, res, { path: single(q, 'path'), lastEventId: (typeof header === 'string' && header) || single(q, 'lastEventId') });
        return answer(route, 200, start);
      }
      if (q.has('wait')) route = 'longpoll';
      answer(route, serveMetadata({ store, streams }, req, res, pathname.slice('/metadata'.length), q), start);
    } catch (err) {
      if (err instanceof HttpError) {
        writeError(res, err.status, err.message, err.headers);
        return answer(route, err.status, start);
      }
      log.error('request failed', { method: req.method, path: pathname, err });
      writeError(res, 500, 'internal error');
      answer(route, 500, start);
    }
  };
}
