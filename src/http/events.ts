// GET /events: server-sent events. `retry:` first, then a `snapshot`, then one `change` per revision with
// an RFC 6902 patch against the previous revision. Event ids name the agent run and the revision
// (`<epoch>.<revision>`), so Last-Event-ID replays buffered changes only within the same run; otherwise a
// fresh snapshot. `?path=` narrows the stream to one part (patches relative to that part).
// Writes go straight to the socket (no per-client PassThrough) and each change is serialized once per
// distinct path, however many subscribers there are.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { Change, Snapshot, Store } from '../store.js';
import { subValueChange } from '../jsonpatch.js';
import { selectValue } from '../select.js';
import { HttpError } from './errors.js';
import { keysFromPath, queryValue } from './metadata.js';
import type { StreamRegistry } from './streams.js';

export interface EventsOptions {
  store: Store;
  streams: StreamRegistry;
  retryMs?: number;
  /** a client whose unsent backlog exceeds this is dropped (it reconnects and resumes) */
  maxBacklogBytes?: number;
}

export function eventId(store: Store, revision: number): string {
  return `${store.epoch}.${revision}`;
}

/** The revision named by a Last-Event-ID, when it belongs to this run of the agent. */
export function parseEventId(store: Store, id: string | undefined): number | undefined {
  if (!id) return undefined;
  const dot = id.lastIndexOf('.');
  if (dot < 0 || id.slice(0, dot) !== store.epoch) return undefined;
  const rev = id.slice(dot + 1);
  return /^\d{1,15}$/.test(rev) ? Number(rev) : undefined;
}

function part(snap: Snapshot, keys: readonly string[]): unknown {
  return keys.length === 0 ? snap.doc : selectValue(snap.doc, keys).value;
}

const changeCache = new WeakMap<Change, Map<string, string>>();

/** The `change` event text of a change for a path ('' = none for this path). Cached per change and path. */
function changeEvent(store: Store, change: Change, keys: readonly string[]): string {
  const pathKey = keys.join('\u0000');
  let m = changeCache.get(change);
  if (!m) changeCache.set(change, (m = new Map()));
  let text = m.get(pathKey);
  if (text === undefined) {
    const patch = keys.length === 0 ? change.patch : subValueChange(part(change.before, keys), part(change.after, keys));
    text =
      patch.length === 0
        ? ''
        : `event: change\nid: ${eventId(store, change.revision)}\ndata: ${JSON.stringify({ revision: change.revision, patch })}\n\n`;
    if (m.size < 64) m.set(pathKey, text);
  }
  return text;
}

function snapshotEvent(store: Store, snap: Snapshot, keys: readonly string[]): string {
  const data = keys.length === 0 ? snap.body.toString() : JSON.stringify(part(snap, keys) ?? null);
  return `event: snapshot\nid: ${eventId(store, snap.revision)}\ndata: ${data}\n\n`;
}

export interface EventRequest {
  /** raw `?path=` value, if given */
  path: string | undefined;
  /** Last-Event-ID header or `?lastEventId=` */
  lastEventId: string | undefined;
}

/**
 * Open an event stream on a raw response. Throws HttpError (before anything is written) for a bad
 * `path` or when the stream cap is reached. Works without koa's per-request context: a subscriber costs
 * its socket, its request/response and one closure.
 */
export function openEventStream(
  { store, streams, retryMs = 2000, maxBacklogBytes = 1 << 20 }: EventsOptions,
  req: IncomingMessage,
  res: ServerResponse,
  { path, lastEventId }: EventRequest,
): void {
  const keys = path === undefined ? [] : keysFromPath(path);
  let unsubscribe = (): void => {};
  let release: (() => void) | undefined;
  const end = (): void => {
    unsubscribe();
    release?.();
    if (!res.writableEnded) res.end();
  };
  const write = (text: string): void => {
    if (text === '' || res.writableEnded || res.destroyed) return;
    res.write(text);
    if (res.writableLength > maxBacklogBytes) {
      // a client that does not read cannot make the agent buffer without bound
      unsubscribe();
      release?.();
      res.destroy();
    }
  };
  release = streams.acquire({ kind: 'sse', close: end, ping: () => write(': keep-alive\n\n') });
  if (!release) {
    throw new HttpError(503, `too many open streams and long-polls (limit ${streams.max}, PODMETA_MAX_STREAMS); retry later`, {
      'Retry-After': '1',
    });
  }
  res.on('close', () => {
    unsubscribe();
    release?.();
  });
  res.on('error', () => {}); // a client that goes away mid-write is not an error of the agent
  req.socket.setNoDelay(true);
  req.socket.setTimeout(0);
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  let text = `retry: ${retryMs}\n\n`;
  const since = parseEventId(store, lastEventId);
  const replay = since === undefined ? undefined : store.changesSince(since);
  if (replay) {
    for (const c of replay) text += changeEvent(store, c, keys);
  } else {
    text += snapshotEvent(store, store.current, keys);
  }
  write(text);
  unsubscribe = store.subscribe((change) => write(changeEvent(store, change, keys)));
}

/** The koa route (reached only when the raw fast path in fast.ts did not take the request). */
export function eventsHandler(opts: EventsOptions) {
  return async function events(ctx: Context): Promise<void> {
    const path = queryValue(ctx, 'path');
    const lastEventId = ctx.get('Last-Event-ID') || queryValue(ctx, 'lastEventId');
    openEventStream(opts, ctx.req, ctx.res, { path, lastEventId });
    ctx.respond = false;
  };
}
