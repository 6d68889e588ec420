// The two HTTP front ends: the metadata listener (loopback by default; the guard of guard.ts on every
// request; the raw pipeline of fast.ts for /metadata* and /events, koa for the rest) and the probe
// listener (/livez, /healthz, /readyz, /metrics — no header, no Host rule).

import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Store } from '../store.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import { BUILD } from '../build-info.js';
import { errors, sendError } from './errors.js';
import { EventHub } from './events.js';
import { StreamRegistry } from './streams.js';
import { isRawPath, rawPipeline } from './fast.js';
import { metadataGuard, type Guard } from './guard.js';
import { flushRequests } from './tally.js';

export interface AppDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  requireHeader: boolean;
  /** PODMETA_ALLOWED_HOSTS */
  allowedHosts?: readonly string[];
  maxStreams: number;
  keepAliveMs?: number;
  retryMs?: number;
  /** readiness checks: name → ok? (evaluated on each /readyz) */
  checks: () => Record<string, boolean>;
  draining: () => boolean;
}

/** Errors a departing client causes are not the agent's errors (koa reports ERR_STREAM_PREMATURE_CLOSE for
 * every client that disconnects early). */
export function isClientGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

function unexpected(log: Logger) {
  return (err: unknown, ctx: Context): void => {
    if (!isClientGone(err)) log.error('request failed', { method: ctx.method, path: ctx.path, err });
  };
}

const ROUTES = new Set(['/status', '/livez', '/healthz', '/readyz', '/metrics']);

/** Outermost middleware: counts the status actually sent, after the error shaper has set it. */
function instrument(metrics: Metrics, server: string) {
  return async function requestMetrics(ctx: Context, next: Next): Promise<void> {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = ROUTES.has(ctx.path) ? ctx.path.slice(1) : 'other';
      metrics.httpDuration.observe({ server, route }, Number(process.hrtime.bigint() - start) / 1e9);
      metrics.httpRequests.inc({ server, route, code: String(ctx.status) });
    }
  };
}

function guardMiddleware(guard: Guard) {
  return async function metadataRules(ctx: Context, next: Next): Promise<void> {
    const refusal = guard(ctx.req.headers);
    if (refusal !== undefined) return sendError(ctx, 403, refusal);
    await next();
  };
}

function baseApp(log: Logger, metrics: Metrics, server: string): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (err: unknown) => {
    if (!isClientGone(err)) log.error('http error', { err });
  });
  app.use(instrument(metrics, server));
  app.use(errors(unexpected(log)));
  return app;
}

export interface MetadataApp {
  /** the metadata listener's request handler */
  handler: RequestListener;
  streams: StreamRegistry;
  hub: EventHub;
}

export function createMetadataApp(deps: AppDeps): MetadataApp {
  const { store, metrics, log } = deps;
  const streams = new StreamRegistry(deps.maxStreams, deps.keepAliveMs ?? 15_000, (kind, n) =>
    (kind === 'sse' ? metrics.sseSubscribers : metrics.longPolls).set(n),
  );
  const hub = new EventHub({ store, streams, ...(deps.retryMs !== undefined ? { retryMs: deps.retryMs } : {}) });
  const guard = metadataGuard({ requireHeader: deps.requireHeader, allowedHosts: deps.allowedHosts ?? [] });
  const router = new Router();
  router.get('/status', function status(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      sources: store.statuses,
      revision: store.current.revision,
      ready: Object.values(deps.checks()).every(Boolean) && !deps.draining(),
      version: BUILD.version,
    };
  });
  const app = baseApp(log, metrics, 'metadata');
  app.use(guardMiddleware(guard));
  app.use(router.routes());
  app.use(router.allowedMethods());
  const koa = app.callback();
  const raw = rawPipeline({ store, streams, hub, metrics, log, guard });
  const handler = function metadataRequest(req: IncomingMessage, res: ServerResponse): void {
    if (isRawPath(req.url ?? '')) raw(req, res);
    else void koa(req, res);
  };
  return { handler, streams, hub };
}

/** /metrics is rendered at most once per event-loop turn: scrapes that arrive together (pipelined on one
 * connection, or a storm over many) share one rendering; a scrape after them sees fresh values. */
function cachedMetrics(metrics: Metrics): () => Promise<Buffer> {
  // a Buffer, not a string: every answer then writes the same bytes (a string body is copied into each
  // answer with its headers, and kept until that client reads it)
  let text: Promise<Buffer> | undefined;
  return () => {
    if (!text) {
      flushRequests(metrics);
      text = metrics.registry.metrics().then((s) => Buffer.from(s));
      setImmediate(() => (text = undefined));
    }
    return text;
  };
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
  const render = cachedMetrics(metrics);
  router.get('/metrics', async function metricsRoute(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await render();
  });
  const app = baseApp(log, metrics, 'probe');
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
