// The in-cluster HTTPS transport, the one way anything in podmeta talks to the API server (the API source
// and the proxy): TLS that trusts only ca.crt, the base URL from KUBERNETES_SERVICE_HOST/PORT, bearer auth,
// `Status` error parsing and the 401 → re-read token → retry-once rule.
// HTTP/2 first, like client-go: ALPN offers `h2` and `http/1.1`; kube-apiserver picks h2, and every request
// and watch is a stream multiplexed over a few sessions (sessions.ts: the peer's stream limit, GOAWAY, pings,
// idle close). A server that picks HTTP/1.1 is served by the keep-alive https.Agent (one connection per
// watch). Either way the Authorization header is attached, and the request written, only once the socket's
// certificate has verified: an h2 session is only ever opened on a verified socket (no preface, no HEADERS
// frame before), and on HTTP/1.1 the request waits for `secureConnect` + `authorized` (Node verifies in JS
// after the handshake; the gate makes "the token never reaches an unverified server" independent of whether
// it flushes a queued request before that). Every request is framed here: no body, or a whole body sent
// with Content-Length. ca.crt is re-read periodically and after a verification failure; a changed bundle
// replaces the session pool and the agent, so new requests use the new trust while open streams (watches)
// finish on the old connections.

import https from 'node:https';
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { constants as h2c, type ClientHttp2Stream, type IncomingHttpHeaders as H2Headers, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { CaSource, type TokenSource } from './credentials.js';
import { SessionPool, type Lease, type SessionPoolOptions } from './sessions.js';

/**
 * A response from the API server, body unread: an IncomingMessage (HTTP/1.1) or an h2 stream carrying the
 * same fields. A body that stops before its end (a reset stream, a dropped connection) errors or closes
 * without 'end' — never a clean end.
 */
export interface ApiResponse extends Readable {
  statusCode?: number | undefined;
  statusMessage?: string | undefined;
  headers: IncomingHttpHeaders;
}

export interface KubeStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; retryAfterSeconds?: number; causes?: unknown[] };
}

export type ErrorKind = 'http' | 'network' | 'tls' | 'timeout' | 'protocol' | 'aborted';

export interface ApiErrorInfo {
  /** HTTP status (or the `code` of an ERROR watch event) */
  httpCode?: number;
  /** Kubernetes `Status.reason` (Forbidden, NotFound, Expired, …) or a Node error code (ECONNREFUSED, …) */
  reason?: string;
  status?: KubeStatus;
  retryAfterMs?: number;
}

/** Every failure of a request. Its message never contains the token. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly info: ApiErrorInfo = {},
  ) {
    super(message);
  }
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_PURPOSE',
]);

/** `https://host:port` — an IPv6 host (given without brackets by Kubernetes) gets brackets. */
export function apiBaseUrl(host: string, port: string | undefined): URL {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return new URL(`https://${h}${port ? `:${port}` : ''}`);
}

