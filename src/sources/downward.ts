// The downwardAPI volume source: watches the mounted directory the way kubelet updates it, reads one
// consistent generation (volume-read.ts: contained in the directory), keeps the last good value of any
// file that is malformed, too large or unreadable, and hands the assembled part to the store.
//
// When it reads:
//  - an event on `..data` (kubelet's commit point) → at once (a cheap check first: the generation named by
//    `..data` differs from the one last read), never waiting out the debounce;
//  - any other event (the new timestamp dir, `..data_tmp`, top-level links, the old dir removed, a plain
//    file edited) → the same check after the debounce (PODMETA_DEBOUNCE_MS; a burst delays it ≤ maxDelayMs);
//    in kubelet's layout those events never cause a read of their own: the check finds the generation read;
//  - the periodic resync (a backstop for lost events) and the retries below → a full read.
// Faults: a missing directory is `missing` (polled every missingPollMs, picked up when it appears); a
// directory replaced (new dev:ino) or a watch error re-establishes the watch; /status is never `ok` while
// the directory is not watched. Out of file descriptors (EMFILE/ENFILE): retried with a backoff, reported
// `degraded`, the last good values stay. Parsing lives in volume-parse.ts (pure).

import { readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SourcePart, SourceStatus } from '../document.js';
import type { Logger } from '../log.js';
import { StatusReporter, type StatusError, type StatusSink } from '../status.js';
import { assembleVolumePart, parseVolumeFile, type VolumeItem } from './volume-parse.js';
import { DATA, readGeneration, VolumeReadError, type Generation, type Problem } from './volume-read.js';
import { withheldReason } from './volume-secrets.js';
import { VolumeWatcher } from './volume-watch.js';

export type { Problem } from './volume-read.js';

export interface DownwardOptions {
  dir: string;
  log: Logger;
  onPart(part: SourcePart | undefined): void;
  /** the owner of the source's status (the agent's store) … */
  statuses?: StatusSink;
  /** … or, on its own (tests), a callback on every change of it */
  onStatus?(status: SourceStatus): void;
  /** clock for `since` when on its own (tests) */
  now?: () => number;
  debounceMs?: number;
  /** the longest a burst of events can delay a read */
  maxDelayMs?: number;
  resyncMs?: number;
  maxFileBytes?: number;
  /** how often a missing or unreadable directory is looked at again */
  missingPollMs?: number;
  /** called after every full read (metrics, tests) */
  onRead?(): void;
}

type Kind = 'none' | 'check' | 'read';
const stronger = (a: Kind, b: Kind): Kind => (a === 'read' || b === 'read' ? 'read' : a === 'check' || b === 'check' ? 'check' : 'none');
const BUSY_MIN_MS = 10;
const BUSY_MAX_MS = 1000;

export class DownwardSource {
  private watcher: VolumeWatcher | undefined;
  /** re-establish the watch on the next successful read (after a read error) */
  private watchStale = false;
  private notWatching: string | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private pending: Kind = 'none';
  private stopped = false;
  /** start() has returned its first reading: later readings go to onPart */
  private started = false;
  private latest: SourcePart | undefined;
  private lastGood = new Map<string, VolumeItem>();
  /** what the last successful read saw */
  private last: { generation: string | undefined; identity: string } | undefined;
  private busyDelay = 0;
  private unstable = 0;
  private readonly status: StatusReporter<'downward'>;
  private readonly o: Required<Omit<DownwardOptions, 'onRead' | 'now' | 'statuses' | 'onStatus'>> & Pick<DownwardOptions, 'onRead'>;

  constructor(opts: DownwardOptions) {
    this.o = {
      debounceMs: 15,
      maxDelayMs: 60,
      resyncMs: 60_000,
      maxFileBytes: 2 << 20,
      missingPollMs: 1000,
      ...opts,
    };
    this.status = new StatusReporter('downward', opts.statuses ?? ((_s, st) => opts.onStatus?.(st)), opts.log, opts.now);
  }

