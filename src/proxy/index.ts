// The read-only API ambassador: a safe `kubectl proxy` replacement on loopback. Plain HTTP in, HTTPS to the
// API server through the one API Transport out. Every request passes, in order: framing (a GET/HEAD never
// carries a body; a request the proxy cannot frame itself is refused and its connection closed), the rules
// in rules.ts (a JSON 403 naming the rule and the variable that changes it), and the concurrency caps (a JSON
// 429 with Retry-After). One JSON log line per request. drain() ends proxied watches cleanly on shutdown and
// lets in-flight requests finish within the grace period.

import { readBodyAtMost } from '../http/body.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { makeServer } from '../http/server.js';
import { framingRefusal, type Refusal } from '../http/framing.js';
import type { ProxyConfig } from '../config.js';
import type { ApiTransport } from '../apiserver/transport.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { writeError } from '../http/errors.js';
import { checkRequest, compileRules, READ_METHODS, relaxedRules } from './rules.js';
import { forward, type InFlight } from './upstream.js';

/** kube-apiserver's own request body limit (3 MiB); a larger write is refused with 413 */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const DEFAULT_MAX_REQUESTS = 64;
export const DEFAULT_MAX_WATCHES = 128;

export interface ProxyServerOptions {
  config: ProxyConfig;
  transport: ApiTransport | undefined;
  log: Logger;
  metrics: Metrics;
  /** time allowed for connecting and receiving the response headers (not for bodies: watches stream on); default 30 s */
  upstreamTimeoutMs?: number;
}

/** A node:http Server, not listening (the agent listens), with a graceful drain. */
export interface ProxyServer extends Server {
  /**
   * Stop accepting, end every proxied stream cleanly at a line boundary (upstream aborted, the client's
   * chunked response terminated), let in-flight requests finish; after `graceMs` destroy what is left.
   * Resolves once the server is closed.
   */
  drain(graceMs: number): Promise<void>;
  /** requests and streams being forwarded now */
  inFlight(): { requests: number; streams: number };
}

const NOT_CONFIGURED =
  'the API server is not configured, so the proxy has nothing to forward to: PODMETA_API=off, or no in-cluster ' +
  'credentials (KUBERNETES_SERVICE_HOST/PORT, token and ca.crt in PODMETA_SA_DIR); GET /status on the metadata port says which';

/** The query string is left out of logs (selectors and continue tokens are noise; nothing secret belongs there). */
function logPath(target: string): string {
  const q = target.indexOf('?');
  const p = q === -1 ? target : target.slice(0, q);
  return p.length > 512 ? `${p.slice(0, 512)}…` : p;
}

const FALSE = new Set(['0', 'f', 'false']);

/** A watch (`?watch=true`, `/watch/` paths) or a followed log: a response that stays open. */
export function isStream(target: string): boolean {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (/^\/(api\/[^/]+|apis\/[^/]+\/[^/]+)\/watch(\/|$)/.test(path)) return true;
  if (q === -1) return false;
  const params = new URLSearchParams(target.slice(q + 1));
  return ['watch', 'follow'].some((k) => params.has(k) && !FALSE.has((params.get(k) ?? '').toLowerCase()));
}

/** What this listener refuses before anything else: the framing rule of every listener (src/http/framing.ts),
 * then a body over the API server's own limit. */
function refusal(req: IncomingMessage): Refusal | undefined {
  const framing = framingRefusal(req);
  if (framing !== undefined) return framing;
  const cl = req.headers['content-length'];
  if (!READ_METHODS.has(req.method ?? 'GET') && cl !== undefined && Number(cl) > MAX_BODY_BYTES) {
    return { status: 413, message: `request body larger than ${MAX_BODY_BYTES} bytes (the API server's own limit)` };
  }
  return undefined;
}

const readBody = (req: IncomingMessage): Promise<Buffer | undefined> => readBodyAtMost(req, MAX_BODY_BYTES);

