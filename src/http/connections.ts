// Per-connection bounds for one listener, so that no client can exhaust the agent:
//  - a connection cap: beyond it the oldest IDLE connection (no request in flight) is closed to make room;
//    when every connection is busy, the new one gets a JSON 503 and is closed;
//  - work in flight per connection: a pipelining client gets at most `maxInFlight` requests handled at once
//    (an answer already ended does not count), up to `maxQueued` more wait their turn, and further ones are
//    answered 503 at once (node:http itself stops reading a connection whose answers pile up unwritten);
//  - long-lived responses (SSE, long-poll) per connection: HTTP/1.1 delivers responses in order, so a
//    second one behind an open stream could never be delivered — see `streamsOn`.

import type { IncomingMessage, RequestListener, ServerResponse, Server } from 'node:http';
import type { Socket } from 'node:net';
import { rawErrorResponse, writeError } from './errors.js';

export interface ConnectionLimits {
  /** open connections on this listener */
  maxConnections?: number;
  /** requests handled at once on one connection (pipelining) */
  maxInFlight?: number;
  /** pipelined requests waiting on one connection; beyond them: 503 */
  maxQueued?: number;
}

interface ConnState {
  inFlight: number;
  streams: number;
  queue: [IncomingMessage, ServerResponse][];
}

const states = new WeakMap<Socket, ConnState>();

function stateOf(socket: Socket): ConnState {
  let st = states.get(socket);
  if (!st) states.set(socket, (st = { inFlight: 0, streams: 0, queue: [] }));
  return st;
}

/** Long-lived responses open on a connection: take one with `+1`, give it back with `-1`. */
export function streamsOn(socket: Socket, delta = 0): number {
  const st = stateOf(socket);
  st.streams += delta;
  return st.streams;
}

export const CONNECTION_DEFAULTS = { maxConnections: 1280, maxInFlight: 16, maxQueued: 64 } as const;

/** Wrap a request listener with the in-flight bound and install the connection cap on `server`. */
export function limitConnections(server: Server, handler: RequestListener, limits: ConnectionLimits = {}): RequestListener {
  const { maxConnections, maxInFlight, maxQueued } = { ...CONNECTION_DEFAULTS, ...limits };
  // insertion order = least recently active first (a socket is moved to the end when a request starts)
  const open = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (open.size <= maxConnections) return;
    for (const s of open) {
      if (s === socket) break;
      if ((states.get(s)?.inFlight ?? 0) === 0) {
        s.destroy(); // idle: a keep-alive or a client that never sent a request
        open.delete(s);
        return;
      }
    }
    open.delete(socket);
    socket.end(rawErrorResponse(503, `too many connections (limit ${maxConnections}); retry later`, { 'Retry-After': '1' }), () => socket.destroy());
  });

  const run = (st: ConnState, req: IncomingMessage, res: ServerResponse): void => {
    st.inFlight++;
    const socket = req.socket;
    if (open.delete(socket)) open.add(socket); // most recently active last (never re-adds a closed socket)
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      st.inFlight--;
      if (socket.destroyed) st.queue.length = 0;
      const next = st.queue.shift();
      if (next) run(st, next[0], next[1]);
    };
    handler(req, res);
    // an answer already ended holds no work any more, only output (node:http bounds that itself); 'close' is
    // never emitted synchronously, so listening after the handler misses nothing
    if (res.writableEnded) finished();
    else res.once('close', finished);
  };

  return function limitedRequest(req: IncomingMessage, res: ServerResponse): void {
    const st = stateOf(req.socket);
    if (st.inFlight < maxInFlight) return run(st, req, res);
    if (st.queue.length < maxQueued) {
      st.queue.push([req, res]);
      return;
    }
    // refused at once: an ended answer costs no work, and node:http stops reading the connection while
    // such answers wait to be written (its own bound on buffered output)
    writeError(res, 503, `too many pipelined requests on one connection (${maxInFlight} handled at once, PODMETA_MAX_PIPELINE, and ${maxQueued} waiting); send fewer at once`, {
      'Retry-After': '1',
    });
  };
}
