// Reads one consistent generation of a downwardAPI volume, contained in the volume directory.
//
// kubelet's layout (pkg/volume/util/atomic_writer.go): `..data -> ..<timestamp>` (a relative symlink of one
// component, inside the directory) and, inside the timestamp directory, only regular files and real
// sub-directories. So, in that layout:
//   - `..data` must be a symlink to one `..`-prefixed name in the same directory, and that name a real
//     directory; anything else (absolute, `../…`, a path with `/`, a symlink or file as the generation) is
//     refused as a whole: a VolumeReadError with kind `escape`; the caller keeps the last good document.
//   - inside the generation, a symlink, a FIFO, a socket or a device is never opened: reported per item.
//   - the visible top-level links (`labels -> ..data/labels`) are never followed: every item is read
//     through the generation resolved once.
// A plain directory (no `..data`: a hand-made or test volume) is read as it is; a symlink in it is followed
// only when its real path stays inside the volume directory and names a directory not read yet (no loops).
// Both layouts: at most MAX_DEPTH levels and MAX_FILES files; files are opened O_NOFOLLOW|O_NONBLOCK (a FIFO
// never blocks a read), must be regular, and are read with a byte cap.
// The reads are synchronous on purpose: a generation is a handful of small files on a kubelet-managed local
// directory (never a network filesystem); one synchronous pass (~0.1 ms) publishes a change without a dozen
// thread-pool round trips, each of which waits for the event loop again on a busy node. A FIFO cannot block
// it (O_NONBLOCK) and the byte cap bounds it.

import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { parseResourceName } from '../quantity.js';
import { podFieldOf } from './volume-parse.js';

export const DATA = '..data';
export const MAX_DEPTH = 8;
export const MAX_FILES = 1000;
const isInternal = (name: string): boolean => name.startsWith('..');
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface Problem {
  /** the item's path inside the volume ('' for the volume as a whole) */
  file: string;
  message: string;
}

export interface Generation {
  /** the `..data` target (kubelet layout) or undefined (plain directory) */
  generation: string | undefined;
  /** dev:ino of the volume directory */
  identity: string;
  files: Map<string, Uint8Array | Problem>;
  /** problems that are not one item's (walk bounds) */
  problems: Problem[];
}

/**
 * Why a whole read failed. `missing`: the volume directory does not exist; `escape`: `..data` does not name a
 * generation inside the directory; `busy`: the process is out of file descriptors (EMFILE/ENFILE, retry);
 * `unstable`: generations kept replacing each other during the read (retry); `unreadable`: anything else.
 */
export type ReadErrorKind = 'missing' | 'escape' | 'busy' | 'unstable' | 'unreadable';

export class VolumeReadError extends Error {
  constructor(
    readonly kind: ReadErrorKind,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'VolumeReadError';
  }
}

class Retry extends Error {}

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

const isBusy = (err: unknown): boolean => errCode(err) === 'EMFILE' || errCode(err) === 'ENFILE';

function busy(err: unknown): VolumeReadError {
  return new VolumeReadError('busy', `out of file descriptors (${errCode(err)}): ${(err as Error).message}`, errCode(err));
}