export function createProxyServer({ config, transport, log, metrics, upstreamTimeoutMs = 30_000 }: ProxyServerOptions): ProxyServer {
  const rules = compileRules(config);
  const maxRequests = config.maxRequests ?? DEFAULT_MAX_REQUESTS;
  const maxWatches = config.maxWatches ?? DEFAULT_MAX_WATCHES;
  for (const warning of relaxedRules(config)) log.warn(warning);
  if (transport === undefined) log.warn('proxy enabled but the API server is not configured: every request answers 503');

  /** connections whose body was refused (over the limit): nothing more is read from them or forwarded for them */
  const poisoned = new WeakSet<Socket>();
  const flights = new Map<InFlight, { stream: boolean }>();
  let requests = 0;
  let streams = 0;
  let draining = false;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    // a request pipelined behind a refused one: never answered, never forwarded; the refusal closes the connection
    if (poisoned.has(req.socket)) return;
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const fields: Record<string, unknown> = { method, path: logPath(target) };
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;

    const headersOut = (status: number): void => {
      metrics.proxyRequests.inc({ method, code: String(status) });
      metrics.proxyDuration.observe({ method }, seconds());
    };
    const reply = (status: number, message: string, headers: Record<string, string> = {}): void => {
      headersOut(status);
      if (draining) res.shouldKeepAlive = false;
      writeError(res, status, message, headers);
    };

    res.once('close', () => {
      const line: Record<string, unknown> = { ...fields };
      if (res.headersSent) line.status = res.statusCode; // no status when the client left before any answer
      line.durationMs = Math.round(seconds() * 10_000) / 10;
      if (!res.writableFinished) line.aborted = true;
      log.info('proxy request', line);
    });

    if (draining) {
      fields.error = 'draining';
      return reply(503, 'the proxy is shutting down; retry the request', { 'Retry-After': '1' });
    }
    if (transport === undefined) {
      fields.error = 'not-configured';
      return reply(503, NOT_CONFIGURED);
    }
    const decision = checkRequest(rules, { method, target, headers: req.headers });
    if (!decision.allow) {
      fields.rule = decision.rule;
      if (req.headers.upgrade !== undefined) res.shouldKeepAlive = false;
      return reply(403, decision.message);
    }
    const stream = isStream(target);
    if (stream ? streams >= maxWatches : requests >= maxRequests) {
      fields.error = 'too-many';
      const [what, knob, n] = stream ? ['proxied watches and streams', 'PODMETA_PROXY_MAX_WATCHES', maxWatches] : ['proxied requests in flight', 'PODMETA_PROXY_MAX_REQUESTS', maxRequests];
      return reply(429, `too many ${what} (${n}, set by ${knob}); retry after the Retry-After delay`, { 'Retry-After': '1' });
    }
    if (stream) streams++;
    else requests++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (stream) streams--;
      else requests--;
    };
    res.once('close', release);

    const go = (body: Buffer | undefined): void => {
      const flight = forward(transport, { method, target, headers: req.headers, timeoutMs: upstreamTimeoutMs, ...(body ? { body } : {}) }, res, {
        onResponse: headersOut,
        onFailure: (f) => {
          fields.error = f.kind;
          reply(f.status, f.message);
        },
      });
      flights.set(flight, { stream });
      void flight.done.then(() => flights.delete(flight));
      if (draining && stream) flight.endCleanly();
    };
    if (READ_METHODS.has(method)) return go(undefined);
    readBody(req).then(
      (body) => {
        if (body !== undefined) return go(body);
        poisoned.add(req.socket);
        res.shouldKeepAlive = false;
        fields.rule = 'framing';
        reply(413, `request body larger than ${MAX_BODY_BYTES} bytes (the API server's own limit)`);
      },
      () => res.destroy(),
    );
  }

  const server = makeServer(handle, {
    requestTimeout: 60_000,
    refuse: refusal,
    // `Expect: 100-continue`: only a body this proxy will forward is invited (never one on GET/HEAD)
    inviteBody: (req) => !READ_METHODS.has(req.method ?? 'GET') && !draining && transport !== undefined,
  }) as ProxyServer;

  server.inFlight = () => ({ requests, streams });

  server.drain = (graceMs: number): Promise<void> => {
    draining = true;
    const closed = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    for (const [flight, { stream }] of flights) if (stream) flight.endCleanly();
    server.closeIdleConnections();
    const grace = setTimeout(() => server.closeAllConnections(), graceMs);
    grace.unref();
    // a connection that finished its last response stays open (keep-alive) until closed here
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    idle.unref();
    return closed.finally(() => {
      clearTimeout(grace);
      clearInterval(idle);
    });
  };

  return server;
}