  /** Reads once and starts watching. Resolves with the first reading (undefined when there is none, e.g. the
   * directory is missing); every later change is handed to `onPart`. */
  async start(): Promise<SourcePart | undefined> {
    await this.read();
    this.started = true;
    this.resyncTimer = setInterval(() => void this.run('read'), this.o.resyncMs);
    this.resyncTimer.unref();
    return this.latest;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    await this.reading;
    await this.unwatch();
  }

  /** Schedule a check (debounced; a burst delays it by at most maxDelayMs); `now`: a full read at once. */
  trigger(now = false): void {
    if (this.stopped) return;
    if (now) {
      void this.run('read');
      return;
    }
    const t = Date.now();
    if (this.debounce === undefined) this.firstEventAt = t;
    clearTimeout(this.debounce);
    const wait = Math.max(0, Math.min(this.o.debounceMs, this.firstEventAt + this.o.maxDelayMs - t));
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.run('check');
    }, wait);
  }

  /** Read now (coalesced: a read requested during a read runs once more after it). */
  read(): Promise<void> {
    return this.run('read');
  }

  private run(kind: Kind): Promise<void> {
    if (this.reading) {
      this.pending = stronger(this.pending, kind);
      return this.reading;
    }
    this.reading = (async () => {
      try {
        let k = kind;
        while (k !== 'none' && !this.stopped) {
          this.pending = 'none';
          await this.pass(k);
          k = this.pending;
        }
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** True when the directory and `..data` are what the last read saw and the watch is healthy. */
  private unchanged(): boolean {
    const last = this.last;
    if (!last || last.generation === undefined || !this.watching()) return false;
    try {
      const st = statSync(this.o.dir);
      if (`${st.dev}:${st.ino}` !== last.identity) return false;
      return readlinkSync(join(this.o.dir, DATA)) === last.generation;
    } catch {
      return false;
    }
  }

  private watching(): boolean {
    return this.watcher !== undefined && !this.watcher.failed && !this.watchStale && this.watcher.identity === this.last?.identity;
  }

  private async pass(kind: Kind): Promise<void> {
    if (kind === 'check' && this.unchanged()) return;
    let gen: Generation;
    try {
      gen = await readGeneration(this.o.dir, this.o.maxFileBytes);
    } catch (err) {
      this.onReadError(err);
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.busyDelay = 0;
    this.unstable = 0;
    this.last = { generation: gen.generation, identity: gen.identity };
    const { problems, withheld } = this.publish(gen);
    if (!this.watching()) await this.rewatch(gen.identity);
    this.report(problems, withheld, gen);
    this.o.onRead?.();
  }

  private publish(gen: Generation): { problems: Problem[]; withheld: Problem[] } {
    const items = new Map<string, VolumeItem>();
    const problems: Problem[] = [...gen.problems];
    const withheld: Problem[] = [];
    for (const [rel, content] of gen.files) {
      let item: VolumeItem = content instanceof Uint8Array ? parseVolumeFile(rel, content) : { type: 'error', message: content.message };
      if (item.type === 'file' && content instanceof Uint8Array) {
        const why = withheldReason(rel, content);
        if (why !== undefined) {
          withheld.push({ file: rel, message: why });
          continue;
        }
      }
      if (item.type === 'error') {
        problems.push({ file: rel, message: item.message });
        const prev = this.lastGood.get(rel);
        if (prev) item = prev;
        else continue;
      }
      items.set(rel, item);
    }
    this.lastGood = items;
    this.latest = assembleVolumePart(items);
    if (this.started) this.o.onPart(this.latest);
    return { problems, withheld };
  }

  private report(problems: Problem[], withheld: Problem[], gen: Generation): void {
    const detail = {
      dir: this.o.dir,
      files: gen.files.size,
      kubeletLayout: gen.generation !== undefined,
      ...(withheld.length > 0 ? { withheld } : {}),
    };
    if (problems.length > 0) {
      const message = problems.map((p) => (p.file === '' || p.message.startsWith(`${p.file}:`) ? p.message : `${p.file}: ${p.message}`)).join('; ');
      this.status.set(
        'degraded',
        {
          reason: 'BadFile',
          message,
          hint: 'the last good value of each listed file is still served; fix the file (or the pod spec item that produces it) and it recovers by itself',
        },
        { ...detail, problems },
      );
    } else if (this.notWatching !== undefined) {
      this.status.set(
        'degraded',
        {
          reason: 'NotWatching',
          message: `${this.o.dir} is read but not watched: ${this.notWatching}; changes are seen only on the periodic re-read`,
          hint: 'the watch is retried by itself; if this stays, raise the inotify limits (fs.inotify.max_user_watches / max_user_instances) on the node',
        },
        detail,
      );
    } else {
      this.status.set('ok', undefined, detail);
    }
  }

  private onReadError(err: unknown): void {
    const e = err instanceof VolumeReadError ? err : new VolumeReadError('unreadable', `cannot read ${this.o.dir}: ${(err as Error).message}`);
    const dir = this.o.dir;
    const kept = { dir, keepingLastGood: this.lastGood.size > 0 };
    let retryMs = this.o.missingPollMs;
    let error: StatusError;
    switch (e.kind) {
      case 'missing':
        this.status.set('missing', {
          reason: 'NotFound',
          message: `directory ${dir} does not exist`,
          hint: `mount a downwardAPI volume at ${dir} (without subPath) or set PODMETA_DOWNWARD_DIR; it is picked up when it appears`,
        }, kept);
        this.last = undefined;
        void this.unwatch();
        this.retry(retryMs);
        return;
      case 'busy':
        this.busyDelay = Math.min(BUSY_MAX_MS, Math.max(BUSY_MIN_MS, this.busyDelay * 2));
        this.status.set('degraded', {
          reason: e.code ?? 'EMFILE',
          message: `cannot open the files of ${dir}: ${e.message}; retrying every ${this.busyDelay} ms or less`,
          hint: 'the last good values are still served; the process is at its open-files limit: raise the container\'s limit (ulimit -n / RLIMIT_NOFILE) or lower PODMETA_MAX_STREAMS',
        }, kept);
        this.retry(this.busyDelay);
        return;
      case 'unstable':
        // generations replaced each other through every attempt: try again soon, report only if it persists
        this.unstable++;
        if (this.unstable >= 3) {
          this.status.set('degraded', {
            reason: 'Unstable',
            message: `${e.message}; retrying`,
            hint: 'the last good values are still served; something rewrites the volume continuously (kubelet writes a generation at most every few seconds)',
          }, kept);
        }
        this.retry(Math.min(20 * this.unstable, 200));
        return;
      case 'escape':
        error = {
          reason: 'OutsideVolume',
          message: e.message,
          hint: `the last good values are still served; ${dir} must be a downwardAPI volume written only by kubelet: mount it read-only, never write into it, and check what replaced ..data`,
        };
        break;
      default:
        error = {
          reason: e.code ?? 'ReadError',
          message: e.message,
          hint: 'check the volume mount and its permissions (the agent runs as a non-root user); the last good values are still served',
        };
    }
    this.watchStale = true;
    this.status.set('error', error, kept);
    this.retry(retryMs);
  }

  private retry(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.run('read');
    }, ms);
    this.retryTimer.unref();
  }

  private async unwatch(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  private async rewatch(identity: string): Promise<void> {
    await this.unwatch();
    if (this.stopped) return;
    try {
      this.watcher = await VolumeWatcher.open(this.o.dir, identity, {
        onCommit: () => void this.run('check'),
        onOther: () => this.trigger(),
        onError: (err) => {
          this.o.log.warn('volume watch error; re-establishing it', { dir: this.o.dir, err });
          void this.run('read');
        },
      });
      this.watchStale = false;
      this.notWatching = undefined;
      // events between the read and the watch being ready were not seen
      this.pending = stronger(this.pending, 'check');
    } catch (err) {
      this.notWatching = (err as Error).message;
      this.retry(this.o.missingPollMs);
    }
  }
}
