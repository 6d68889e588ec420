// The in-cluster HTTPS transport, the one way anything in podmeta talks to the API server (the API source
// and the proxy): one keep-alive https.Agent that trusts only ca.crt, the base URL from
// KUBERNETES_SERVICE_HOST/PORT, bearer auth, `Status` error parsing and the 401 → re-read token → retry-once
// rule. The Authorization header is attached, and the request written, only once the socket's certificate
// has verified: Node verifies in JS after the handshake, and (measured on Node 20) it does not flush a
// queued request before that — the gate makes "the token never reaches an unverified server" independent
// of that detail. Every request is framed here: no body, or a whole body sent with Content-Length.
// ca.crt is re-read periodically and after a verification failure; a changed bundle replaces the agent, so
// new connections use the new trust while open ones (watches) finish on the old.

import https from 'node:https';
import type { IncomingMessage, IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { CaSource, type TokenSource } from './credentials.js';

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

async function readBody(res: IncomingMessage, limit: number): Promise<string> {
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
  request(req: RawRequest): Promise<IncomingMessage>;
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
  /** upper bound of open connections to the API server (watches hold one each); default 512 */
  maxSockets?: number;
}

/** Headers the transport sets itself: a caller's copy is dropped (framing is never delegated). */
const OWN_HEADERS = new Set(['authorization', 'content-length', 'transfer-encoding', 'connection', 'host']);

/** What the API source and the proxy share. */
export class Transport implements ApiTransport {
  readonly baseUrl: URL;
  private current: https.Agent;
  private readonly retired = new Set<https.Agent>();
  private readonly tokens: TokenSource;
  private readonly userAgent: string;
  private readonly hostname: string;
  private readonly maxSockets: number;
  private readonly caSource: CaSource | undefined;
  private readonly caTimer: NodeJS.Timeout | undefined;

  constructor({ baseUrl, ca, tokens, userAgent = 'podmeta', saDir, caRefreshMs = 60_000, log, maxSockets = 512 }: TransportOptions) {
    this.baseUrl = baseUrl;
    this.tokens = tokens;
    this.userAgent = userAgent;
    this.maxSockets = maxSockets;
    this.hostname = baseUrl.hostname.replace(/^\[(.*)\]$/, '$1');
    this.current = this.makeAgent(ca);
    if (saDir !== undefined) {
      this.caSource = new CaSource(saDir, Buffer.from(ca), log, (pem) => this.trust(pem));
      this.caTimer = setInterval(() => void this.caSource?.reload(), Math.max(caRefreshMs, 1000));
      this.caTimer.unref();
    }
  }

  /** the keep-alive agent for new requests (replaced when ca.crt changes) */
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
  async open(path: string, query: Record<string, string> | undefined, opts: RequestOptions): Promise<IncomingMessage> {
    const url = new URL(path, this.baseUrl);
    if (query) for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    for (let attempt = 0; ; attempt++) {
      const { res, sentAuth } = await this.once('GET', url.pathname + url.search, { Accept: 'application/json' }, opts);
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
  async request({ method = 'GET', path, headers = {}, body, signal, timeoutMs = 30_000 }: RawRequest): Promise<IncomingMessage> {
    const clean: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (!OWN_HEADERS.has(k.toLowerCase())) clean[k] = v;
    const { res } = await this.once(method, path, clean, signal ? { signal, timeoutMs } : { timeoutMs }, body);
    return res;
  }

  destroy(): void {
    clearInterval(this.caTimer);
    this.current.destroy();
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  private once(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string | string[]>,
    { signal, timeoutMs }: RequestOptions,
    body?: Buffer,
  ): Promise<{ res: IncomingMessage; sentAuth: string | undefined }> {
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
      const timer = setTimeout(() => {
        req.destroy(new ApiRequestError('timeout', `no response from ${this.baseUrl.origin} within ${timeoutMs} ms`, { reason: 'Timeout' }));
      }, timeoutMs);
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
            req.destroy(new ApiRequestError('tls', 'server certificate not verified', { reason: String(tls.authorizationError ?? 'CERT_REJECTED') }));
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
