// The pod watch: one list+watch of the agent's own Pod → the 'api' part and status (see object-source.ts).
// Labels, annotations and the PODMETA_CONTAINER's current resources ride in the part only while the watch is
// healthy; after labelGraceMs of trouble the part is re-sent without them (so the downwardAPI volume takes
// over), and they come back on recovery. DELETED keeps the last state with pod.deleted = true and a
// 'degraded' status.

import type { SourcePart } from '../document.js';
import { containerUnknown, podDeleted, podNotFound } from './hints.js';
import { ObjectSource, type ObjectSourceOptions } from './object-source.js';
import { containerNames, podToPart, serviceAccountOfPod } from './pod.js';
import type { KubeObject } from './watch.js';

export interface PodSourceOptions extends Omit<ObjectSourceOptions, 'serviceAccount'> {
  /** ServiceAccount "ns/name" from the token claims, for hints (else the pod spec's) */
  serviceAccount(): string | undefined;
  /** PODMETA_CONTAINER: the container whose current resources become the part's `resources` */
  container?: string;
  /** every Pod object seen (LIST and watch events) */
  onPod(pod: KubeObject): void;
  /** a request for the pod failed, or the pod was not found */
  onTrouble?(): void;
}

export class PodSource {
  private withMeta = true;
  private grace: NodeJS.Timeout | undefined;
  private readonly object: ObjectSource;

  constructor(private readonly o: PodSourceOptions) {
    const { namespace, name } = o;
    this.object = new ObjectSource(
      { ...o, serviceAccount: () => o.serviceAccount() ?? serviceAccountOfPod(this.object.last) },
      {
        resource: 'pod',
        collectionPath: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
        toPart: (pod, deleted): SourcePart => podToPart(pod, { includeMeta: this.withMeta, deleted, container: o.container }),
        deletedHint: () => podDeleted(namespace, name),
        check: (pod) => (o.container !== undefined ? containerProblem(pod, o.container) : undefined),
        notFoundHint: () => podNotFound(namespace, name),
      },
    );
  }

  run(): Promise<void> {
    return this.object
      .run({
        onObject: (pod) => {
          if (pod) this.o.onPod(pod);
          else this.o.onTrouble?.(); // listed, not found: the pod cannot be read (yet)
        },
        onHealthy: () => {
          clearTimeout(this.grace);
          this.grace = undefined;
          if (!this.withMeta) {
            this.withMeta = true;
            this.object.publish();
          }
        },
        onFailure: () => {
          this.o.onTrouble?.();
          if (this.withMeta && this.grace === undefined) {
            this.grace = setTimeout(() => {
              this.grace = undefined;
              this.withMeta = false;
              this.object.publish();
            }, this.o.timing.labelGraceMs);
          }
        },
      })
      .finally(() => clearTimeout(this.grace));
  }
}

function containerProblem(pod: KubeObject, container: string) {
  const names = containerNames(pod);
  return names.includes(container) ? undefined : containerUnknown(container, names);
}
