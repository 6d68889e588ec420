// The downwardAPI volume source: watches the mounted directory the way kubelet updates it (an event on
// `..data` means "a new generation is live"), reads one consistent generation, keeps the last good value
// of any file that is malformed, too large or unreadable, and hands the assembled part to the store.
// A missing directory is reported `missing` and picked up when it appears; a slow periodic re-read is a
// backstop for lost events. Parsing lives in volume-parse.ts (pure).

import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { SourcePart, SourceStatus } from '../document.js';
import type { Logger } from '../log.js';
import { StatusReporter } from '../status.js';
import { assembleVolumePart, parseVolumeFile, type VolumeItem } from './volume-parse.js';

export interface DownwardOptions {
  dir: string;
  log: Logger;
  onPart(part: SourcePart | undefined): void;
  onStatus(status: SourceStatus): void;
  /** clock for `since` (tests) */
  now?: () => number;
  debounceMs?: number;
  /** the longest a burst of events can delay a read */
  maxDelayMs?: number;
  resyncMs?: number;
  maxFileBytes?: number;
  /** how often a missing directory is looked for */
  missingPollMs?: number;
  /** called after every completed read (metrics, tests) */
  onRead?(): void;
}

export interface Problem {
  file: string;
  message: string;
}

interface Generation {
  generation: string | undefined;
  files: Map<string, Uint8Array | Problem>;
}

const DATA = '..data';
const isInternal = (name: string): boolean => name.startsWith('..');

class Retry extends Error {}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

async function readCapped(path: string, max: number): Promise<Uint8Array | Problem> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { file: '', message: 'not a regular file' };
    if (st.size > max) return { file: '', message: `file is ${st.size} bytes, over the ${max}-byte limit (PODMETA_MAX_FILE_BYTES)` };
    // read up to max+1 bytes: a file that grew after stat is still caught
    const buf = Buffer.allocUnsafe(Math.min(st.size, max) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > max) return { file: '', message: `file is over the ${max}-byte limit (PODMETA_MAX_FILE_BYTES)` };
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

async function walkFiles(root: string, rel: string, out: string[]): Promise<void> {
  const entries = await readdir(rel ? join(root, rel) : root, { withFileTypes: true });
  for (const e of entries) {
    if (isInternal(e.name)) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walkFiles(root, r, out);
    else if (e.isSymbolicLink()) {
      // outside a kubelet generation (a plain directory), follow links to files/dirs
      const st = await stat(join(root, r)).catch(() => undefined);
      if (st?.isDirectory()) await walkFiles(root, r, out);
      else if (st?.isFile()) out.push(r);
    } else if (e.isFile()) out.push(r);
  }
}

/** Read one consistent generation: resolve `..data` once, read from that timestamp dir, check it is still
 * current afterwards; retry if the generation changed or vanished mid-read. */
export async function readGeneration(dir: string, maxFileBytes: number, attempts = 8): Promise<Generation> {
  for (let i = 0; ; i++) {
    try {
      return await readOnce(dir, maxFileBytes);
    } catch (err) {
      if (i + 1 < attempts && (err instanceof Retry || errCode(err) === 'ENOENT')) {
        // the directory itself missing is not a retry case
        if (errCode(err) === 'ENOENT' && !(await lstat(dir).then(() => true, () => false))) throw err;
        continue;
      }
      throw err;
    }
  }
}

async function readOnce(dir: string, maxFileBytes: number): Promise<Generation> {
  let generation: string | undefined;
  try {
    generation = await readlink(join(dir, DATA));
  } catch (err) {
    if (errCode(err) !== 'ENOENT' && errCode(err) !== 'EINVAL') throw err;
  }
  const root = generation !== undefined ? join(dir, generation) : dir;
  const names: string[] = [];
  await walkFiles(root, '', names);
  names.sort();
  const files = new Map<string, Uint8Array | Problem>();
  for (const rel of names) {
    try {
      const r = await readCapped(join(root, rel), maxFileBytes);
      files.set(rel, r instanceof Uint8Array ? r : { ...r, file: rel });
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw err; // generation vanished mid-read: retry
      files.set(rel, { file: rel, message: `cannot read: ${(err as Error).message}` });
    }
  }
  if (generation !== undefined) {
    const now = await readlink(join(dir, DATA)).catch(() => undefined);
    if (now !== generation) throw new Retry('generation changed during read');
  }
  return { generation, files };
}

export class DownwardSource {
  private watcher: FSWatcher | undefined;
  private watchReady: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private missingTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastGood = new Map<string, VolumeItem>();
  private readonly status: StatusReporter<'downward'>;
  private readonly o: Required<Omit<DownwardOptions, 'onRead' | 'now'>> & Pick<DownwardOptions, 'onRead'>;

