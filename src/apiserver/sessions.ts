// HTTP/2 sessions to the API server, for the one transport (transport.ts): kube-apiserver (Go net/http)
// negotiates h2 by ALPN, and client-go multiplexes every request and watch of a process over one connection.
// So does podmeta: a session is opened on a TLS socket that has already verified the server against ca.crt
// (the gate: no h2 preface, no HEADERS frame, no token before that), each request is one stream, and a
// session carries at most the peer's SETTINGS_MAX_CONCURRENT_STREAMS streams (another session is opened
// beyond it). GOAWAY or a session error takes the session out of the pool (streams it still carries finish or
// fail on their own), the next request opens a new one. An idle session is closed after `idleMs`; a session
// with open streams is pinged every `pingEveryMs` and destroyed when a ping goes unanswered for
// `pingTimeoutMs` (client-go's HTTP2_READ_IDLE_TIMEOUT_SECONDS / HTTP2_PING_TIMEOUT_SECONDS: 30 s / 15 s),
// so a dead connection does not hold every watch. A server that does not select `h2` (HTTP/1.1 only) is
// remembered: the pool answers 'http/1.1' and the transport uses its HTTP/1.1 agent.

import http2, { type ClientHttp2Session } from 'node:http2';
import { isIP } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';

/** Why a connection attempt failed (the transport classifies it like any socket error). */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface SessionPoolOptions {
  host: string;
  port: number;
  ca: Buffer | string;
  log?: Logger;
  /** close a session after this long without streams (default 60 s) */
  idleMs?: number;
  /** while streams are open, ping this often (default 30 s) … */
  pingEveryMs?: number;
  /** … and destroy the session when the answer takes longer (default 15 s) */
  pingTimeoutMs?: number;
  /** TLS handshake + the server's SETTINGS within this long (default 30 s) */
  connectTimeoutMs?: number;
  /** our own cap of streams per session, whatever the peer allows (default 1000) */
  maxStreamsPerSession?: number;
  /**
   * connection-level flow-control window (default 32 MiB): a stream whose reader stalls holds at most its own
   * window (64 KiB) of it, so hundreds of stalled streams never stall the others on the session
   */
  connectionWindow?: number;
}

/** One session and the streams it carries (counted here: the peer's limit applies to open streams). */
class Session {
  active = 0;
  usable = true;
  private idle: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;

  constructor(
    readonly h2: ClientHttp2Session,
    readonly socket: TLSSocket,
    private readonly pool: SessionPool,
  ) {}

  get limit(): number {
    return Math.min(this.h2.remoteSettings.maxConcurrentStreams ?? 100, this.pool.maxStreamsPerSession);
  }

  lease(): void {
    this.active++;
    clearTimeout(this.idle);
    this.idle = undefined;
    this.h2.ref();
    this.ping ??= setInterval(() => this.checkAlive(), this.pool.pingEveryMs).unref();
  }

  release(): void {
    this.active--;
    if (this.active > 0) return;
    clearInterval(this.ping);
    this.ping = undefined;
    if (!this.usable) {
      this.h2.close();
      return;
    }
    this.h2.unref();
    this.idle = setTimeout(() => this.retire(), this.pool.idleMs).unref();
  }

  /** no new streams; closed once the open ones are done */
  retire(): void {
    this.usable = false;
    clearTimeout(this.idle);
    this.pool.forget(this);
    if (this.active === 0 && !this.h2.closed) this.h2.close();
  }

  stop(): void {
    clearTimeout(this.idle);
    clearInterval(this.ping);
  }

  private checkAlive(): void {
    if (this.h2.destroyed || this.h2.closed) return;
    const timer = setTimeout(() => this.h2.destroy(new SessionError('the API server did not answer an HTTP/2 ping', 'ERR_HTTP2_PING_TIMEOUT')), this.pool.pingTimeoutMs).unref();
    const sent = this.h2.ping((err) => {
      clearTimeout(timer);
      if (err && !this.h2.destroyed) this.h2.destroy(err);
    });
    if (!sent) clearTimeout(timer);
  }
}

export type Lease = { session: ClientHttp2Session; socket: TLSSocket; release(): void };

export class SessionPool {
  readonly idleMs: number;
  readonly pingEveryMs: number;
  readonly pingTimeoutMs: number;
  readonly maxStreamsPerSession: number;
  private readonly sessions: Session[] = [];
  private connecting: Promise<Session | 'http/1.1'> | undefined;
  private protocol: 'h2' | 'http/1.1' | undefined;
  private closed = false;

