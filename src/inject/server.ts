// The injection webhook: HTTPS (node:https) with POST /mutate, /livez, /readyz and /metrics on one listener.
// Ready only once a certificate is loaded (and not while draining). Every error is a JSON body
// {"code","reason","message"}; nothing a client sends can crash it.

import { readBodyAtMost } from '../http/body.js';
import { HttpError, writeError } from '../http/errors.js';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { InjectorConfig } from './config.js';
import { InjectorMetrics } from './metrics.js';
import { ReviewError, answerReview, type ReviewDeps, type ReviewAnswer } from './review.js';
import { TlsFiles } from './tls.js';

/** Larger than any Pod the API server stores (its request limit is 3 MiB). */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

export interface InjectorOptions {
  config: InjectorConfig;
  log: Logger;
  metrics?: InjectorMetrics;
  /** the injection function (tests replace it to prove internal errors fail open) */
  inject?: ReviewDeps['inject'];
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`, { Connection: 'close' });
  if (Number(req.headers['content-length'] ?? NaN) > MAX_BODY_BYTES) throw tooLarge();
  const body = await readBodyAtMost(req, MAX_BODY_BYTES);
  if (body === undefined) throw tooLarge();
  return body;
}

export class Injector {
  readonly metrics: InjectorMetrics;
  private readonly server: Server;
  private readonly tls: TlsFiles;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(private readonly opts: InjectorOptions) {
    this.metrics = opts.metrics ?? new InjectorMetrics();
    const { config, log } = opts;
    this.server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 30_000 }, (req, res) => void this.handle(req, res));
    this.server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { err: err.message }));
    this.server.on('clientError', (_err, socket) => socket.destroy());
    this.tls = new TlsFiles(
      config.tlsCert,
      config.tlsKey,
      log,
      (pair) => {
        this.server.setSecureContext({ cert: pair.cert, key: pair.key });
        this.metrics.certReloads.inc({ result: 'loaded' });
        this.metrics.certExpiry.set(pair.notAfter.getTime() / 1000);
      },
      () => this.metrics.certReloads.inc({ result: 'failed' }),
    );
  }

  get ready(): boolean {
    return this.tls.current !== undefined && !this.draining;
  }

  async start(): Promise<AddressInfo> {
    await this.tls.reload();
    this.timer = setInterval(() => void this.tls.reload(), this.opts.config.reloadMs);
    this.timer.unref();
    const { host, port } = this.opts.config.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    this.opts.log.info('podmeta injector listening', { listen: `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`, image: this.opts.config.image });
    return addr;
  }

  /** Re-read the certificate now (also done every reloadMs). */
  reloadCertificate(): Promise<void> {
    return this.tls.reload();
  }

  /** Unready, finish in-flight requests, close. */
  async stop(deadlineMs = 4000): Promise<void> {
    this.draining = true;
    if (this.timer) clearInterval(this.timer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const t = setTimeout(() => this.server.closeAllConnections(), deadlineMs);
    await closed;
    clearTimeout(t);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = ['/mutate', '/livez', '/readyz', '/metrics'].includes(path) ? path : 'other';
    res.on('finish', () => this.metrics.requests.inc({ path: route, code: String(res.statusCode) }));
    try {
      if (route === 'other') throw new HttpError(404, `no such path ${JSON.stringify(path)} (POST /mutate, GET /livez, /readyz, /metrics)`);
      const want = route === '/mutate' ? 'POST' : 'GET';
      if (req.method !== want && !(want === 'GET' && req.method === 'HEAD')) throw new HttpError(405, `${path} accepts ${want} only`, { Allow: want === 'GET' ? 'GET, HEAD' : want });
      if (route === '/livez') return send(res, 200, 'ok\n');
      if (route === '/readyz') {
        if (this.ready) return send(res, 200, 'ok\n');
        throw new HttpError(503, this.draining ? 'shutting down' : 'no certificate loaded yet');
      }
      if (route === '/metrics') {
        const text = await this.metrics.registry.metrics();
        return send(res, 200, text, { 'Content-Type': this.metrics.registry.contentType });
      }
      return await this.mutate(req, res);
    } catch (err) {
      const e = err instanceof HttpError ? err : err instanceof ReviewError ? new HttpError(err.status, err.message) : undefined;
      if (!e) this.opts.log.error('request failed', { path, err });
      const status = e?.status ?? 500;
      if (!res.headersSent) writeError(res, status, e ? e.message : 'internal error', e?.headers ?? {});
      else res.destroy();
    }
  }

  private async mutate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new HttpError(415, `expected Content-Type application/json, got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
    const body = await readBody(req);
    if (body.length === 0) throw new HttpError(400, 'empty body: expected an admission.k8s.io/v1 AdmissionReview');
    let review: unknown;
    try {
      review = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, `the body is not JSON: ${(err as Error).message}`);
    }
    const answer = answerReview(review, { image: this.opts.config.image, ...(this.opts.inject ? { inject: this.opts.inject } : {}) });
    this.account(answer);
    send(res, 200, answer.body);
  }

  private account({ outcome, pod }: ReviewAnswer): void {
    const { log } = this.opts;
    const m = this.metrics;
    if (outcome.kind === 'error') {
      m.errors.inc();
      log.error('injection failed; the pod is admitted unchanged (fail open)', { ...pod, err: outcome.error });
      return;
    }
    if (outcome.kind === 'not-create') {
      m.skips.inc({ reason: 'not-create' });
      return;
    }
    const r = outcome.result;
    if (r.status === 'injected') {
      m.injections.inc();
      log.info('injected', { ...pod, warnings: r.warnings.length ? r.warnings : undefined });
    } else if (r.status === 'repaired') {
      m.repairs.inc();
      log.info('repaired the podmeta init container', pod);
    } else if (r.status === 'refused') {
      m.refusals.inc({ annotation: r.annotation });
      log.info('refused', { ...pod, message: r.message });
    } else {
      m.skips.inc({ reason: r.reason });
      log.debug('skipped', { ...pod, reason: r.reason });
    }
  }
}
