// Per-connection bounds for one listener, so that no client can exhaust the agent:
//  - a connection cap: beyond it the oldest IDLE connection (no request in flight) is closed to make room;
//    when every connection is busy, the new one gets a JSON 503 and is closed;
//  - work in flight per connection: a pipelining client gets at most `maxInFlight` requests handled at once
//    (an answer counts until it is written to the socket, so a client that does not read holds at most
//    `maxInFlight` answers), up to `maxQueued` more wait their turn, and further ones are answered 503 at
//    once (node:http itself stops reading a connection whose answers pile up unwritten);
//  - requests held on the whole listener (received, answer not yet written — node:http keeps an object pair
//    per parsed request until then): beyond `maxHeld`, the connection holding most is closed (a pipelining
//    client retries unanswered requests on a new connection, RFC 9112 §9.3.2);
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
  /** requests held on the whole listener (received, answer not yet written); beyond it the connection
   * holding most is closed */
  maxHeld?: number;
}

interface ConnState {
  inFlight: number;
  streams: number;
  queue: [IncomingMessage, ServerResponse, () => void][];
  /** requests received whose answer is not written yet: in flight, waiting, or refused */
  held: number;
  /** closed to free the listener's budget: its requests no longer count */
  evicted: boolean;
}

const states = new WeakMap<Socket, ConnState>();

function stateOf(socket: Socket): ConnState {
  let st = states.get(socket);
  if (!st) states.set(socket, (st = { inFlight: 0, streams: 0, queue: [], held: 0, evicted: false }));
  return st;
}

/** Long-lived responses open on a connection: take one with `+1`, give it back with `-1`. */
export function streamsOn(socket: Socket, delta = 0): number {
  const st = stateOf(socket);
  st.streams += delta;
  return st.streams;
}

/** `fn` at its first call only (a request's release never counts twice). */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** maxHeld: node:http keeps an object pair (~2.5 KB) per request it has parsed until that request's answer
 * is written — pipelined requests of a client that does not read included — so 4 096 is ≈ 10 MB. */
export const CONNECTION_DEFAULTS = { maxConnections: 1280, maxInFlight: 16, maxQueued: 64, maxHeld: 4096 } as const;

/** Wrap a request listener with the in-flight bound and install the connection cap on `server`. */
export function limitConnections(server: Server, handler: RequestListener, limits: ConnectionLimits = {}): RequestListener {
  const { maxConnections, maxInFlight, maxQueued, maxHeld } = { ...CONNECTION_DEFAULTS, ...limits };
  // insertion order = least recently active first (a socket is moved to the end when a request starts)
  const open = new Set<Socket>();
  let held = 0;

  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      // whatever it still held (answers node:http never wrote) is off the listener's count
      const st = states.get(socket);
      if (st && !st.evicted) {
        held -= st.held;
        st.held = 0;
        st.evicted = true;
      }
    });
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

  /** Count a request until its answer is written (or its connection closes); returns the release. */
  const hold = (st: ConnState): (() => void) => {
    st.held++;
    held++;
    return once(() => {
      if (st.evicted) return; // already taken off the listener's count
      st.held--;
      held--;
    });
  };

  /** Over the listener's budget: close the connection holding most (≥ 2: a single request or stream is
   * never the excess), its requests off the count at once. Returns the closed socket. */
  const evictHeaviest = (): Socket | undefined => {
    let heaviest: Socket | undefined;
    let most = 1;
    for (const s of open) {
      const n = states.get(s)?.held ?? 0;
      if (n > most) [heaviest, most] = [s, n];
    }
    if (!heaviest) return undefined;
    const st = states.get(heaviest)!;
    held -= st.held;
    st.held = 0;
    st.evicted = true;
    st.queue.length = 0;
    open.delete(heaviest);
    heaviest.destroy();
    return heaviest;
  };

  const run = (st: ConnState, req: IncomingMessage, res: ServerResponse, release: () => void): void => {
    st.inFlight++;
    const socket = req.socket;
    if (open.delete(socket)) open.add(socket); // most recently active last (never re-adds a closed socket)
    handler(req, res);
    whenWritten(res, () => {
      release();
      st.inFlight--;
      if (socket.destroyed) st.queue.length = 0;
      const next = st.queue.shift();
      if (next) run(st, next[0], next[1], next[2]);
    });
  };

  return function limitedRequest(req: IncomingMessage, res: ServerResponse): void {
    const st = stateOf(req.socket);
    if (st.evicted) return; // the rest of a chunk already parsed on a connection closed below
    const release = hold(st);
    if (held > maxHeld) {
      const closed = evictHeaviest();
      if (closed === req.socket) return;
      if (!closed) {
        writeError(res, 503, `too many requests held (limit ${maxHeld}); retry later`, { 'Retry-After': '1' });
        return whenWritten(res, release);
      }
    }
    if (st.inFlight < maxInFlight) return run(st, req, res, release);
    if (st.queue.length < maxQueued) {
      st.queue.push([req, res, release]);
      return;
    }
    // refused at once (the refusal, too, is held until written: a client that never reads is closed once
    // the listener's budget is spent), and node:http stops reading the connection while such answers wait
    writeError(res, 503, `too many pipelined requests on one connection (${maxInFlight} handled at once, PODMETA_MAX_PIPELINE, and ${maxQueued} waiting); send fewer at once`, {
      'Retry-After': '1',
    });
    whenWritten(res, release);
  };
}

/** `fn` once the answer is written to the socket — at once (no listener) when it is ended, is the
 * connection's current answer and the socket took every byte; else at its 'close' (after 'finish', or when
 * the connection closes; never emitted synchronously, so listening after the handler misses nothing). An
 * ended answer is not done before that: node:http keeps it (objects, headers, body) until the client has
 * read the ones before it, so a client that pipelines and never reads would make the agent hold one answer
 * per request it parsed. */
function whenWritten(res: ServerResponse, fn: () => void): void {
  const socket = res.socket;
  if (res.writableEnded && socket !== null && socket.writableLength === 0 && (socket as Socket & { _httpMessage?: unknown })._httpMessage === res) fn();
  else res.once('close', fn);
}
