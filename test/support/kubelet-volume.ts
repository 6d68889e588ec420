// A downwardAPI / projected volume writer that reproduces kubelet's AtomicWriter
// (pkg/volume/util/atomic_writer.go) step by step :
//   1. read ..data; walk the old timestamp dir; compare bytes; nothing changed -> no write at all
//   2. create a new timestamp dir (0755) and write every file into it (0644)
//   3. symlink ..data_tmp -> new dir name
//   4. rename ..data_tmp over ..data (the one atomic step)
//   5. create missing top-level symlinks (name -> ..data/name), remove top-level links of removed items
//   6. delete the old timestamp dir
// `onStep` is awaited after each step so tests can act between steps (e.g. read mid-update).

import { mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile, lstat, chmod } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { randomInt } from 'node:crypto';
import { compareGoStrings, goQuote } from './goquote-encode.js';

export type Payload = Record<string, string | Uint8Array>;
export type Step = 'compared' | 'wrote-timestamp-dir' | 'linked-data-tmp' | 'renamed-data' | 'linked-top-level' | 'removed-old-dir';

export interface UpdateOptions {
  onStep?: (step: Step, info: { newDir: string; oldDir: string | undefined }) => void | Promise<void>;
}

const DATA = '..data';
const DATA_TMP = '..data_tmp';

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `..2006_01_02_15_04_05.` + random digits, as kubelet's newTimestampDir (os.MkdirTemp pattern). */
export function timestampDirName(now = new Date()): string {
  const t = `${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}`;
  return `..${t}.${randomInt(1_000_000_000, 4_294_967_295)}`;
}

function toBytes(v: string | Uint8Array): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
}

async function walk(root: string, rel = ''): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const entries = await readdir(join(root, rel), { withFileTypes: true });
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await walk(root, r)) out.set(k, v);
    else out.set(r, await readFile(join(root, r)));
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

export class KubeletVolume {
  /** how many real writes (updates that changed something) happened */
  writes = 0;

  private constructor(readonly dir: string) {}

  /** Create the volume directory (if needed) and write the first generation. */
  static async create(dir: string, files: Payload, opts?: UpdateOptions): Promise<KubeletVolume> {
    await mkdir(dir, { recursive: true });
    const v = new KubeletVolume(dir);
    await v.update(files, opts);
    return v;
  }

  /** Attach to an existing kubelet-style directory. */
  static attach(dir: string): KubeletVolume {
    return new KubeletVolume(dir);
  }

  async currentDir(): Promise<string | undefined> {
    try {
      return await readlink(join(this.dir, DATA));
    } catch {
      return undefined;
    }
  }

  /** Write a new generation. Returns false when the payload equals what is on disk (kubelet writes nothing then). */
  async update(files: Payload, { onStep }: UpdateOptions = {}): Promise<boolean> {
    const payload = new Map(Object.entries(files).map(([k, v]) => [k, toBytes(v)] as const));
    for (const k of payload.keys()) {
      if (k.startsWith('..') || k.split('/').some((s) => s === '' || s === '.' || s === '..')) {
        throw new Error(`invalid payload path ${JSON.stringify(k)}`);
      }
    }
    // (1) old generation and comparison
    const oldDir = await this.currentDir();
    let old = new Map<string, Buffer>();
    if (oldDir !== undefined) {
      try {
        old = await walk(join(this.dir, oldDir));
      } catch {
        old = new Map();
      }
    }
    const same = oldDir !== undefined && old.size === payload.size && [...payload].every(([k, v]) => old.get(k)?.equals(v));
    const topOld = new Set([...old.keys()].map((k) => k.split('/')[0]!));
    const topNew = new Set([...payload.keys()].map((k) => k.split('/')[0]!));
    if (same) return false;
    const newDir = timestampDirName();
    const info = { newDir, oldDir };
    await onStep?.('compared', info);
    // (2) new timestamp dir with every file
    await mkdir(join(this.dir, newDir), { mode: 0o755 });
    await chmod(join(this.dir, newDir), 0o755);
    for (const [rel, bytes] of payload) {
      const p = join(this.dir, newDir, rel);
      await mkdir(dirname(p), { recursive: true, mode: 0o755 });
      await writeFile(p, bytes, { mode: 0o644 });
    }
    await onStep?.('wrote-timestamp-dir', info);
    // (3) ..data_tmp -> new dir
    await rm(join(this.dir, DATA_TMP), { force: true });
    await symlink(newDir, join(this.dir, DATA_TMP));
    await onStep?.('linked-data-tmp', info);
    // (4) atomic swap
    await rename(join(this.dir, DATA_TMP), join(this.dir, DATA));
    await onStep?.('renamed-data', info);
    // (5) top-level links: create missing, remove those of removed items
    for (const top of topNew) {
      const link = join(this.dir, top);
      if (!(await exists(link))) await symlink(`${DATA}/${top}`, link);
    }
    for (const top of topOld) {
      if (!topNew.has(top)) await rm(join(this.dir, top), { force: true });
    }
    await onStep?.('linked-top-level', info);
    // (6) old generation removed
    if (oldDir !== undefined) await rm(join(this.dir, oldDir), { recursive: true, force: true });
    await onStep?.('removed-old-dir', info);
    this.writes++;
    return true;
  }
}

/** kubelet's FormatMap: `key="value"` lines (Go %q), keys sorted byte-wise, joined by "\n", no trailing newline.
 * Quoted with the test suite's independent Go `%q` encoder (goquote-encode.ts), never with src/goformat.ts. */
export function formatMap(m: Record<string, string>, quote: (s: string) => string = goQuote): string {
  const keys = Object.keys(m).sort(compareGoStrings);
  return keys.map((k) => `${k}=${quote(m[k]!)}`).join('\n');
}
