// One forwarded request: plain HTTP in → HTTPS to the API server through the shared keep-alive agent.
// The Authorization header is attached, and the request written, only once the socket's certificate has
// verified against ca.crt — the token never leaves towards a server that failed verification. Responses
// (watches included) are piped through chunk by chunk with backpressure; either side going away tears
// down the other.

import https from 'node:https';
import { pipeline } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ApiTransport } from '../apiserver/index.js';

/** RFC 9110 §7.6.1 connection-specific headers, plus what must never be relayed from the client. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const CLIENT_ONLY = new Set(['authorization', 'cookie', 'host', 'expect']);

function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const v = headers.connection;
  return new Set((v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
}

/** Client headers to send upstream: no credentials, no Host, no hop-by-hop or Proxy-* headers. */
export function requestHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || CLIENT_ONLY.has(k) || k.startsWith('proxy-') || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Upstream response headers to relay: everything but hop-by-hop and Proxy-* headers. */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || k.startsWith('proxy-') || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_PURPOSE',
]);

/** Why an upstream request failed before its response headers, as the client will be told. */
export interface UpstreamFailure {
  status: 502 | 504;
  /** short cause for logs and metrics: tls, refused, timeout, network */
  kind: string;
  message: string;
}

class Timeout extends Error {}
class Unverified extends Error {
  constructor(readonly code: string) {
    super(`certificate not verified: ${code}`);
  }
}

/** Map an error from the upstream request to the client's answer. Messages never hold header values. */
export function describeFailure(err: unknown, origin: string): UpstreamFailure {
  if (err instanceof Timeout) {
    return { status: 504, kind: 'timeout', message: `the API server at ${origin} did not answer within ${err.message} (connect and response headers)` };
  }
  const code = err instanceof Unverified ? err.code : String((err as NodeJS.ErrnoException)?.code ?? '');
  if (err instanceof Unverified || TLS_VERIFY_CODES.has(code)) {
    return {
      status: 502,
      kind: 'tls',
      message: `the API server's certificate at ${origin} did not verify against ca.crt (${code}); the request was not sent`,
    };
  }
  if (code === 'ETIMEDOUT') return { status: 504, kind: 'timeout', message: `connecting to the API server at ${origin} timed out (ETIMEDOUT)` };
  if (code === 'ECONNREFUSED') return { status: 502, kind: 'refused', message: `the API server at ${origin} refused the connection (ECONNREFUSED)` };
  return {
    status: 502,
    kind: 'network',
    message: `the request to the API server at ${origin} failed before a response${code ? ` (${code})` : ''}`,
  };
}

export interface ForwardHooks {
  /** response headers are about to be relayed (status as received) */
  onResponse(status: number): void;
  /** no response could be obtained; the caller answers the client */
  onFailure(failure: UpstreamFailure): void;
}

/**
 * Forward `req` (already checked) to the API server; relays the response into `res`, or calls
 * `onFailure` when nothing came back. `target` is the raw path + query exactly as received.
 */
export function forward(
  transport: ApiTransport,
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  timeoutMs: number,
  hooks: ForwardHooks,
): void {
  const base = transport.baseUrl;
  const origin = base.origin;
  const up = https.request({
    agent: transport.agent,
    hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: base.port || 443,
    method: req.method,
    path: target,
    headers: requestHeaders(req.headers),
  });
  let done = false;
  const timer = setTimeout(() => up.destroy(new Timeout(`${timeoutMs} ms`)), timeoutMs);

  // the client went away (before or during the response): abort the upstream request
  res.once('close', () => {
    clearTimeout(timer);
    if (!res.writableFinished) up.destroy();
  });

  up.once('socket', (socket) => {
    const tls = socket as TLSSocket;
    const send = (): void => {
      if (!tls.authorized) {
        up.destroy(new Unverified(String(tls.authorizationError ?? 'CERT_REJECTED')));
        return;
      }
      const auth = transport.authorization();
      if (auth !== undefined) up.setHeader('Authorization', auth);
      req.pipe(up);
    };
    if (tls.authorized) send();
    else tls.once('secureConnect', send);
  });

  up.on('error', (err) => {
    clearTimeout(timer);
    if (done) return; // after the response started, the response stream reports it
    done = true;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    hooks.onFailure(describeFailure(err, origin));
  });

  up.once('response', (ures) => {
    clearTimeout(timer);
    done = true;
    const status = ures.statusCode ?? 502;
    if (status === 401) transport.reportUnauthorized();
    if (res.destroyed) {
      ures.destroy();
      return;
    }
    hooks.onResponse(status);
    res.writeHead(status, ures.statusMessage, responseHeaders(ures.headers));
    res.flushHeaders(); // a watch client sees the 200 before the first event
    pipeline(ures, res, (err) => {
      if (err) {
        // upstream aborted mid-body (the client must not see a truncated body as complete), or the client left
        up.destroy();
        res.destroy();
      }
    });
  });
}
