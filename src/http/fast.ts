// The hot paths, answered before koa: `GET /metadata` (no query) from the snapshot's pre-serialized body
// and ETag, so it costs about what a static response costs; and `GET /events`, whose long-lived streams
// should not each keep a koa context alive. Anything unusual about a request (a missing header, another
// method, a repeated query parameter) falls through to the koa app, which applies the same rules in full
// and answers the errors.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../store.js';
import type { Metrics } from '../metrics.js';
import { tagMatches } from './metadata.js';
import { openEventStream, type EventsOptions } from './events.js';
import { HttpError, writeError } from './errors.js';
import { metadataRefusal } from './guard.js';

export function fastPaths(store: Store, metrics: Metrics, requireHeader: boolean, events: EventsOptions) {
  const tally = metrics.fastTally;

  function metadata(req: IncomingMessage, res: ServerResponse): boolean {
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '*/*' && accept !== 'application/json') return false;
    const snap = store.current;
    if (tagMatches(req.headers['if-none-match'], snap.etag)) {
      res.writeHead(304, { ETag: snap.etag, 'Cache-Control': 'no-store' });
      res.end();
      tally.notModified++;
    } else {
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': snap.body.length,
        ETag: snap.etag,
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : snap.body);
      tally.ok++;
    }
    return true;
  }

  function eventStream(req: IncomingMessage, res: ServerResponse, query: string): boolean {
    const q = new URLSearchParams(query);
    const paths = q.getAll('path');
    const ids = q.getAll('lastEventId');
    if (paths.length > 1 || ids.length > 1) return false;
    const header = req.headers['last-event-id'];
    let code = 200;
    try {
      openEventStream(events, req, res, { path: paths[0], lastEventId: (typeof header === 'string' && header) || ids[0] });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      code = err.status;
      writeError(res, err.status, err.message, err.headers);
    }
    metrics.httpRequests.inc({ server: 'metadata', route: 'events', code: String(code) });
    return true;
  }

  /** true when the request was answered here */
  return function fastPath(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (req.method === 'GET' || req.method === 'HEAD') {
      // a refused request goes on to koa, which answers the 403
      if (url === '/metadata') return metadataRefusal(req.headers, requireHeader) === undefined && metadata(req, res);
      if (req.method === 'GET' && (url === '/events' || url.startsWith('/events?'))) {
        return metadataRefusal(req.headers, requireHeader) === undefined && eventStream(req, res, url.slice('/events'.length));
      }
    }
    return false;
  };
}