/** Seconds (or an HTTP date) → ms; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A `Status` object if the body is one. */
export function parseStatus(body: string): KubeStatus | undefined {
  try {
    const o: unknown = JSON.parse(body);
    if (o && typeof o === 'object' && (o as KubeStatus).kind === 'Status') return o as KubeStatus;
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** The error for a non-2xx answer (or an ERROR watch event carrying a Status). */
export function statusError(httpCode: number, status: KubeStatus | undefined, headers?: IncomingHttpHeaders, bodyHint?: string): ApiRequestError {
  const retryAfterMs =
    parseRetryAfter(headers?.['retry-after']) ??
    (status?.details?.retryAfterSeconds !== undefined ? status.details.retryAfterSeconds * 1000 : undefined);
  const reason = status?.reason || undefined;
  const text = status?.message ?? (bodyHint ? bodyHint.slice(0, 200) : `HTTP ${httpCode}`);
  const info: ApiErrorInfo = { httpCode: status?.code ?? httpCode };
  if (reason !== undefined) info.reason = reason;
  if (status !== undefined) info.status = status;
  if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
  return new ApiRequestError('http', text, info);
}

/** Map a Node error (socket, TLS, abort) to an ApiRequestError. */
export function classifyError(err: unknown): ApiRequestError {
  if (err instanceof ApiRequestError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.name === 'AbortError' || code === 'ABORT_ERR') return new ApiRequestError('aborted', 'request aborted');
  if (code !== undefined && TLS_VERIFY_CODES.has(code)) return new ApiRequestError('tls', message, { reason: code });
  if (code === 'ETIMEDOUT') return new ApiRequestError('timeout', message, { reason: code });
  const info: ApiErrorInfo = {};
  if (code !== undefined) info.reason = code;
  return new ApiRequestError('network', message, info);
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** time allowed until the response headers arrive */
  timeoutMs: number;
}

export interface RawRequest {
  /** GET, HEAD, or (when the proxy is opened for writes) another method */
  method?: string;
  /** path and query, e.g. /api/v1/namespaces/ns/pods?watch=1 */
  path: string;
  /** extra headers (Authorization is set by the transport; one given here is dropped, as are framing headers) */
  headers?: Record<string, string | string[]>;
  /** a whole body, sent with Content-Length (never streamed: the transport frames every byte it sends) */
  body?: Buffer;
  signal?: AbortSignal;
  /** time allowed until the response headers arrive (default 30 s) */
  timeoutMs?: number;
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_JSON_BODY = 16 * 1024 * 1024;

async function readBody(res: ApiResponse, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) {
      res.destroy();
      throw new ApiRequestError('protocol', `response body larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What the proxy needs of the transport (and all it may touch: never the token, never the agent). */
export interface ApiTransport {
  /** https://host:port */
  readonly baseUrl: URL;
  /** a 401 was seen: re-read the token now */
  reportUnauthorized(): void;
  /**
   * One request with the current token, attached only after the server certificate verified; any status is
   * returned as is, the body unread (pipe it). No 401 retry: call reportUnauthorized(). Rejects with
   * ApiRequestError (kind tls / timeout / network / aborted) when no response arrived.
   */
  request(req: RawRequest): Promise<ApiResponse>;
}

export interface TransportOptions {
  baseUrl: URL;
  ca: Buffer | string;
  tokens: TokenSource;
  userAgent?: string;
  /**
   * the SA dir: when given, ca.crt is re-read from it every `caRefreshMs` (at least 1 s: a verification
   * failure triggers a re-read at once, so the period only matters for a bundle that grows ahead of a rotation)
   */
  saDir?: string;
  caRefreshMs?: number;
  log?: Logger;
  /** upper bound of open HTTP/1.1 connections to the API server (watches hold one each); default 512 */
  maxSockets?: number;
  /** offer HTTP/2 (default true); false: HTTP/1.1 only */
  http2?: boolean;
  /** HTTP/2 session tuning (idle close, pings); host, port and trust come from the transport */
  sessions?: Omit<SessionPoolOptions, 'host' | 'port' | 'ca' | 'log'>;
}

/** One request as the transport frames it. */
interface Outgoing {
  method: string;
  pathAndQuery: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** already sent once and refused unprocessed (REFUSED_STREAM) */
  retried?: boolean;
}

type Sent = { res: ApiResponse; sentAuth: string | undefined };

/** Headers the transport sets itself: a caller's copy is dropped (framing is never delegated). */
const OWN_HEADERS = new Set(['authorization', 'content-length', 'transfer-encoding', 'connection', 'host']);
/** Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2); `Host` becomes `:authority`. */
const H2_FORBIDDEN = new Set([...OWN_HEADERS, 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'http2-settings']);

/** The h2 response headers as HTTP/1.1's (pseudo-headers removed). */
function plainHeaders(h: H2Headers & IncomingHttpStatusHeader): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) out[k] = v as string | string[];
  return out;
}

/**
 * An h2 stream's body as an ApiResponse. Node ends a stream's readable side ('end') also when its session is
 * destroyed or the stream reset (rstCode ≠ NO_ERROR); here that is an error, so a cut body never reads as
 * complete. Backpressure passes through: a full buffer pauses the stream, and Node then stops granting the
 * peer flow-control window for it.
 */
class H2Response extends Readable implements ApiResponse {
  private ended = false;

  constructor(
    private readonly stream: ClientHttp2Stream,
    readonly statusCode: number,
    readonly headers: IncomingHttpHeaders,
    origin: string,
  ) {
    super();
    this.on('error', () => {}); // readers see errors as 'close' without 'end' too; an unheard one never crashes the agent
    const cut = (): ApiRequestError =>
      new ApiRequestError('network', `the HTTP/2 stream from ${origin} was cut before its end (${rstName(stream.rstCode)})`, { reason: rstName(stream.rstCode) });
    stream.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.once('end', () => {
      const code = stream.rstCode;
      if (code !== undefined && code !== h2c.NGHTTP2_NO_ERROR) return void this.destroy(cut());
      this.ended = true;
      this.push(null);
    });
    stream.on('error', (err) => this.destroy(classifyError(err)));
    stream.once('close', () => {
      if (!this.ended && !this.destroyed) this.destroy(cut());
    });
  }

  get statusMessage(): string {
    return STATUS_CODES[this.statusCode] ?? '';
  }

  override _read(): void {
    this.stream.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.stream.destroyed) this.stream.destroy(); // RST_STREAM (CANCEL): the session carries on
    cb(err);
  }
}

/** RFC 9113 §7 error codes, for messages */
const H2_ERRORS = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

function rstName(code: number | undefined): string {
  return (code !== undefined ? H2_ERRORS[code] : undefined) ?? `RST_STREAM ${code}`;
}

/** A TLS socket whose certificate did not verify: nothing is sent on it. */
function unverifiedError(socket: TLSSocket): ApiRequestError {
  return new ApiRequestError('tls', 'server certificate not verified', { reason: String(socket.authorizationError ?? 'CERT_REJECTED') });
}

function timeoutError(origin: string, ms: number): ApiRequestError {
  return new ApiRequestError('timeout', `no response from ${origin} within ${ms} ms`, { reason: 'Timeout' });
}

/** What the API source and the proxy share. */
export class Transport implements ApiTransport {
  readonly baseUrl: URL;
  private current: https.Agent;
  private readonly retired = new Set<https.Agent>();
  private pool: SessionPool | undefined;
  private readonly retiredPools = new Set<SessionPool>();
  private readonly poolOptions: Omit<SessionPoolOptions, 'ca'> | undefined;
  private readonly tokens: TokenSource;
  private readonly userAgent: string;
  private readonly hostname: string;
  private readonly maxSockets: number;
  private readonly caSource: CaSource | undefined;
  private readonly caTimer: NodeJS.Timeout | undefined;

  constructor({ baseUrl, ca, tokens, userAgent = 'podmeta', saDir, caRefreshMs = 60_000, log, maxSockets = 512, http2 = true, sessions }: TransportOptions) {
    this.baseUrl = baseUrl;
    this.tokens = tokens;
    this.userAgent = userAgent;
    this.maxSockets = maxSockets;
    this.hostname = baseUrl.hostname.replace(/^\[(.*)\]$/, '$1');
    this.current = this.makeAgent(ca);
    if (http2) {
      this.poolOptions = { ...sessions, host: this.hostname, port: Number(baseUrl.port || 443), ...(log ? { log } : {}) };
      this.pool = new SessionPool({ ...this.poolOptions, ca });
    }
    if (saDir !== undefined) {
      this.caSource = new CaSource(saDir, Buffer.from(ca), log, (pem) => this.trust(pem));
      this.caTimer = setInterval(() => void this.caSource?.reload(), Math.max(caRefreshMs, 1000));
      this.caTimer.unref();
    }
  }

  /** what the API server negotiated: 'h2', 'http/1.1', or undefined before the first connection */
  get protocol(): 'h2' | 'http/1.1' | undefined {
    return this.pool === undefined ? 'http/1.1' : this.pool.negotiated;
  }

  /** open HTTP/2 sessions and the streams each carries now (the current trust only) */
  sessionStats(): { sessions: number; streams: number[] } {
    return this.pool?.stats() ?? { sessions: 0, streams: [] };
  }

  /** the keep-alive HTTP/1.1 agent for new requests (replaced when ca.crt changes) */
  get agent(): https.Agent {
    return this.current;
  }

  /** Re-read ca.crt now; resolves true when the trust changed (new connections will use it). */
  reloadCa(): Promise<boolean> {
    return this.caSource?.reload() ?? Promise.resolve(false);
  }

  private makeAgent(ca: Buffer | string): https.Agent {
    // keep-alive: requests reuse connections; a watch holds one for its lifetime. maxFreeSockets bounds idle ones.
    return new https.Agent({ keepAlive: true, keepAliveMsecs: 30_000, ca, rejectUnauthorized: true, scheduling: 'lifo', maxSockets: this.maxSockets, maxFreeSockets: 16 });
  }

  /** New trust: a fresh agent for new connections; the old one keeps its open requests, never reuses a socket. */
  private trust(ca: Buffer): void {
    if (this.pool !== undefined && this.poolOptions !== undefined) {
      this.pool.retire();
      this.retiredPools.add(this.pool);
      this.pool = new SessionPool({ ...this.poolOptions, ca });
    }
    const old = this.current;
    this.current = this.makeAgent(ca);
    this.retired.add(old);
    for (const list of Object.values(old.freeSockets)) for (const s of list ?? []) s.destroy();
    old.on('free', (socket) => socket.destroy());
  }

  authorization(): string | undefined {
    return this.tokens.authorization();
  }

  reportUnauthorized(): void {
    void this.tokens.reload();
  }

  /**
   * GET `path?query`; resolves with a 2xx response (the caller consumes it), rejects with ApiRequestError
   * otherwise. A 401 makes the token be re-read; if that yields a different token the request is retried once.
   */
  async open(path: string, query: Record<string, string> | undefined, opts: RequestOptions): Promise<ApiResponse> {
    const url = new URL(path, this.baseUrl);
    if (query) for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    for (let attempt = 0; ; attempt++) {
      const { res, sentAuth } = await this.once({ method: 'GET', pathAndQuery: url.pathname + url.search, headers: { Accept: 'application/json' } }, opts);
      const code = res.statusCode ?? 0;
      if (code >= 200 && code < 300) return res;
      let body = '';
      try {
        body = await readBody(res, MAX_ERROR_BODY);
      } catch {
        /* keep the status line */
      }
      if (code === 401 && attempt === 0) {
        await this.tokens.reload();
        if (!this.tokens.isCurrent(sentAuth)) continue;
      }
      throw statusError(code, parseStatus(body), res.headers, body);
    }
  }

  /** GET and parse a JSON body. */
  async getJson(path: string, query: Record<string, string> | undefined, opts: RequestOptions): Promise<unknown> {
    const res = await this.open(path, query, opts);
    let text: string;
    try {
      text = await readBody(res, MAX_JSON_BODY);
    } catch (err) {
      throw classifyError(err);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiRequestError('protocol', `invalid JSON from ${url(path)}`);
    }
  }

  /** See ApiTransport.request. */
  async request({ method = 'GET', path, headers = {}, body, signal, timeoutMs = 30_000 }: RawRequest): Promise<ApiResponse> {
    const clean: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (!OWN_HEADERS.has(k.toLowerCase())) clean[k] = v;
    const { res } = await this.once({ method, pathAndQuery: path, headers: clean, ...(body !== undefined ? { body } : {}) }, signal ? { signal, timeoutMs } : { timeoutMs });
    return res;
  }

  destroy(): void {
    clearInterval(this.caTimer);
    this.pool?.destroy();
    for (const p of this.retiredPools) p.destroy();
    this.retiredPools.clear();
    this.current.destroy();
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  /** One request: on an h2 session when the server speaks h2, else on the HTTP/1.1 agent. */
  private async once(out: Outgoing, opts: RequestOptions): Promise<Sent> {
    const pool = this.pool;
    if (pool === undefined || pool.negotiated === 'http/1.1') return this.onceH1(out, opts);
    const ready = pool.tryLease(); // the common case: a session with a free slot, no wait
    if (ready) return this.onceH2Retrying(ready, out, opts);
    const { signal, timeoutMs } = opts;
    const started = Date.now();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(timeoutError(this.baseUrl.origin, timeoutMs)), timeoutMs);
    let lease: Lease | 'http/1.1';
    try {
      lease = await pool.acquire(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
    } catch (err) {
      const e = classifyError(err);
      if (e.kind === 'tls') void this.reloadCa(); // perhaps the cluster rotated its CA: the next attempt uses the file's trust
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const left = { ...opts, timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)) };
    if (lease === 'http/1.1') return this.onceH1(out, left);
    return this.onceH2Retrying(lease, out, left);
  }

  private async onceH2Retrying(lease: Lease, out: Outgoing, opts: RequestOptions): Promise<Sent> {
    try {
      return await this.onceH2(lease, out, opts);
    } catch (err) {
      // REFUSED_STREAM (RFC 9113 §8.7): the server did not process the stream (a GOAWAY raced it, or its stream
      // limit): safe to send again, once, on a session that takes it
      if (err instanceof ApiRequestError && err.info.reason === 'REFUSED_STREAM' && !out.retried) return this.once({ ...out, retried: true }, opts);
      throw err;
    }
  }

  /** One stream on a session opened on a verified socket; the token goes into its HEADERS frame. */
  private onceH2(lease: Lease, { method, pathAndQuery, headers, body }: Outgoing, { signal, timeoutMs }: RequestOptions): Promise<Sent> {
    return new Promise((resolve, reject) => {
      if (!lease.socket.authorized) {
        // unreachable (sessions are only opened on verified sockets): the gate, stated where the token is attached
        lease.release();
        reject(unverifiedError(lease.socket));
        return;
      }
      const h: OutgoingHttpHeaders = { ':method': method, ':path': pathAndQuery, ':authority': this.baseUrl.host, 'user-agent': this.userAgent };
      for (const [k, v] of Object.entries(headers)) {
        const name = k.toLowerCase();
        if (!name.startsWith(':') && !H2_FORBIDDEN.has(name)) h[name] = v;
      }
      if (body !== undefined) h['content-length'] = body.length;
      const sentAuth = this.tokens.authorization();
      if (sentAuth !== undefined) h.authorization = sentAuth; // (Node sends Authorization never-indexed in HPACK)
      let stream: ClientHttp2Stream;
      try {
        stream = lease.session.request(h, { endStream: body === undefined, ...(signal ? { signal } : {}) });
      } catch (err) {
        lease.release();
        reject(classifyError(err));
        return;
      }
      let settled = false;
      const settle = (err: unknown): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(classifyError(err));
      };
      const timer = setTimeout(() => stream.destroy(timeoutError(this.baseUrl.origin, timeoutMs)), timeoutMs);
      stream.once('close', () => {
        lease.release();
        const refused = stream.rstCode === h2c.NGHTTP2_REFUSED_STREAM;
        settle(new ApiRequestError('network', `the HTTP/2 stream to ${this.baseUrl.origin} closed before a response (${rstName(stream.rstCode)})`, { reason: refused ? 'REFUSED_STREAM' : 'ECONNRESET' }));
      });
      // a refused stream is retried: its close decides (its 'error' comes first and must not settle)
      stream.on('error', (err) => stream.rstCode !== h2c.NGHTTP2_REFUSED_STREAM && settle(err));
      stream.once('response', (rh) => {
        clearTimeout(timer);
        if (settled) {
          stream.destroy();
          return;
        }
        settled = true;
        resolve({ res: new H2Response(stream, Number(rh[':status'] ?? 0), plainHeaders(rh), this.baseUrl.origin), sentAuth });
      });
      if (body !== undefined) stream.end(body);
    });
  }

  private onceH1({ method, pathAndQuery, headers, body }: Outgoing, { signal, timeoutMs }: RequestOptions): Promise<Sent> {
    return new Promise((resolve, reject) => {
      let sentAuth: string | undefined;
      let settled = false;
      const framing: Record<string, string> = body !== undefined ? { 'Content-Length': String(body.length) } : {};
      const req = https.request({
        agent: this.current,
        hostname: this.hostname,
        port: this.baseUrl.port || 443,
        path: pathAndQuery,
        method,
        headers: { 'User-Agent': this.userAgent, ...headers, ...framing },
        ...(signal ? { signal } : {}),
      });
      const timer = setTimeout(() => req.destroy(timeoutError(this.baseUrl.origin, timeoutMs)), timeoutMs);
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        const e = classifyError(err);
        if (e.kind === 'tls') void this.reloadCa(); // perhaps the cluster rotated its CA: the next attempt uses the file's trust
        reject(e);
      };
      req.on('socket', (socket) => {
        const tls = socket as TLSSocket;
        const send = (): void => {
          if (!tls.authorized) {
            req.destroy(unverifiedError(tls));
            return;
          }
          sentAuth = this.tokens.authorization();
          if (sentAuth !== undefined) req.setHeader('Authorization', sentAuth);
          req.end(body);
        };
        if (tls.authorized) send();
        else tls.once('secureConnect', send);
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        if (settled) {
          res.destroy();
          return;
        }
        settled = true;
        resolve({ res, sentAuth });
      });
      req.on('error', fail);
    });
  }
}

function url(path: string): string {
  return path.split('?')[0] ?? path;
}
