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
import { parseQuery, single } from './query.js';
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

/** Is this request the raw pipeline's? (Then `rawRequest` answers it.) */
export function isRawPath(url: string): boolean {
  return url.startsWith('/metadata') ? url.length === 9 || url[9] === '/' || url[9] === '?' : url === '/events' || url.startsWith('/events?');
}

export function rawPipeline(deps: RawDeps) {
  const { store, streams, hub, metrics, log, guard } = deps;
  /** Count every answer; time all but the 200/304 reads (their cost is a map lookup and a write). */
  const done = (route: string, c: number, start: bigint): void => {
    countRequest(metrics, route, c);
    if (c >= 400 || route === 'events' || route === 'longpoll') {
      metrics.httpDuration.observe({ server: 'metadata', route }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
  const answer = (route: string, code: number | Promise<number>, start: bigint): void => {
    if (typeof code === 'number') done(route, code, start);
    else void code.then((c) => done(route, c, start));
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
      const q = parseQuery(qi < 0 ? '' : url.slice(qi + 1));
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
