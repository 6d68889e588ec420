// The in-cluster HTTPS transport: one keep-alive https.Agent that trusts only ca.crt, the base URL from
// KUBERNETES_SERVICE_HOST/PORT, bearer auth, `Status` error parsing and the 401 → re-read token → retry-once
// rule. The Authorization header is attached only once the socket's certificate has verified: Node
// verifies in JS after the handshake, and (measured on Node 20) it does not flush a queued request before
// that — the guard makes "the token never reaches an unverified server" independent of that detail.

import https from 'node:https';
import type { IncomingMessage, IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TokenSource } from './credentials.js';

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
  /** GET or HEAD (the transport sends no body) */
  method?: string;
  /** path and query, e.g. /api/v1/namespaces/ns/pods?watch=1 */
  path: string;
  /** extra headers (Authorization is set by the transport; one given here is dropped) */
  headers?: Record<string, string | string[]>;
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

export interface TransportOptions {
  baseUrl: URL;
  ca: Buffer | string;
  tokens: TokenSource;
  userAgent?: string;
}

/** What the API source and the read-only proxy share. Implements the ApiTransport interface. */
export class Transport {
  readonly baseUrl: URL;
  readonly agent: https.Agent;
  private readonly tokens: TokenSource;
  private readonly userAgent: string;
  private readonly hostname: string;

  constructor({ baseUrl, ca, tokens, userAgent = 'podmeta' }: TransportOptions) {
    this.baseUrl = baseUrl;
    this.tokens = tokens;
    this.userAgent = userAgent;
    this.hostname = baseUrl.hostname.replace(/^\[(.*)\]$/, '$1');
    this.agent = new https.Agent({ keepAlive: true, keepAliveMsecs: 30_000, ca, rejectUnauthorized: true, scheduling: 'lifo' });
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

  /**
   * One request with the current token, any status returned as is (no 401 retry: call reportUnauthorized()
   * on a 401). For the read-only proxy: it pipes the response through.
   */
  async request({ method = 'GET', path, headers = {}, signal, timeoutMs = 30_000 }: RawRequest): Promise<IncomingMessage> {
    const clean: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') clean[k] = v;
    const { res } = await this.once(method, path, clean, signal ? { signal, timeoutMs } : { timeoutMs });
    return res;
  }

  destroy(): void {
    this.agent.destroy();
  }

  private once(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string | string[]>,
    { signal, timeoutMs }: RequestOptions,
  ): Promise<{ res: IncomingMessage; sentAuth: string | undefined }> {
    return new Promise((resolve, reject) => {
      let sentAuth: string | undefined;
      let settled = false;
      const req = https.request({
        agent: this.agent,
        hostname: this.hostname,
        port: this.baseUrl.port || 443,
        path: pathAndQuery,
        method,
        headers: { 'User-Agent': this.userAgent, ...headers },
        ...(signal ? { signal } : {}),
      });
      const timer = setTimeout(() => {
        req.destroy(new ApiRequestError('timeout', `no response from ${this.baseUrl.origin} within ${timeoutMs} ms`, { reason: 'Timeout' }));
      }, timeoutMs);
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(classifyError(err));
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
          req.end();
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
