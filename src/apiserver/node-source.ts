// Node labels: one list+watch of the single Node (fieldSelector metadata.name) → the 'node' part.
// If list or watch on nodes is forbidden, fall back to one GET per nodeGetIntervalMs (get-only RBAC);
// it stays in that mode until restart (RBAC rarely changes; a restart picks up a wider grant).

import { describeFailure, nodeDeleted, nodeNotFound, type HintContext, type StatusError } from './hints.js';
import { nodeToPart } from './node.js';
import type { SourcePart } from '../document.js';
import type { StatusReporter } from './status.js';
import { Backoff, sleep, type ApiTiming } from './timing.js';
import { classifyError, type Transport } from './transport.js';
import { isPersistent, Reflector, type KubeObject, type ReflectorFailure, type ReflectorMetrics, type Verb } from './watch.js';

export interface NodeSourceOptions {
  transport: Transport;
  timing: ApiTiming;
  signal: AbortSignal;
  metrics?: ReflectorMetrics | undefined;
  name: string;
  labels: readonly string[];
  namespace: string;
  saDir: string;
  serviceAccount(): string | undefined;
  status: StatusReporter;
  onPart(part: SourcePart | undefined): void;
}

export class NodeSource {
  private last: KubeObject | undefined;
  private deleted = false;
  private notFound = false;
  private mode: 'watch' | 'get' = 'watch';
  private sent: string | undefined;

  constructor(private readonly o: NodeSourceOptions) {}

  async run(): Promise<void> {
    const reflector = new Reflector({
      transport: this.o.transport,
      resource: 'node',
      collectionPath: '/api/v1/nodes',
      name: this.o.name,
      timing: this.o.timing,
      signal: this.o.signal,
      metrics: this.o.metrics,
      onObject: (type, obj) => {
        if (type === 'DELETED' || (type === 'LIST' && !obj && this.last)) this.deleted = true;
        else if (!obj) this.notFound = true;
        else {
          this.last = obj;
          this.deleted = false;
          this.notFound = false;
        }
        this.publish();
        this.okStatus();
      },
      onHealthy: () => this.okStatus(),
      onFailure: (f) => this.onWatchFailure(f),
    });
    await reflector.run();
    if (this.mode === 'get' && !this.o.signal.aborted) await this.poll();
  }

  private onWatchFailure(f: ReflectorFailure): 'stop' | void {
    if (f.error.info.httpCode === 403 && (f.verb === 'list' || f.verb === 'watch')) {
      // the list/watch grant is missing: try a plain GET instead (at once, then once per interval)
      this.mode = 'get';
      return 'stop';
    }
    this.failed(f.verb, f.error);
  }

  private failed(verb: Verb, error: ReturnType<typeof classifyError>): void {
    const ctx: HintContext = {
      resource: 'node',
      verb,
      namespace: this.o.namespace,
      name: this.o.name,
      saDir: this.o.saDir,
      baseUrl: this.o.transport.baseUrl.origin,
      serviceAccount: this.o.serviceAccount(),
    };
    const d: StatusError = describeFailure(ctx, error, `${this.o.saDir}/token`);
    this.o.status.set(isPersistent(error) || !this.last ? 'error' : 'degraded', d, this.detail());
  }

  /** GET /api/v1/nodes/NAME once per interval (list/watch forbidden). */
  private async poll(): Promise<void> {
    const { transport, timing, signal, metrics, name } = this.o;
    const backoff = new Backoff(timing);
    while (!signal.aborted) {
      let delay = timing.nodeGetIntervalMs;
      try {
        const obj = (await transport.getJson(`/api/v1/nodes/${encodeURIComponent(name)}`, undefined, {
          signal,
          timeoutMs: timing.requestTimeoutMs,
        })) as KubeObject;
        metrics?.request?.('node', 'get', 200);
        backoff.healthy();
        this.last = obj;
        this.deleted = false;
        this.notFound = false;
        this.publish();
        this.okStatus();
      } catch (err) {
        const e = classifyError(err);
        if (e.kind === 'aborted' || signal.aborted) break;
        metrics?.request?.('node', 'get', e.info.httpCode ?? 'error');
        if (e.info.httpCode === 404 && this.last) {
          this.deleted = true;
          this.okStatus();
        } else this.failed('get', e);
        delay = Math.min(timing.nodeGetIntervalMs, backoff.next(isPersistent(e)));
      }
      await sleep(delay, signal);
    }
  }

  private detail(): Record<string, unknown> {
    return this.mode === 'watch' ? { mode: 'watch' } : { mode: 'get', intervalSeconds: Math.round(this.o.timing.nodeGetIntervalMs / 1000) };
  }

  private okStatus(): void {
    const { status, name } = this.o;
    if (this.deleted) status.set('degraded', nodeDeleted(name), this.detail());
    else if (this.notFound && !this.last) status.set('error', nodeNotFound(name), this.detail());
    else if (this.last) status.set('ok', undefined, this.detail());
  }

  private publish(): void {
    const part = this.last ? nodeToPart(this.last, this.o.labels) : undefined;
    const json = JSON.stringify(part);
    if (json === this.sent) return;
    this.sent = json;
    this.o.onPart(part);
  }
}
