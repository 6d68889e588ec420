// GET /events: server-sent events. `retry:` first, then a `snapshot`, then one `change` per revision with
// an RFC 6902 patch against the previous revision. Event ids name the agent run and the revision
// (`<epoch>.<revision>`), so Last-Event-ID replays kept changes only within the same run; otherwise a
// fresh snapshot. `?path=` narrows the stream to one part (patches relative to that part); the path rule is
// GET's: a path GET /metadata/<path> answers 404 for is a 404 here too (no `data: null`, ever).
//
// One hub per listener subscribes to the store once and writes each change to every stream; a change's
// event bytes are built once per distinct path, and every stream is written the same shared buffers (a
// thousand subscribers that stop reading hold references to one copy, not a thousand).
//
// Bounds: a stream whose client has failed to read more than `maxBacklogBytes` is dropped (it reconnects
// and resumes) — checked before each write, so a first write larger than the bound (a big document's
// snapshot) is streamed, not refused; a replay larger than both a fresh snapshot and REPLAY_MIN_BYTES is
// replaced by the snapshot (so a replay is never the reason a stream fails).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Change, Snapshot, Store } from '../store.js';
import { pointerOf, rebasePatch, subValueChange, type PatchOp } from '../jsonpatch.js';
import { render, selectValue } from '../select.js';
import { HttpError } from './errors.js';
import type { StreamRegistry } from './streams.js';
import { keysFromPath } from './paths.js';

export const MAX_BACKLOG_BYTES = 1 << 20;
/** A replay up to this size is always sent (cheap whatever the part); a larger one only when it is no
 * larger than a fresh snapshot of the part. */
export const REPLAY_MIN_BYTES = 64 * 1024;

export interface EventsOptions {
  store: Store;
  streams: StreamRegistry;
  retryMs?: number;
  /** a client that has failed to read more than this is dropped (it reconnects and resumes) */
  maxBacklogBytes?: number;
}

export interface EventRequest {
  /** raw `?path=` value, if given */
  path: string | undefined;
  /** Last-Event-ID header or `?lastEventId=` */
  lastEventId: string | undefined;
}

type Chunk = string | Buffer;

interface Subscriber {
  keys: readonly string[];
  pathKey: string;
  write(chunks: readonly Chunk[]): void;
}

const NL2 = Buffer.from('\n\n');

function part(snap: Snapshot, keys: readonly string[]): unknown {
  return keys.length === 0 ? snap.doc : selectValue(snap.doc, keys).value;
}

