// Every error podmeta answers has one shape, defined here once: `errorResponse` gives the status, the
// headers and the JSON body {"code","reason","message"}; the three places that can answer carry it as they
// must —
//   writeError(res, …)        a raw node:http response (the metadata fast path, the proxy, the injector);
//   sendError(ctx, …)         a koa context (the koa apps; `errors()` shapes whatever a handler throws);
//   rawErrorResponse(…)       bytes for a bare socket (the HTTP parser's clientError, the connection cap).
// A handler signals an error by throwing HttpError (raw and koa alike). Unexpected errors answer a bare
// "internal error" (their message is logged, never sent).

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
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  431: 'RequestHeaderFieldsTooLarge',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
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

export interface ErrorResponse {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

/** The one definition of an error answer. */
export function errorResponse(status: number, message: string, headers: Record<string, string> = {}): ErrorResponse {
  const body = JSON.stringify({ code: status, reason: REASONS[status] ?? 'Error', message });
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers },
    body,
  };
}

/** The error on a raw response. */
export function writeError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const e = errorResponse(status, message, headers);
  res.writeHead(e.status, e.headers);
  res.end(e.body);
}

/** The error as bytes for a socket no response object exists for; the connection is closed after it. */
export function rawErrorResponse(status: number, message: string, headers: Record<string, string> = {}): string {
  const e = errorResponse(status, message, { ...headers, Connection: 'close' });
  const head = Object.entries(e.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${head}\r\n${e.body}`;
}

export function sendError(ctx: Context, status: number, message: string, headers: Record<string, string> = {}): void {
  const e = errorResponse(status, message, headers);
  ctx.status = e.status;
  for (const [k, v] of Object.entries(e.headers)) if (k !== 'Content-Length') ctx.set(k, String(v));
  ctx.body = e.body;
  ctx.type = 'application/json; charset=utf-8';
}

/** First middleware of a koa app: shapes every error; unknown routes end as a JSON 404. */
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
      const status = (err as { status?: unknown }).status;
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
