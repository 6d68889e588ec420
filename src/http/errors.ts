// One error type carrying an HTTP status; one middleware turns it (and anything else) into the contract's
// JSON error body {"code","reason","message"}. 5xx messages are never exposed.

import type { ServerResponse } from 'node:http';
import type { Context, Next } from 'koa';

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  408: 'RequestTimeout',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
  431: 'RequestHeaderFieldsTooLarge',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(status: number, message: string): string {
  return JSON.stringify({ code: status, reason: REASONS[status] ?? 'Error', message });
}

/** The same JSON error on a raw response (paths that answer before or without koa). */
export function writeError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = errorBody(status, message);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

export function sendError(ctx: Context, status: number, message: string, headers: Record<string, string> = {}): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = errorBody(status, message);
}

/** First middleware: shapes every error; unknown routes end as a JSON 404. */
export function errors(onUnexpected: (err: unknown, ctx: Context) => void) {
  return async function errorShaper(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.body === undefined && ctx.respond !== false) {
        // unmatched routes, and the router's 405 (it sets Allow) / 501 for unknown methods
        if (ctx.status === 404) sendError(ctx, 404, `no such endpoint: ${ctx.method} ${ctx.path}`);
        else if (ctx.status === 405) sendError(ctx, 405, `method ${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
        else if (ctx.status === 501) sendError(ctx, 405, `method ${ctx.method} is not allowed on ${ctx.path}`, { Allow: 'GET, HEAD' });
      }
    } catch (err) {
      if (err instanceof HttpError) return sendError(ctx, err.status, err.message, err.headers);
      const status = (err as { status?: unknown; expose?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        // koa / @koa/router errors (e.g. 405 from allowedMethods) carry a safe message and headers
        const headers = (err as { headers?: Record<string, string> }).headers ?? {};
        const message = status === 405 ? `method ${ctx.method} is not allowed on ${ctx.path}` : (err as Error).message;
        return sendError(ctx, status, message, headers);
      }
      onUnexpected(err, ctx);
      sendError(ctx, 500, 'internal error');
    }
  };
}