export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private unsubscribe: (() => void) | undefined;
  readonly retryMs: number;
  readonly maxBacklogBytes: number;

  constructor(private readonly o: EventsOptions) {
    this.retryMs = o.retryMs ?? 2000;
    this.maxBacklogBytes = o.maxBacklogBytes ?? MAX_BACKLOG_BYTES;
  }

  eventId(revision: number): string {
    return `${this.o.store.epoch}.${revision}`;
  }

  /** The revision named by a Last-Event-ID, when it belongs to this run of the agent. */
  parseEventId(id: string | undefined): number | undefined {
    if (!id) return undefined;
    const dot = id.lastIndexOf('.');
    if (dot < 0 || id.slice(0, dot) !== this.o.store.epoch) return undefined;
    const rev = id.slice(dot + 1);
    return /^\d{1,15}$/.test(rev) ? Number(rev) : undefined;
  }

  private changeChunks(revision: number, json: Buffer | string): Chunk[] {
    return [`event: change\nid: ${this.eventId(revision)}\ndata: `, json, NL2];
  }

  private patchChunks(revision: number, patch: readonly PatchOp[]): Chunk[] {
    return patch.length === 0 ? [] : this.changeChunks(revision, JSON.stringify({ revision, patch }));
  }

  /** The event of a live change for one path ([] = nothing for this path). */
  private liveEvent(change: Change, keys: readonly string[]): Chunk[] {
    if (keys.length === 0) return this.changeChunks(change.revision, change.json);
    const patch = rebasePatch(change.patch, pointerOf(keys)) ?? subValueChange(part(change.before, keys), part(change.after, keys));
    return this.patchChunks(change.revision, patch);
  }

  private fanOut(change: Change): void {
    if (this.subscribers.size === 0) return;
    const byPath = new Map<string, Chunk[]>();
    for (const s of this.subscribers) {
      let ev = byPath.get(s.pathKey);
      if (!ev) byPath.set(s.pathKey, (ev = this.liveEvent(change, s.keys)));
      if (ev.length > 0) s.write(ev);
    }
  }

  /** What a new stream starts with after `retry:`: the replay when it is kept and no larger than
   * max(REPLAY_MIN_BYTES, a snapshot), else the snapshot. Throws 404 when the path selects nothing and there is nothing to replay. */
  private opening(keys: readonly string[], lastEventId: string | undefined): Chunk[] {
    const { store } = this.o;
    const snap = store.current;
    const rendered = render(snap, keys, 'json');
    const snapshot: Chunk[] | undefined = rendered ? [`event: snapshot\nid: ${this.eventId(snap.revision)}\ndata: `, rendered.body, NL2] : undefined;
    const since = this.parseEventId(lastEventId);
    const kept = since === undefined ? undefined : store.changesSince(since);
    if (kept) {
      const limit = Math.max(REPLAY_MIN_BYTES, snapshot ? rendered!.body.length : 0);
      const out: Chunk[] = [];
      let bytes = 0;
      let ok = true;
      const pointer = pointerOf(keys);
      for (const e of kept) {
        let ev: Chunk[];
        if (keys.length === 0) ev = this.changeChunks(e.revision, e.json);
        else {
          const patch = rebasePatch((JSON.parse(e.json.toString()) as { patch: PatchOp[] }).patch, pointer);
          if (patch === undefined) {
            ok = false; // the part's change is not visible in the document patch: a snapshot says it
            break;
          }
          ev = this.patchChunks(e.revision, patch);
        }
        for (const c of ev) bytes += c.length;
        if (bytes > limit) {
          ok = false;
          break;
        }
        out.push(...ev);
      }
      if (ok) return out;
    }
    if (!snapshot) throw new HttpError(404, `no field ${keys.join('/')}`);
    return snapshot;
  }

  /**
   * Open an event stream on a raw response. Throws HttpError (before anything is written) for a bad or
   * unknown `path`, or when the stream cap is reached.
   */
  open(req: IncomingMessage, res: ServerResponse, { path, lastEventId }: EventRequest): void {
    const keys = path === undefined ? [] : keysFromPath(path);
    const first = this.opening(keys, lastEventId);
    const headers = {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    let release: (() => void) | undefined;
    const sub: Subscriber = {
      keys,
      pathKey: keys.join('\u0000'),
      write: (chunks) => {
        if (res.writableEnded || res.destroyed) return;
        if (res.writableLength > this.maxBacklogBytes) {
          // a client that does not read cannot make the agent buffer without bound
          stop();
          res.destroy();
          return;
        }
        res.cork();
        for (const c of chunks) res.write(c);
        res.uncork();
      },
    };
    const stop = (): void => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      }
      release?.();
    };
    release = this.o.streams.acquire(
      {
        kind: 'sse',
        close: () => {
          stop();
          if (!res.writableEnded) res.end();
        },
        ping: () => sub.write([': keep-alive\n\n']),
      },
      req.socket,
    );
    res.on('close', stop);
    res.on('error', () => {}); // a client that goes away mid-write is not an error of the agent
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    res.writeHead(200, headers);
    res.cork();
    res.write(`retry: ${this.retryMs}\n\n`);
    for (const c of first) res.write(c);
    res.uncork();
    this.subscribers.add(sub);
    this.unsubscribe ??= this.o.store.subscribe((c) => this.fanOut(c));
  }
}
