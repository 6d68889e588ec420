// Node labels: one list+watch of the single Node (fieldSelector metadata.name) → the 'node' part (see
// object-source.ts). If list or watch on nodes is forbidden, fall back to one GET per nodeGetIntervalMs
// (get-only RBAC); it stays in that mode until restart (RBAC rarely changes; a restart picks up a wider grant).

import { nodeDeleted, nodeNotFound } from './hints.js';
import { nodeToPart } from './node.js';
import { ObjectSource, type ObjectSourceOptions } from './object-source.js';
import { Backoff, sleep } from './timing.js';
import { classifyError } from './transport.js';
import { isPersistent, type KubeObject } from './watch.js';

export interface NodeSourceOptions extends ObjectSourceOptions {
  /** PODMETA_NODE_LABELS */
  labels: readonly string[];
}

export class NodeSource {
  private mode: 'watch' | 'get' = 'watch';
  private readonly object: ObjectSource;

  constructor(private readonly o: NodeSourceOptions) {
    this.object = new ObjectSource(o, {
      resource: 'node',
      collectionPath: '/api/v1/nodes',
      toPart: (node) => nodeToPart(node, o.labels),
      deletedHint: () => nodeDeleted(o.name),
      notFoundHint: () => nodeNotFound(o.name),
      detail: () => (this.mode === 'watch' ? { mode: 'watch' } : { mode: 'get', intervalSeconds: Math.round(o.timing.nodeGetIntervalMs / 1000) }),
    });
  }

  async run(): Promise<void> {
    await this.object.run({
      onFailure: (f) => {
        if (f.error.info.httpCode === 403 && (f.verb === 'list' || f.verb === 'watch')) {
          // the list/watch grant is missing: try a plain GET instead (at once, then once per interval)
          this.mode = 'get';
          return 'stop';
        }
      },
    });
    if (this.mode === 'get' && !this.o.signal.aborted) await this.poll();
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
        this.object.update(obj);
      } catch (err) {
        const e = classifyError(err);
        if (e.kind === 'aborted' || signal.aborted) break;
        metrics?.request?.('node', 'get', e.info.httpCode ?? 'error');
        if (e.info.httpCode === 404 && this.object.last) this.object.markDeleted();
        else this.object.failed('get', e);
        delay = Math.min(timing.nodeGetIntervalMs, backoff.next(isPersistent(e)));
      }
      await sleep(delay, signal);
    }
  }
}
