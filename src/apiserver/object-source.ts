// What the pod and the node source share: one named object followed by a Reflector, its last known state
// (last / deleted / notFound), publishing a part only when it changed, and the status with a fix hint.
// Each source only says how an object becomes a part and which hints name "deleted" / "not found".

import type { SourcePart } from '../document.js';
import type { StatusError } from '../status.js';
import { describeFailure, type HintContext } from './hints.js';
import type { StatusReporter } from './status.js';
import type { ApiTiming } from './timing.js';
import type { ApiRequestError, Transport } from './transport.js';
import { isPersistent, Reflector, type KubeObject, type ReflectorFailure, type ReflectorMetrics, type Resource, type Verb } from './watch.js';

export interface ObjectSourceOptions {
  transport: Transport;
  timing: ApiTiming;
  signal: AbortSignal;
  metrics?: ReflectorMetrics | undefined;
  /** for hints; '' for cluster-scoped objects read without a known namespace */
  namespace: string;
  name: string;
  saDir: string;
  /** ServiceAccount "ns/name" (token claims, else the pod spec), for hints */
  serviceAccount(): string | undefined;
  status: StatusReporter;
  onPart(part: SourcePart | undefined): void;
}

export interface ObjectKind {
  resource: Resource;
  /** e.g. /api/v1/namespaces/NS/pods or /api/v1/nodes */
  collectionPath: string;
  toPart(object: KubeObject, deleted: boolean): SourcePart;
  deletedHint(): StatusError;
  notFoundHint(): StatusError;
  /** something wrong with the object as configured (served anyway, reported 'degraded') */
  check?(object: KubeObject): StatusError | undefined;
  /** extra /status detail (e.g. the node's watch/get mode) */
  detail?(): Readonly<Record<string, unknown>> | undefined;
}

/** The reflector callbacks a source may extend. */
export interface ObjectHooks {
  onObject?(object: KubeObject | undefined): void;
  onHealthy?(): void;
  /** runs before the default failure status; return 'stop' to end the reflector instead */
  onFailure?(f: ReflectorFailure): 'stop' | void;
}

export class ObjectSource {
  private lastObject: KubeObject | undefined;
  private deleted = false;
  private notFound = false;
  private sent: string | undefined;

  constructor(
    private readonly o: ObjectSourceOptions,
    private readonly kind: ObjectKind,
  ) {}

  get last(): KubeObject | undefined {
    return this.lastObject;
  }

  /** list + watch until the signal aborts (or a hook stops it) */
  run(hooks: ObjectHooks = {}): Promise<void> {
    const { o, kind } = this;
    return new Reflector({
      transport: o.transport,
      resource: kind.resource,
      collectionPath: kind.collectionPath,
      name: o.name,
      timing: o.timing,
      signal: o.signal,
      metrics: o.metrics,
      onObject: (type, obj) => {
        if (type === 'DELETED' || (type === 'LIST' && obj === undefined && this.lastObject !== undefined)) {
          // a relist that no longer finds the object: its DELETED event was missed
          this.markDeleted(obj);
        } else if (obj === undefined) {
          this.notFound = true;
          this.settle();
        } else this.update(obj);
        hooks.onObject?.(obj);
      },
      onHealthy: () => {
        hooks.onHealthy?.();
        this.okStatus();
      },
      onFailure: (f) => {
        if (hooks.onFailure?.(f) === 'stop') return 'stop';
        this.failed(f.verb, f.error);
      },
    }).run();
  }

  /** a fresh copy of the object (a watch event, a list, a GET) */
  update(obj: KubeObject): void {
    this.lastObject = obj;
    this.deleted = false;
    this.notFound = false;
    this.settle();
  }

  /** the object is gone: keep serving its last state, marked deleted */
  markDeleted(obj?: KubeObject): void {
    if (obj) this.lastObject = obj;
    this.deleted = true;
    this.settle();
  }

  /** re-publish (the part may depend on the source's own state, e.g. the pod's label grace) */
  publish(): void {
    const part = this.lastObject ? this.kind.toPart(this.lastObject, this.deleted) : undefined;
    const json = JSON.stringify(part);
    if (json === this.sent) return;
    this.sent = json;
    this.o.onPart(part);
  }

  /** the status when the source works: ok, or what is odd about the object */
  okStatus(): void {
    const { status } = this.o;
    const detail = this.kind.detail?.();
    if (this.deleted) status.set('degraded', this.kind.deletedHint(), detail);
    else if (this.notFound && !this.lastObject) status.set('error', this.kind.notFoundHint(), detail);
    else if (this.lastObject) {
      const problem = this.kind.check?.(this.lastObject);
      status.set(problem ? 'degraded' : 'ok', problem, detail);
    }
  }

  /** a request failed: 'error' when nothing is known yet or a retry will not fix it soon, else 'degraded' */
  failed(verb: Verb, error: ApiRequestError): void {
    const { o, kind } = this;
    const ctx: HintContext = {
      resource: kind.resource,
      verb,
      namespace: o.namespace,
      name: o.name,
      saDir: o.saDir,
      baseUrl: o.transport.baseUrl.origin,
      serviceAccount: o.serviceAccount(),
    };
    const described = describeFailure(ctx, error, `${o.saDir}/token`);
    o.status.set(isPersistent(error) || !this.lastObject ? 'error' : 'degraded', described, kind.detail?.());
  }

  private settle(): void {
    this.publish();
    this.okStatus();
  }
}
