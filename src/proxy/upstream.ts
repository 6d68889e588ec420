// One forwarded request: plain HTTP in → the one API Transport (src/apiserver/transport.ts) out. The transport
// owns the TLS gate (the token is attached only after the certificate verified), the token and the framing
// of every byte sent; this module only chooses the headers to relay and streams the response back, chunk
// by chunk with backpressure. Either side going away tears down the other: a torn-down upstream request is
// destroyed (HTTP/1.1: its connection, never returned to the keep-alive pool; h2: its stream is reset, the
// session carries on).

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { classifyError, type ApiRequestError, type ApiResponse, type ApiTransport } from '../apiserver/transport.js';

/** RFC 9110 §7.6.1 connection-specific headers, plus what must never be relayed from the client. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const CLIENT_ONLY = new Set(['authorization', 'cookie', 'host', 'expect', 'content-length']);

function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const v = headers.connection;
  return new Set((v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
}

/** Client headers to send upstream: no credentials, no Host, no framing, no hop-by-hop or Proxy-* headers. */
export function requestHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(headers);
  const out: Record<string, string | string[]> = {};
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

/** Why an upstream request failed before its response headers, as the client will be told. */
export interface UpstreamFailure {
  status: 502 | 503 | 504;
  /** short cause for logs and metrics: tls, refused, timeout, network, draining */
  kind: string;
  message: string;
}

/** Map the transport's error to the client's answer. Messages never hold header values. */
export function describeFailure(err: ApiRequestError, origin: string): UpstreamFailure {
  const code = err.info.reason ?? '';
  if (err.kind === 'timeout') {
    return { status: 504, kind: 'timeout', message: `the API server at ${origin} did not answer in time (connect and response headers${code && code !== 'Timeout' ? `, ${code}` : ''})` };
  }
  if (err.kind === 'tls') {
    return { status: 502, kind: 'tls', message: `the API server's certificate at ${origin} did not verify against ca.crt (${code || 'CERT_REJECTED'}); the request was not sent` };
  }
  if (code === 'ECONNREFUSED') return { status: 502, kind: 'refused', message: `the API server at ${origin} refused the connection (ECONNREFUSED)` };
  return { status: 502, kind: 'network', message: `the request to the API server at ${origin} failed before a response${code ? ` (${code})` : ''}` };
}

export interface ForwardHooks {
  /** response headers are about to be relayed (status as received) */
  onResponse(status: number): void;
  /** no response could be obtained; the caller answers the client (not called when the client left) */
  onFailure(failure: UpstreamFailure): void;
}

export interface ForwardRequest {
  method: string;
  /** the raw path + query exactly as received (already checked) */
  target: string;
  headers: IncomingHttpHeaders;
  /** a whole body (write methods only, when opened); GET/HEAD never carry one */
  body?: Buffer;
  timeoutMs: number;
}

/** A forwarded request in flight, as the proxy's drain sees it. */
export interface InFlight {
  /** stop at the next line boundary: abort the upstream and end the client's response cleanly */
  endCleanly(): void;
  /** resolves when the client's response is finished or torn down */
  readonly done: Promise<void>;
}

/** Forward one request; relays the response into `res`, or calls `onFailure` when nothing came back. */
export function forward(transport: ApiTransport, req: ForwardRequest, res: ServerResponse, hooks: ForwardHooks): InFlight {
  const ac = new AbortController();
  let upstream: ApiResponse | undefined;
  let ending = false;
  let lastByte = 0x0a; // nothing relayed yet counts as a line boundary
  const done = new Promise<void>((resolve) => res.once('close', resolve));

  // the client went away (before or during the response): abort the upstream request; its socket is destroyed
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });

  const finish = (): void => {
    ending = true;
    ac.abort();
    if (res.headersSent) res.end();
    else hooks.onFailure({ status: 503, kind: 'draining', message: 'the proxy is shutting down; retry the request' });
  };

  transport
    .request({
      method: req.method,
      path: req.target,
      headers: requestHeaders(req.headers),
      signal: ac.signal,
      timeoutMs: req.timeoutMs,
      ...(req.body !== undefined ? { body: req.body } : {}),
    })
    .then(
      (ures) => {
        upstream = ures;
        const status = ures.statusCode ?? 502;
        if (status === 401) transport.reportUnauthorized();
        if (res.destroyed || ending) {
          ures.destroy();
          return;
        }
        hooks.onResponse(status);
        res.writeHead(status, ures.statusMessage, responseHeaders(ures.headers));
        res.flushHeaders(); // a watch client sees the 200 before the first event
        ures.on('data', (chunk: Buffer) => {
          if (ending) return;
          lastByte = chunk[chunk.length - 1] ?? lastByte;
          if (!res.write(chunk)) {
            ures.pause();
            res.once('drain', () => ures.resume());
          }
        });
        ures.once('end', () => {
          if (!ending) res.end();
        });
        // the upstream aborted mid-body (h1: the socket; h2: a reset stream or a lost session): the client must
        // not see a truncated body as complete
        ures.once('aborted', () => !ending && res.destroy());
        ures.once('error', () => !ending && res.destroy());
        ures.once('close', () => !ending && !ures.readableEnded && res.destroy());
      },
      (err: unknown) => {
        if (ending) return; // finish() answered
        if (res.destroyed || res.headersSent) {
          if (!res.writableEnded) res.destroy();
          return;
        }
        const e = classifyError(err);
        if (e.kind === 'aborted') return res.destroy();
        hooks.onFailure(describeFailure(e, transport.baseUrl.origin));
      },
    );

  return {
    done,
    endCleanly(): void {
      if (ending || res.writableEnded || res.destroyed) return;
      if (upstream === undefined) return finish(); // no headers yet: nothing to end cleanly, the client retries
      if (lastByte === 0x0a) return finish();
      // mid-line: relay up to the next newline, then end (the grace timer destroys it if none comes)
      ending = true;
      upstream.removeAllListeners('data');
      const rest = upstream;
      rest.on('data', (chunk: Buffer) => {
        if (res.writableEnded) return; // (chunks the response still held when it was torn down)
        const nl = chunk.indexOf(0x0a);
        if (nl === -1) {
          res.write(chunk);
          return;
        }
        res.write(chunk.subarray(0, nl + 1));
        ac.abort();
        rest.destroy();
        res.end();
      });
      upstream.resume();
    },
  };
}
