// The volume directory's event source. chokidar establishes the watch (and reports its errors); podmeta
// reacts to its raw, unthrottled directory events: an event on `..data` is kubelet's commit point (the
// rename of `..data_tmp` over `..data`), anything else is a hint that something changed. chokidar's own
// per-entry processing is switched off (`ignored`: everything inside the directory): it would stat every
// entry on every event and throttle repeated `change` events on one path for 50 ms.
// A watcher belongs to one directory identity (dev:ino): when the directory is replaced, the caller
// opens a new one.

import { resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { DATA } from './volume-read.js';

export interface WatchHandlers {
  /** `..data` was replaced: a new generation is live */
  onCommit(): void;
  /** any other event in the directory (or on the directory itself) */
  onOther(): void;
  onError(err: unknown): void;
}

export class VolumeWatcher {
  /** set on a watch error: the caller re-establishes the watch */
  failed = false;

  private constructor(
    readonly identity: string,
    private readonly w: FSWatcher,
  ) {}

  /** Watch `dir` (whose identity is `identity`); resolves once the watch is established. */
  static open(dir: string, identity: string, h: WatchHandlers, readyTimeoutMs = 5000): Promise<VolumeWatcher> {
    const root = resolve(dir);
    const w = watch(root, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      persistent: false,
      alwaysStat: false,
      ignored: (p: string) => resolve(p) !== root,
    });
    const vw = new VolumeWatcher(identity, w);
    w.on('raw', (_event: string, path: string) => {
      if (path === DATA || path.endsWith(`/${DATA}`)) h.onCommit();
      else h.onOther();
    });
    return new Promise<VolumeWatcher>((resolveOpen, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`the watch on ${root} was not established within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void w.close().catch(() => {});
        reject(err);
      };
      w.on('error', (err: unknown) => {
        if (!settled) return fail(err);
        vw.failed = true;
        h.onError(err);
      });
      w.once('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolveOpen(vw);
      });
    });
  }

  close(): Promise<void> {
    return this.w.close().catch(() => {});
  }
}
