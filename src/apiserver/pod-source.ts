// The pod watch: one list+watch of the agent's own Pod → the 'api' part and status.
// Labels and annotations ride in the part only while the watch is healthy; after labelGraceMs of trouble
// the part is re-sent without them (so the downwardAPI volume takes over), and they come back on recovery.
// DELETED keeps the last state with pod.deleted = true and a 'degraded' status.

import type { SourcePart } from '../document.js';
import { describeFailure, podDeleted, podNotFound, type HintContext } from './hints.js';
import { nodeNameOf, podToPart, serviceAccountOfPod } from './pod.js';
import type { StatusReporter } from './status.js';
import type { ApiTiming } from './timing.js';
import type { Transport } from './transport.js';
import { isPersistent, Reflector, type KubeObject, type ReflectorFailure, type ReflectorMetrics } from './watch.js';

export interface PodSourceOptions {
  transport: Transport;
  timing: ApiTiming;
  signal: AbortSignal;
  metrics?: ReflectorMetrics | undefined;
  namespace: string;
  name: string;
  saDir: string;
  /** ServiceAccount "ns/name" from the token claims, for hints */
  tokenServiceAccount(): string | undefined;
  status: StatusReporter;
  onPart(part: SourcePart | undefined): void;
  onNodeName(name: string): void;
}

export class PodSource {
  private last: KubeObject | undefined;
  private deleted = false;
  private notFound = false;
  private withMeta = true;
  private grace: NodeJS.Timeout | undefined;
  private sent: string | undefined;

  constructor(private readonly o: PodSourceOptions) {}

  run(): Promise<void> {
    const { namespace, name } = this.o;
    const reflector = new Reflector({
      transport: this.o.transport,
      resource: 'pod',
      collectionPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      name,
      timing: this.o.timing,
      signal: this.o.signal,
      metrics: this.o.metrics,
      onObject: (type, obj) => this.onObject(type, obj),
      onHealthy: () => this.onHealthy(),
      onFailure: (f) => this.onFailure(f),
    });
    return reflector.run().finally(() => clearTimeout(this.grace));
  }

  private onObject(type: 'LIST' | 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject | undefined): void {
    if (type === 'DELETED' || (type === 'LIST' && obj === undefined && this.last !== undefined)) {
      if (obj) this.last = obj;
      this.deleted = true; // a relist that no longer finds the pod: its DELETED event was missed
    } else if (obj === undefined) {
      this.notFound = true;
    } else {
      this.last = obj;
      this.deleted = false;
      this.notFound = false;
      const node = nodeNameOf(obj);
      if (node) this.o.onNodeName(node);
    }
    this.publish();
    this.healthyStatus();
  }

  private onHealthy(): void {
    clearTimeout(this.grace);
    this.grace = undefined;
    if (!this.withMeta) {
      this.withMeta = true;
      this.publish();
    }
    this.healthyStatus();
  }

  private onFailure({ error, verb }: ReflectorFailure): void {
    if (this.withMeta && this.grace === undefined) {
      this.grace = setTimeout(() => {
        this.grace = undefined;
        this.withMeta = false;
        this.publish();
      }, this.o.timing.labelGraceMs);
    }
    const ctx: HintContext = {
      resource: 'pod',
      verb,
      namespace: this.o.namespace,
      name: this.o.name,
      saDir: this.o.saDir,
      baseUrl: this.o.transport.baseUrl.origin,
      serviceAccount: this.o.tokenServiceAccount() ?? serviceAccountOfPod(this.last),
    };
    const described = describeFailure(ctx, error, `${this.o.saDir}/token`);
    this.o.status.set(isPersistent(error) || !this.last ? 'error' : 'degraded', described);
  }

  private healthyStatus(): void {
    const { status, namespace, name } = this.o;
    if (this.deleted) status.set('degraded', podDeleted(namespace, name));
    else if (this.notFound && !this.last) status.set('error', podNotFound(namespace, name));
    else if (this.last) status.set('ok');
  }

  private publish(): void {
    const part = this.last ? podToPart(this.last, { includeMeta: this.withMeta, deleted: this.deleted }) : undefined;
    const json = JSON.stringify(part);
    if (json === this.sent) return;
    this.sent = json;
    this.o.onPart(part);
  }
}
