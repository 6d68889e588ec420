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
import { HttpError, errorBody } from './errors.js';

function headersOk(req: IncomingMessage, requireHeader: boolean): boolean {
  const h = req.headers;
  if (h['x-forwarded-for'] !== undefined || h.forwarded !== undefined) return false;
  const md = h.metadata;
  return !requireHeader || (typeof md === 'string' && md.trim().toLowerCase() === 'true');
}

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
      const body = errorBody(err.status, err.message);
      res.writeHead(err.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...err.headers });
      res.end(body);
    }
    metrics.httpRequests.inc({ server: 'metadata', route: 'events', code: String(code) });
    return true;
  }

  /** true when the request was answered here */
  return function fastPath(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (url === '/metadata') return headersOk(req, requireHeader) && metadata(req, res);
      if (req.method === 'GET' && (url === '/events' || url.startsWith('/events?'))) {
        return headersOk(req, requireHeader) && eventStream(req, res, url.slice('/events'.length));
      }
    }
    return false;
  };
}