function readCapped(path: string, max: number): Uint8Array | string {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    if (errCode(err) === 'ELOOP') return 'is a symbolic link (not followed)';
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not a regular file';
    if (st.size > max) return `file is ${st.size} bytes, over the ${max}-byte limit (PODMETA_MAX_FILE_BYTES)`;
    // read up to max+1 bytes: a file that grew after stat is still caught
    const buf = Buffer.allocUnsafe(Math.min(st.size, max) + 1);
    let n = 0;
    for (;;) {
      const bytesRead = readSync(fd, buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > max) return `file is over the ${max}-byte limit (PODMETA_MAX_FILE_BYTES)`;
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** A directory where the volume has a file item (`labels/`, `pod/name/`, `requests/cpu/`): never descended. */
const namesAnItem = (rel: string): boolean => podFieldOf(rel) !== undefined || parseResourceName(rel) !== undefined;

interface Walk {
  /** real path of the volume directory (containment boundary) */
  realDir: string;
  /** kubelet layout: no symlink is followed */
  kubelet: boolean;
  /** path to open for each item */
  paths: Map<string, string>;
  problems: Map<string, Problem>;
  global: Problem[];
  seenDirs: Set<string>;
  full: boolean;
}

const inside = (real: string, dir: string): boolean => real === dir || real.startsWith(dir.endsWith(sep) ? dir : dir + sep);

function walk(w: Walk, abs: string, rel: string, depth: number): void {
  const entries = readdirSync(abs, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (isInternal(e.name)) continue;
    if (w.paths.size >= MAX_FILES) {
      if (!w.full) w.global.push({ file: '', message: `more than ${MAX_FILES} files in the volume: the rest is not read` });
      w.full = true;
      return;
    }
    const r = rel ? `${rel}/${e.name}` : e.name;
    let p = join(abs, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      if (w.kubelet) {
        w.problems.set(r, { file: r, message: 'is a symbolic link inside the generation directory (kubelet writes only regular files there): not followed' });
        continue;
      }
      let real: string;
      try {
        real = realpathSync.native(p);
      } catch (err) {
        if (errCode(err) !== 'ENOENT' && errCode(err) !== 'ELOOP') throw err;
        w.problems.set(r, { file: r, message: 'is a dangling or looping symbolic link' });
        continue;
      }
      if (!inside(real, w.realDir)) {
        w.problems.set(r, { file: r, message: `is a symbolic link to ${real}, outside the volume directory: not followed` });
        continue;
      }
      const st = statSync(real);
      p = real;
      isDir = st.isDirectory();
      isFile = st.isFile();
    }
    if (isDir) {
      if (namesAnItem(r)) {
        w.problems.set(r, { file: r, message: 'is a directory, expected a file' });
        continue;
      }
      const st = statSync(p);
      const id = `${st.dev}:${st.ino}`;
      if (w.seenDirs.has(id)) {
        w.problems.set(r, { file: r, message: 'links back to a directory already read (a symlink loop): not followed' });
        continue;
      }
      if (depth + 1 >= MAX_DEPTH) {
        w.problems.set(r, { file: r, message: `is nested deeper than ${MAX_DEPTH} levels: not read` });
        continue;
      }
      w.seenDirs.add(id);
      walk(w, p, r, depth + 1);
    } else if (isFile) {
      w.paths.set(r, p);
    } else {
      w.problems.set(r, { file: r, message: 'not a regular file' });
    }
  }
}

/** Where `..data` points, checked: undefined when there is no `..data` (plain layout). */
function resolveData(dir: string): string | undefined {
  let st;
  try {
    st = lstatSync(join(dir, DATA));
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  if (!st.isSymbolicLink()) {
    throw new VolumeReadError('escape', `${DATA} is not a symbolic link (kubelet writes ${DATA} -> ..<timestamp>): not read`);
  }
  const target = readlinkSync(join(dir, DATA));
  if (target.startsWith('/')) {
    throw new VolumeReadError('escape', `${DATA} points to ${target}, an absolute path outside the volume directory (kubelet writes ${DATA} -> ..<timestamp>): not read`);
  }
  if (target.includes('/') || target === '..' || !isInternal(target) || target === DATA) {
    throw new VolumeReadError('escape', `${DATA} points to ${target}, not a generation directory inside the volume (kubelet writes ${DATA} -> ..<timestamp>): not read`);
  }
  return target;
}

function readOnce(dir: string, maxFileBytes: number): Generation {
  const dirSt = statSync(dir);
  if (!dirSt.isDirectory()) throw new VolumeReadError('unreadable', `${dir} is not a directory`, 'ENOTDIR');
  const identity = `${dirSt.dev}:${dirSt.ino}`;
  const generation = resolveData(dir);
  let root = dir;
  if (generation !== undefined) {
    root = join(dir, generation);
    const st = lstatSync(root); // ENOENT: the generation vanished → retry
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new VolumeReadError('escape', `${DATA} points to ${generation}, which is not a directory (kubelet writes a real timestamp directory): not read`);
    }
  }
  const w: Walk = {
    realDir: realpathSync.native(dir),
    kubelet: generation !== undefined,
    paths: new Map(),
    problems: new Map(),
    global: [],
    seenDirs: new Set([identity]),
    full: false,
  };
  walk(w, root, '', 0);
  const files = new Map<string, Uint8Array | Problem>();
  for (const [rel, path] of w.paths) {
    let c: Uint8Array | string;
    try {
      c = readCapped(path, maxFileBytes);
    } catch (err) {
      if (errCode(err) === 'ENOENT' || isBusy(err)) throw err; // generation vanished mid-read: retry; EMFILE: caller
      c = `cannot read: ${(err as Error).message}`;
    }
    files.set(rel, typeof c === 'string' ? { file: rel, message: c } : c);
  }
  for (const [rel, p] of w.problems) files.set(rel, p);
  if (generation !== undefined) {
    let now: string | undefined;
    try {
      now = readlinkSync(join(dir, DATA));
    } catch {
      now = undefined;
    }
    if (now !== generation) throw new Retry('generation changed during read');
  }
  return { generation, identity, files: new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), problems: w.global };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Read one consistent generation: resolve `..data` once, read from that timestamp dir, check it is still
 * current afterwards. A generation that changed or vanished mid-read is retried with a short backoff
 * (0, 1, 2, 4 … 32 ms); only the volume directory itself being gone is `missing`. Each attempt is one
 * synchronous pass (see the top of this file): a caller that loops on it must yield to the event loop.
 * @throws VolumeReadError
 */
export async function readGeneration(dir: string, maxFileBytes: number, attempts = 12): Promise<Generation> {
  for (let i = 0; ; i++) {
    try {
      return readOnce(dir, maxFileBytes);
    } catch (err) {
      if (err instanceof VolumeReadError) throw err;
      if (isBusy(err)) throw busy(err);
      const vanished = err instanceof Retry || errCode(err) === 'ENOENT';
      if (vanished || errCode(err) === 'ENOTDIR') {
        let there = false;
        try {
          there = statSync(dir).isDirectory();
        } catch (e) {
          if (isBusy(e)) throw busy(e);
        }
        if (!there) throw new VolumeReadError('missing', `directory ${dir} does not exist`, 'ENOENT');
      }
      if (!vanished) throw new VolumeReadError('unreadable', `cannot read ${dir}: ${(err as Error).message}`, errCode(err));
      if (i + 1 >= attempts) throw new VolumeReadError('unstable', `generations of ${dir} kept changing during ${attempts} reads`);
      if (i > 0) await sleep(Math.min(1 << (i - 1), 32));
    }
  }
}
