// The read-only API ambassador: a safe `kubectl proxy` replacement on loopback. Plain HTTP in, HTTPS to the
// API server with the pod's token out; every request passes the rules in rules.ts first, and every refusal
// is a JSON 403 naming the rule and the variable that changes it. One JSON log line per request.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { makeServer } from '../http/server.js';
import type { ProxyConfig } from '../config.js';
import type { ApiTransport } from '../apiserver/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { writeError } from '../http/errors.js';
import { checkRequest, compileRules, relaxedRules } from './rules.js';
import { forward } from './upstream.js';

export { BUILTIN_PATH_RULES, DEFAULT_ACCEPT_HOSTS, canonicalPath, checkRequest, compileRules, hostOf, relaxedRules } from './rules.js';

export interface ProxyServerOptions {
  config: ProxyConfig;
  transport: ApiTransport | undefined;
  log: Logger;
  metrics: Metrics;
  /** time allowed for connecting and receiving the response headers (not for bodies: watches stream on); default 30 s */
  upstreamTimeoutMs?: number;
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


/** A node:http Server, not listening (the agent listens and closes it). */
export function createProxyServer({ config, transport, log, metrics, upstreamTimeoutMs = 30_000 }: ProxyServerOptions): Server {
  const rules = compileRules(config);
  for (const warning of relaxedRules(config)) log.warn(warning);
  if (transport === undefined) log.warn('proxy enabled but the API server is not configured: every request answers 503');

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const fields: Record<string, unknown> = { method, path: logPath(target) };
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;

    const headersOut = (status: number): void => {
      metrics.proxyRequests.inc({ method, code: String(status) });
      metrics.proxyDuration.observe({ method }, seconds());
    };
    const reply = (status: number, message: string): void => {
      headersOut(status);
      writeError(res, status, message);
    };

    res.once('close', () => {
      const line: Record<string, unknown> = { ...fields };
      if (res.headersSent) line.status = res.statusCode; // no status when the client left before any answer
      line.durationMs = Math.round(seconds() * 10_000) / 10;
      if (!res.writableFinished) line.aborted = true;
      log.info('proxy request', line);
    });

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
    forward(transport, req, res, target, upstreamTimeoutMs, {
      onResponse: headersOut,
      onFailure: (f) => {
        fields.error = f.kind;
        reply(f.status, f.message);
      },
    });
  }

  const server = makeServer(handle, { requestTimeout: 60_000 });
  return server;
}
