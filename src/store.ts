// One frozen document + revision. Sources hand parts in; every real change bumps the revision by one,
// yields an RFC 6902 patch, is serialized once (body + ETag, and the change as JSON) and fanned out to
// subscribers. Views read `current` and subscribe; nothing else.
//
// Memory: the store keeps the current snapshot and, for SSE resume, only the serialized recent changes
// (`history`), bounded BY BYTES to what a replay can use: a replay larger than a fresh snapshot is never
// sent, so at most max(HISTORY_MIN_BYTES, size of the current document) of changes are kept (and at most
// `bufferSize` of them). Old snapshots and Change objects are not retained.

import { etagOf } from './etag.js';
import type { MetadataDocument, SourceName, SourcePart, SourceStatus } from './document.js';
import { SourceStatuses, type StatusChange, type StatusMap, type StatusReport, type StatusSink } from './status.js';
import { deepEqual, deepFreeze, diff, type PatchOp } from './jsonpatch.js';
import { keyMatcher } from './keys.js';
import { mergeParts, type DocumentBody, type Parts } from './merge.js';

export interface Snapshot {
  readonly revision: number;
  readonly doc: Readonly<MetadataDocument>;
  /** the serialized document, computed once per revision */
  readonly body: Buffer;
  readonly etag: string;
}

export interface Change {
  readonly revision: number;
  readonly patch: readonly PatchOp[];
  readonly before: Snapshot;
  readonly after: Snapshot;
  /** `{"revision":…,"patch":[…]}`, serialized once */
  readonly json: Buffer;
}

/** What SSE resume needs of a past change: its serialized JSON. */
export interface HistoryEntry {
  readonly revision: number;
  readonly json: Buffer;
}

/** History kept whatever the document size (a small document's changes are cheap to keep). */
export const HISTORY_MIN_BYTES = 256 * 1024;

export type { StatusMap } from './status.js';

export interface StoreOptions {
  annotationsExclude?: readonly string[];
  /** PODMETA_NODE_LABELS: selects the topology keys node.labels takes from the pod's own labels */
  nodeLabels?: readonly string[];
  /** at most this many recent changes are kept for SSE resume (and at most their byte bound) */
  bufferSize?: number;
  now?: () => Date;
}

export { etagOf };

/** A name for this run of the agent (48 random bits; Math.random, so node:crypto stays unloaded). */
export function newEpoch(): string {
  return Math.floor(Math.random() * 2 ** 48).toString(36).padStart(10, '0');
}

function makeSnapshot(revision: number, body: DocumentBody): Snapshot {
  const doc = deepFreeze({ revision, ...body }) as MetadataDocument;
  const bytes = Buffer.from(JSON.stringify(doc));
  return Object.freeze({ revision, doc, body: bytes, etag: etagOf(bytes) });
}

export class Store implements StatusSink {
  /** names this run of the agent: SSE ids from another run never replay the wrong changes */
  readonly epoch = newEpoch();
  private snapshot: Snapshot;
  private parts: Parts = {};
  private readonly history: HistoryEntry[] = [];
  private historyBytes = 0;
  private readonly subscribers = new Set<(c: Change) => void>();
  /** the one owner of every source's status (src/status.ts) */
  private readonly sourceStatuses: SourceStatuses;
  private readonly excluded: (k: string) => boolean;
  private readonly nodeLabel: (k: string) => boolean;
  private readonly bufferSize: number;
  private readonly now: () => Date;

  constructor({ annotationsExclude = [], nodeLabels = [], bufferSize = 512, now = () => new Date() }: StoreOptions = {}) {
    this.excluded = keyMatcher(annotationsExclude);
    this.nodeLabel = keyMatcher(nodeLabels);
    this.bufferSize = bufferSize;
    this.now = now;
    this.snapshot = makeSnapshot(0, mergeParts({}, this.excluded, this.nodeLabel));
    this.sourceStatuses = new SourceStatuses(() => now().getTime());
  }

  get current(): Snapshot {
    return this.snapshot;
  }

  /** Replace one source's part. Returns the change, or undefined when the document's content is unchanged. */
  setPart(source: SourceName, part: SourcePart | undefined): Change | undefined {
    return this.setParts({ [source]: part });
  }

  /** Replace several sources' parts as one change (one revision). */
  setParts(parts: Parts): Change | undefined {
    this.parts = { ...this.parts, ...parts };
    const next = mergeParts(this.parts, this.excluded, this.nodeLabel);
    const { revision: _r, ...prevBody } = this.snapshot.doc;
    if (deepEqual(prevBody, next)) return undefined;
    const before = this.snapshot;
    const after = makeSnapshot(before.revision + 1, next);
    const patch = Object.freeze(diff(prevBody, next));
    const json = Buffer.from(JSON.stringify({ revision: after.revision, patch }));
    this.snapshot = after;
    const change: Change = Object.freeze({ revision: after.revision, patch, before, after, json });
    this.remember({ revision: after.revision, json });
    for (const fn of this.subscribers) {
      try {
        fn(change);
      } catch {
        // a failing subscriber must not stop the others; it is responsible for its own errors
      }
    }
    return change;
  }

  private remember(e: HistoryEntry): void {
    this.history.push(e);
    this.historyBytes += e.json.length;
    const bound = Math.max(HISTORY_MIN_BYTES, this.snapshot.body.length);
    while (this.history.length > this.bufferSize || (this.historyBytes > bound && this.history.length > 0)) {
      this.historyBytes -= this.history.shift()!.json.length;
    }
  }

  /** Bytes of serialized changes kept for resume (never more than max(HISTORY_MIN_BYTES, document size)). */
  get historySize(): { entries: number; bytes: number } {
    return { entries: this.history.length, bytes: this.historyBytes };
  }

  /** Changes after `revision`, oldest first; undefined when they are no longer all kept. */
  changesSince(revision: number): readonly HistoryEntry[] | undefined {
    const cur = this.snapshot.revision;
    if (revision === cur) return [];
    if (revision > cur || revision < 0) return undefined;
    const first = this.history[0];
    if (!first || first.revision > revision + 1) return undefined;
    return this.history.slice(revision + 1 - first.revision);
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  // --- per-source status (not part of the document: no revision bump); sources write it through a
  // StatusReporter, /status reads `statuses`, the podmeta_source_state gauge reads `reportedStatuses` ---

  /** Sets a source's status (`since` kept while the state stays); returns the change, or undefined when unchanged. */
  setStatus(source: SourceName, report: StatusReport): StatusChange | undefined {
    return this.sourceStatuses.setStatus(source, report);
  }

  statusOf(source: SourceName): SourceStatus | undefined {
    return this.sourceStatuses.statusOf(source);
  }

  /** every source; one that has not reported yet is `disabled` since the store was made */
  get statuses(): StatusMap {
    return this.sourceStatuses.all;
  }

  /** the sources that have reported, in the order of their first report */
  get reportedStatuses(): Readonly<Partial<Record<SourceName, SourceStatus>>> {
    return this.sourceStatuses.reported;
  }

  onStatus(fn: (s: SourceName, st: SourceStatus) => void): () => void {
    return this.sourceStatuses.onChange(fn);
  }
}
