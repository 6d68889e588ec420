// The hot path: `GET /metadata` with no query is the request siblings make most. It is answered from the
// snapshot's pre-serialized body and ETag without entering koa, so it costs about what a static response
// costs. Anything else (or anything unusual about this request) falls through to the koa app, which
// applies the same rules in full.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../store.js';
import type { Metrics } from '../metrics.js';
import { tagMatches } from './metadata.js';

export function fastMetadata(store: Store, metrics: Metrics, requireHeader: boolean) {
  const ok = metrics.httpRequests.labels({ server: 'metadata', route: 'metadata', code: '200' });
  const notModified = metrics.httpRequests.labels({ server: 'metadata', route: 'metadata', code: '304' });
  const duration = metrics.httpDuration.labels({ server: 'metadata', route: 'metadata' });
  return function fastPath(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.url !== '/metadata' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const h = req.headers;
    if (h['x-forwarded-for'] !== undefined || h.forwarded !== undefined) return false;
    const md = h.metadata;
    if (requireHeader && (typeof md !== 'string' || md.trim().toLowerCase() !== 'true')) return false;
    const accept = h.accept;
    if (accept !== undefined && accept !== '*/*' && accept !== 'application/json') return false;
    const start = process.hrtime.bigint();
    const snap = store.current;
    if (tagMatches(h['if-none-match'], snap.etag)) {
      res.writeHead(304, { ETag: snap.etag, 'Cache-Control': 'no-store' });
      res.end();
      notModified.inc();
    } else {
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': snap.body.length,
        ETag: snap.etag,
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : snap.body);
      ok.inc();
    }
    duration.observe(Number(process.hrtime.bigint() - start) / 1e9);
    return true;
  };
}