  constructor(private readonly o: SessionPoolOptions) {
    this.idleMs = o.idleMs ?? 60_000;
    this.pingEveryMs = o.pingEveryMs ?? 30_000;
    this.pingTimeoutMs = o.pingTimeoutMs ?? 15_000;
    this.maxStreamsPerSession = o.maxStreamsPerSession ?? 1000;
  }

  /** what the server negotiated (undefined until the first connection) */
  get negotiated(): 'h2' | 'http/1.1' | undefined {
    return this.protocol;
  }

  /** open sessions and the streams each carries */
  stats(): { sessions: number; streams: number[] } {
    return { sessions: this.sessions.length, streams: this.sessions.map((s) => s.active) };
  }

  /**
   * A session with a free stream slot, reserved for the caller (call release() when its stream closed), or
   * 'http/1.1' when the server does not speak h2. Rejects with the connection's error (TLS verification
   * failures included: nothing was sent). `signal` abandons the wait (a connection under way stays shared).
   */
  async acquire(signal?: AbortSignal): Promise<Lease | 'http/1.1'> {
    for (;;) {
      if (this.closed) throw new SessionError('the transport is closed', 'ERR_HTTP2_INVALID_SESSION');
      if (this.protocol === 'http/1.1') return 'http/1.1';
      signal?.throwIfAborted();
      const free = this.tryLease();
      if (free) return free;
      this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
      const got = await (signal ? abortable(this.connecting, signal) : this.connecting);
      if (got === 'http/1.1') return got;
    }
  }

  /** A free stream slot on an open session, reserved now, or undefined (then acquire() connects). */
  tryLease(): Lease | undefined {
    const free = this.sessions.find((s) => s.usable && !s.h2.closed && !s.h2.destroyed && s.active < s.limit);
    if (!free) return undefined;
    free.lease();
    let released = false;
    return {
      session: free.h2,
      socket: free.socket,
      release: () => {
        if (released) return;
        released = true;
        free.release();
      },
    };
  }

  /** No new streams on any session; open streams finish (a CA rotation: new requests use a new pool). */
  retire(): void {
    for (const s of [...this.sessions]) s.retire();
  }

  /** Destroy every session now. */
  destroy(): void {
    this.closed = true;
    for (const s of [...this.sessions]) {
      s.stop();
      s.h2.destroy();
    }
    this.sessions.length = 0;
  }

  forget(s: Session): void {
    const i = this.sessions.indexOf(s);
    if (i !== -1) this.sessions.splice(i, 1);
  }

  private async connect(): Promise<Session | 'http/1.1'> {
    const { host, port, ca } = this.o;
    const socket = tls.connect({
      host,
      port,
      ca,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    const connectTimeoutMs = this.o.connectTimeoutMs ?? 30_000;
    socket.setTimeout(connectTimeoutMs, () => socket.destroy(new SessionError(`no TLS handshake with the API server within ${connectTimeoutMs} ms`, 'ETIMEDOUT')));
    let onError: ((err: Error) => void) | undefined;
    await new Promise<void>((resolve, reject) => {
      onError = reject;
      socket.once('secureConnect', resolve);
      socket.on('error', onError);
    }).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    socket.removeListener('error', onError!);
    // the gate: Node verified the chain and the name (rejectUnauthorized); nothing is written unless it says so
    if (!socket.authorized) {
      socket.destroy();
      throw new SessionError('server certificate not verified', String(socket.authorizationError ?? 'CERT_REJECTED'));
    }
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      if (this.protocol === undefined) this.o.log?.info('the API server does not offer HTTP/2: using HTTP/1.1 (one connection per watch)');
      this.protocol = 'http/1.1';
      return 'http/1.1';
    }
    this.protocol = 'h2';
    const h2 = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      createConnection: () => socket,
      peerMaxConcurrentStreams: this.maxStreamsPerSession,
    });
    const session = new Session(h2, socket, this);
    h2.on('error', (err: Error) => this.o.log?.debug('HTTP/2 session to the API server failed', { error: err.message }));
    h2.once('goaway', () => session.retire());
    h2.once('close', () => {
      session.stop();
      session.usable = false;
      this.forget(session);
    });
    await new Promise<void>((resolve, reject) => {
      h2.once('remoteSettings', () => resolve());
      h2.once('close', () => reject(new SessionError('the API server closed the HTTP/2 connection before its SETTINGS', 'ECONNRESET')));
    });
    socket.setTimeout(0);
    h2.setLocalWindowSize(this.o.connectionWindow ?? 32 * 1024 * 1024);
    if (this.closed) {
      h2.destroy();
      throw new SessionError('the transport is closed', 'ERR_HTTP2_INVALID_SESSION');
    }
    this.sessions.push(session);
    h2.unref();
    return session;
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