  constructor(opts: DownwardOptions) {
    this.o = {
      debounceMs: 15,
      maxDelayMs: 60,
      resyncMs: 60_000,
      maxFileBytes: 1 << 20,
      missingPollMs: 1000,
      ...opts,
    };
    this.status = new StatusReporter('downward', (_s, st) => opts.onStatus(st), opts.log, opts.now);
  }

  /** Reads once (so /readyz can report the local sources read) and starts watching. */
  async start(): Promise<void> {
    await this.read();
    await this.watchReady;
    this.resyncTimer = setInterval(() => this.trigger(true), this.o.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.resyncTimer);
    clearInterval(this.missingTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
    await this.reading;
  }

  /** Schedule a read (debounced; a burst delays it by at most maxDelayMs). */
  trigger(now = false): void {
    if (this.stopped) return;
    const t = Date.now();
    if (this.timer === undefined) this.firstEventAt = t;
    clearTimeout(this.timer);
    const wait = now ? 0 : Math.max(0, Math.min(this.o.debounceMs, this.firstEventAt + this.o.maxDelayMs - t));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.read();
    }, wait);
  }

  /** Read now (coalesced: a read requested during a read runs once more after it). */
  read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.readAndPublish();
        } while (this.again && !this.stopped);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private async readAndPublish(): Promise<void> {
    let gen: Generation;
    try {
      gen = await readGeneration(this.o.dir, this.o.maxFileBytes);
    } catch (err) {
      this.onReadError(err);
      return;
    }
    this.ensureWatching();
    const items = new Map<string, VolumeItem>();
    const problems: Problem[] = [];
    for (const [rel, content] of gen.files) {
      const item: VolumeItem = content instanceof Uint8Array ? parseVolumeFile(rel, content) : { type: 'error', message: content.message };
      if (item.type === 'error') {
        problems.push({ file: rel, message: item.message });
        const prev = this.lastGood.get(rel);
        if (prev) items.set(rel, prev);
      } else {
        items.set(rel, item);
      }
    }
    this.lastGood = items;
    const part = assembleVolumePart(items);
    this.o.onPart(part);
    this.report(problems, gen.generation, gen.files.size);
    this.o.onRead?.();
  }

  private report(problems: Problem[], generation: string | undefined, files: number): void {
    const detail = { dir: this.o.dir, files, kubeletLayout: generation !== undefined };
    if (problems.length === 0) {
      this.status.set('ok', undefined, detail);
      return;
    }
    const message = problems.map((p) => (p.message.startsWith(`${p.file}:`) ? p.message : `${p.file}: ${p.message}`)).join('; ');
    this.status.set(
      'degraded',
      {
        reason: 'BadFile',
        message,
        hint: 'the last good value of each listed file is still served; fix the file (or the pod spec item that produces it) and it recovers by itself',
      },
      { ...detail, problems },
    );
  }

  private onReadError(err: unknown): void {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      this.status.set('missing', {
        reason: 'NotFound',
        message: `directory ${this.o.dir} does not exist`,
        hint: `mount a downwardAPI volume at ${this.o.dir} (without subPath) or set PODMETA_DOWNWARD_DIR; it is picked up when it appears`,
      }, { dir: this.o.dir, keepingLastGood: this.lastGood.size > 0 });
      void this.unwatch();
      this.pollForDirectory();
      return;
    }
    this.status.set('error', {
      reason: code ?? 'ReadError',
      message: `cannot read ${this.o.dir}: ${(err as Error).message}`,
      hint: 'check the volume mount and its permissions (the agent runs as a non-root user); the last good values are still served',
    }, { dir: this.o.dir });
  }

  private pollForDirectory(): void {
    if (this.missingTimer || this.stopped) return;
    this.missingTimer = setInterval(() => {
      void lstat(this.o.dir).then(
        () => {
          clearInterval(this.missingTimer);
          this.missingTimer = undefined;
          this.trigger(true);
        },
        () => {},
      );
    }, this.o.missingPollMs);
    this.missingTimer.unref();
  }

  private async unwatch(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close().catch(() => {});
  }

  private ensureWatching(): void {
    if (this.watcher || this.stopped) return;
    const dir = this.o.dir;
    const w = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      persistent: false,
      alwaysStat: false,
    });
    // `..data` is kubelet's "a new generation is live". chokidar throttles repeated events on one path,
    // so a quick second swap can go unreported on `..data`: any event in the directory (the new
    // timestamp dir appearing, the old one removed, a plain file edited) schedules a read too. Reads are
    // debounced and publish only real changes, so the extra triggers cost one directory walk.
    w.on('all', () => this.trigger());
    // events before chokidar is ready are not reported: read once more when it is
    this.watchReady = new Promise((resolve) =>
      w.once('ready', () => {
        this.trigger(true);
        resolve();
      }),
    );
    w.on('error', (err) => {
      this.o.log.warn('volume watcher error; relying on re-reads', { dir, err });
      this.trigger();
    });
    this.watcher = w;
  }
}
