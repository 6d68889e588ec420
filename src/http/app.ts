// The two HTTP apps: the metadata API (loopback by default; `Metadata: true` required, X-Forwarded-For
// refused) and the probe API (/livez, /healthz, /readyz, /metrics — no header).

import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import type { Store } from '../store.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import { BUILD } from '../build-info.js';
import { errors, sendError } from './errors.js';
import { metadataHandler } from './metadata.js';
import { eventsHandler } from './events.js';
import { StreamRegistry } from './streams.js';
import { fastPaths } from './fast.js';
import { metadataRefusal } from './guard.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface AppDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  requireHeader: boolean;
  maxStreams: number;
  keepAliveMs?: number;
  retryMs?: number;
  /** readiness checks: name → ok? (evaluated on each /readyz) */
  checks: () => Record<string, boolean>;
  draining: () => boolean;
}

/** Errors a departing client causes are not the agent's errors. */
export function isClientGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

function unexpected(log: Logger) {
  return (err: unknown, ctx: Context): void => {
    if (!isClientGone(err)) log.error('request failed', { method: ctx.method, path: ctx.path, err });
  };
}

function routeOf(ctx: Context): string {
  const p = ctx.path;
  if (p === '/metadata') return ctx.query.wait ? 'longpoll' : 'metadata';
  if (p.startsWith('/metadata/')) return ctx.query.wait ? 'longpoll' : 'metadata_path';
  if (p === '/events' || p === '/status' || p === '/livez' || p === '/healthz' || p === '/readyz' || p === '/metrics') return p.slice(1);
  return 'other';
}

function instrument(metrics: Metrics, server: string) {
  return async function requestMetrics(ctx: Context, next: Next): Promise<void> {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = routeOf(ctx);
      metrics.httpDuration.observe({ server, route }, Number(process.hrtime.bigint() - start) / 1e9);
      metrics.httpRequests.inc({ server, route, code: String(ctx.status) });
    }
  };
}

function metadataGuard(requireHeader: boolean) {
  return async function metadataHeaders(ctx: Context, next: Next): Promise<void> {
    const refusal = metadataRefusal(ctx.req.headers, requireHeader);
    if (refusal !== undefined) return sendError(ctx, 403, refusal);
    await next();
  };
}

function baseApp(log: Logger): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (err: unknown) => {
    if (!isClientGone(err)) log.error('http error', { err });
  });
  return app;
}

export interface MetadataApp {
  app: Koa;
  streams: StreamRegistry;
  /** answers the hot paths before koa; true when it did */
  fast: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export function createMetadataApp(deps: AppDeps): MetadataApp {
  const { store, metrics, log } = deps;
  const streams = new StreamRegistry(deps.maxStreams, deps.keepAliveMs ?? 15_000, (kind, n) =>
    (kind === 'sse' ? metrics.sseSubscribers : metrics.longPolls).set(n),
  );
  const router = new Router();
  const getMetadata = metadataHandler({ store, streams });
  router.get('/metadata', getMetadata);
  router.get('/metadata/{*rest}', getMetadata);
  const events = { store, streams, ...(deps.retryMs !== undefined ? { retryMs: deps.retryMs } : {}) };
  router.get('/events', eventsHandler(events));
  router.get('/status', function status(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      sources: store.statuses,
      revision: store.current.revision,
      ready: Object.values(deps.checks()).every(Boolean) && !deps.draining(),
      version: BUILD.version,
    };
  });
  const app = baseApp(log);
  app.use(errors(unexpected(log)));
  app.use(instrument(metrics, 'metadata'));
  app.use(metadataGuard(deps.requireHeader));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return { app, streams, fast: fastPaths(store, metrics, deps.requireHeader, events) };
}

export function createProbeApp(deps: AppDeps): Koa {
  const { metrics, log } = deps;
  const router = new Router();
  const live = function livez(ctx: Context): void {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = 'ok';
  };
  router.get('/livez', live);
  router.get('/healthz', live);
  router.get('/readyz', function readyz(ctx: Context) {
    const checks = { ...deps.checks(), shutdown: !deps.draining() };
    const ok = Object.values(checks).every(Boolean);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/plain; charset=utf-8';
    ctx.status = ok ? 200 : 503;
    if (ctx.query.verbose !== undefined) {
      const lines = Object.entries(checks).map(([name, pass]) => `[${pass ? '+' : '-'}]${name} ${pass ? 'ok' : 'failed'}`);
      ctx.body = `${lines.join('\n')}\nreadyz check ${ok ? 'passed' : 'failed'}\n`;
    } else {
      ctx.body = ok ? 'ok' : 'not ready';
    }
  });
  router.get('/metrics', async function metricsRoute(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  const app = baseApp(log);
  app.use(errors(unexpected(log)));
  app.use(instrument(metrics, 'probe'));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
