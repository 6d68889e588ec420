// node:http servers with limits that keep a misbehaving client from hurting the agent (timeouts, header
// size, the connection cap and the pipelining bound of connections.ts), the framing rule of framing.ts, and a JSON answer for requests the
// HTTP parser rejects (oversized headers, slow headers, garbage).

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Socket } from 'node:net';
import { rawErrorResponse, writeError } from './errors.js';
import { framingRefusal, type Refusal } from './framing.js';
import { limitConnections, type ConnectionLimits } from './connections.js';

export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, msg] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time']
        : [400, 'malformed HTTP request'];
  // destroyed once written: a client that never closes its side must not keep the descriptor
  socket.end(rawErrorResponse(status, msg), () => socket.destroy());
}

export interface ServerOptions extends ConnectionLimits {
  /** bounds receiving the request (not streaming the response: SSE and watches are fine) */
  requestTimeout?: number;
  /** what is refused before the handler runs; default `framingRefusal` (a listener may add to it, never less) */
  refuse?: (req: IncomingMessage) => Refusal | undefined;
  /** `Expect: 100-continue`: whether this request's body is invited (default: never — then it is answered
   * without reading it) */
  inviteBody?: (req: IncomingMessage) => boolean;
}

/** Idle and slow connections are closed promptly: a silent or half-sent request after HEADERS_TIMEOUT_MS,
 * an idle keep-alive connection after KEEP_ALIVE_MS. */
export const HEADERS_TIMEOUT_MS = 5_000;
export const KEEP_ALIVE_MS = 5_000;

export function makeServer(
  handler: RequestListener,
  { requestTimeout = 30_000, refuse = framingRefusal, inviteBody = () => false, ...limits }: ServerOptions = {},
): Server {
  const server = createServer({
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_MS,
    maxHeaderSize: 16_384,
    connectionsCheckingInterval: 1_000,
  });
  // A refused request is answered and its connection closed; nothing after its headers is read: requests
  // pipelined behind it are never answered, and the parser choking on the rest is not answered again.
  const refused = new WeakSet<Socket>();
  const listener = limitConnections(
    server,
    (req, res) => {
      if (refused.has(req.socket)) return;
      const r = refuse(req);
      if (r === undefined) return handler(req, res);
      refused.add(req.socket);
      req.socket.pause();
      res.shouldKeepAlive = false;
      res.once('finish', () => req.socket.destroy());
      writeError(res, r.status, r.message);
    },
    limits,
  );
  server.on('request', listener);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (refuse(req) === undefined && inviteBody(req)) res.writeContinue();
    listener(req, res);
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => (refused.has(socket) ? socket.destroy() : clientErrorHandler(err, socket)));
  return server;
}

/** Descriptors kept for everything but the two listeners' client connections: the volume watch and reads,
 * the API server connections, the proxy, stdio. */
export const FD_RESERVE = 256;

/** The soft limit on open files (`ulimit -n`) — Node raises it to the hard limit at start — or undefined
 * where /proc is not there. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limits, 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}

const LOOPBACK = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1)$/i;

/** Start-up warnings about the listeners: metadata on a non-loopback address; connection caps that the
 * descriptor limit cannot hold (then the volume could not be read when the caps are reached). */
export function warnExposure(
  log: Logger,
  config: Pick<Config, 'listen' | 'maxConnections' | 'probeMaxConnections'>,
  fdLimit: number | undefined = openFileLimit(),
): void {
  if (!LOOPBACK.test(config.listen.host)) {
    log.warn('the metadata API listens on a non-loopback address: every client that can reach it reads the pod metadata', {
      listen: config.listen.host,
      hint: 'keep PODMETA_LISTEN on 127.0.0.1 unless other pods must reach it; fence it with a NetworkPolicy and set PODMETA_ALLOWED_HOSTS',
    });
  }
  const needed = config.maxConnections + config.probeMaxConnections + FD_RESERVE;
  if (fdLimit !== undefined && needed > fdLimit) {
    log.warn('the open-file limit is below the connection caps plus the reserve', {
      limit: fdLimit,
      needed,
      hint: 'lower PODMETA_MAX_CONNECTIONS / PODMETA_PROBE_MAX_CONNECTIONS (and PODMETA_MAX_STREAMS) or raise the container runtime\'s nofile limit',
    });
  }
}
