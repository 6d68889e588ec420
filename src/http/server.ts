// node:http servers with limits that keep a misbehaving client from hurting the agent, and a JSON answer
// for requests the HTTP parser rejects (oversized headers, slow headers, garbage).

import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody } from './errors.js';

export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, text, msg] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request was not received in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = errorBody(status, msg);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** requestTimeout bounds receiving the request (not streaming the response: SSE and watches are fine). */
export function makeServer(handler: RequestListener, { requestTimeout = 30_000 }: { requestTimeout?: number } = {}): Server {
  const server = createServer(
    { headersTimeout: 10_000, requestTimeout, keepAliveTimeout: 5_000, maxHeaderSize: 16_384, connectionsCheckingInterval: 1_000 },
    handler,
  );
  server.on('clientError', clientErrorHandler);
  return server;
}
