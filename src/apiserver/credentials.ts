// The service-account directory (a projected volume, swapped kubelet-style through `..data`):
// `token` (rotates: kubelet refreshes it at 80 % of its lifetime), `ca.crt` (changes when the cluster
// rotates its CA), `namespace`. Like client-go the token is re-read every 60 s and after any 401; a failed
// read keeps the last good token. The token is never logged, never put into an error message.
//
// Every read is bounded (readBounded): opened with O_NONBLOCK so a FIFO can never block, fstat'ed after the
// open (regular files only: no FIFO, device, socket or directory), capped in size, given a deadline, and the
// opened file must resolve inside the SA dir (kubelet only ever links `name -> ..data/name` and
// `..data -> ..<timestamp>`; a link leaving the dir is refused).

import { constants, promises as fsp } from 'node:fs';
import { join, sep } from 'node:path';
import type { Logger } from '../log.js';

/** Size caps (bytes): a real token is ~1–2 KB, a CA bundle a few KB, a namespace ≤ 63 characters. */
export const SA_LIMITS = Object.freeze({ token: 64 * 1024, 'ca.crt': 1024 * 1024, namespace: 4 * 1024 });
export type SaFile = keyof typeof SA_LIMITS;
/** a read that takes longer than this is abandoned (a hung network filesystem) */
export const SA_READ_TIMEOUT_MS = 5_000;

export interface ServiceAccountFiles {
  token?: string;
  ca?: Buffer;
  namespace?: string;
  /** what is missing or unreadable, for messages (never contents) */
  problems: string[];
}

/** Why a bounded read failed, as a short phrase for messages ("does not exist", "is a FIFO, not a regular file"). */
export class SaReadError extends Error {
  override readonly name = 'SaReadError';
  constructor(
    readonly path: string,
    readonly problem: string,
    /** errno-like code for logs: ENOENT, EACCES, NOTREGULAR, TOOLARGE, OUTSIDE, TIMEOUT */
    readonly code: string,
  ) {
    super(`${path} ${problem}`);
  }
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Where an open descriptor really points (Linux: /proc/self/fd), else the path resolved now. */
async function resolvedPath(fd: number, path: string): Promise<string> {
  try {
    return await fsp.readlink(`/proc/self/fd/${fd}`);
  } catch {
    return fsp.realpath(path);
  }
}

async function readOpen(path: string, within: string | undefined, limit: number): Promise<Buffer> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SaReadError(path, code === 'ENOENT' ? 'does not exist' : `is not readable (${code})`, code);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SaReadError(path, `is ${kindOf(st)}, not a regular file`, 'NOTREGULAR');
    if (within !== undefined) {
      const real = await resolvedPath(fh.fd, path);
      if (real !== within && !real.startsWith(within + sep)) {
        throw new SaReadError(path, `resolves outside ${within} (to ${real}); only kubelet's ..data links are followed`, 'OUTSIDE');
      }
    }
    if (st.size > limit) throw new SaReadError(path, `is larger than ${limit} bytes (${st.size})`, 'TOOLARGE');
    // the size may change between fstat and read: read until EOF, never more than limit + 1 bytes
    const chunks: Buffer[] = [];
    let got = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(limit + 1 - got, 64 * 1024));
      const { bytesRead } = await fh.read(buf, 0, buf.length, got);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      got += bytesRead;
      if (got > limit) throw new SaReadError(path, `is larger than ${limit} bytes`, 'TOOLARGE');
    }
    return Buffer.concat(chunks, got);
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * Read one file with a size cap, regular files only, a deadline, and (when `within` is given: the SA dir's
 * real path) containment. Rejects with SaReadError; never blocks on a FIFO, never reads /dev/zero unbounded.
 */
export async function readBounded(path: string, { limit, within, timeoutMs = SA_READ_TIMEOUT_MS }: { limit: number; within?: string; timeoutMs?: number }): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SaReadError(path, `could not be read within ${timeoutMs} ms`, 'TIMEOUT')), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([readOpen(path, within, limit), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The SA dir's real path (for containment), or undefined when it cannot be resolved (then reads fail anyway). */
async function realDir(saDir: string): Promise<string | undefined> {
  try {
    return await fsp.realpath(saDir);
  } catch {
    return undefined;
  }
}

/** Read one file of the SA dir, bounded and contained. */
export async function readSaFile(saDir: string, file: SaFile): Promise<Buffer> {
  const within = await realDir(saDir);
  return readBounded(join(saDir, file), { limit: SA_LIMITS[file], ...(within !== undefined ? { within } : {}) });
}

const problemOf = (err: unknown): string => (err instanceof SaReadError ? err.message : `${String((err as Error)?.message ?? err)}`);

/** Whether the bytes hold at least one PEM certificate. */
export const holdsPem = (ca: Buffer): boolean => ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----');

/** Read token, ca.crt and namespace once; a missing/empty/unsafe token or ca.crt is listed in `problems`. */
export async function readServiceAccount(saDir: string): Promise<ServiceAccountFiles> {
  const files: SaFile[] = ['token', 'ca.crt', 'namespace'];
  const [token, ca, ns] = await Promise.all(files.map((f) => readSaFile(saDir, f).catch((err: unknown) => ({ error: problemOf(err) }))));
  const out: ServiceAccountFiles = { problems: [] };
  if (Buffer.isBuffer(token)) {
    const t = token.toString('utf8').trim();
    if (t) out.token = t;
    else out.problems.push(`${join(saDir, 'token')} is empty`);
  } else if (token) out.problems.push(token.error);
  if (Buffer.isBuffer(ca)) {
    if (holdsPem(ca)) out.ca = ca;
    else out.problems.push(`${join(saDir, 'ca.crt')} holds no PEM certificate`);
  } else if (ca) out.problems.push(ca.error);
  if (Buffer.isBuffer(ns)) {
    const n = ns.toString('utf8').trim();
    if (n) out.namespace = n;
  }
  return out;
}

/**
 * One service-account file re-read on demand with its last good value kept: concurrent reloads share one read;
 * a failed or invalid read is logged once ("keeping the last good one"), its recovery once. `use` takes a
 * valid read and says what it changed; a failed read answers `failed`. Never rejects.
 */
class KeptFile<R> {
  private inflight: Promise<R> | undefined;
  private failing = false;
  private readonly path: string;

  constructor(
    private readonly o: {
      saDir: string;
      name: SaFile;
      /** the log lines: a read fails (logged once), a read works again */
      failing: string;
      recovered: string;
      log: Logger | undefined;
      /** why the bytes are not usable, or undefined when they are */
      problem(bytes: Buffer): string | undefined;
      use(bytes: Buffer): R;
      failed: R;
    },
  ) {
    this.path = join(o.saDir, o.name);
  }

  reload(): Promise<R> {
    this.inflight ??= this.read().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async read(): Promise<R> {
    const { o } = this;
    let problem: string | undefined;
    try {
      const bytes = await readSaFile(o.saDir, o.name);
      problem = o.problem(bytes);
      if (problem === undefined) {
        if (this.failing) o.log?.info(o.recovered, { path: this.path });
        this.failing = false;
        return o.use(bytes);
      }
    } catch (err) {
      problem = problemOf(err);
    }
    if (!this.failing) o.log?.warn(o.failing, { path: this.path, problem });
    this.failing = true;
    return o.failed;
  }
}

/** The current bearer token: periodic re-read, forced re-read after a 401, last good token kept. */
export class TokenSource {
  private current: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly file: KeptFile<void>;

  /** `path` is `<saDir>/token` (the directory bounds where its links may lead). */
  constructor(path: string, initial: string | undefined, log: Logger) {
    this.current = initial;
    const text = (b: Buffer): string => b.toString('utf8').trim();
    this.file = new KeptFile({
      saDir: join(path, '..'),
      name: 'token',
      failing: 'cannot re-read the service-account token; keeping the last good one',
      recovered: 'service-account token readable again',
      log,
      problem: (b) => (text(b) ? undefined : 'empty'),
      use: (b) => void (this.current = text(b)),
      failed: undefined,
    });
  }

  /** "Bearer …" or undefined when no token was ever read */
  authorization(): string | undefined {
    return this.current === undefined ? undefined : `Bearer ${this.current}`;
  }

  /** Compare a token-bearing header with the current one (without exposing either). */
  isCurrent(authorization: string | undefined): boolean {
    return authorization === this.authorization();
  }

  /** "ns/name" of the ServiceAccount from the token's `sub` claim (not a secret; used in RBAC hints). */
  serviceAccount(): string | undefined {
    return serviceAccountFromJwt(this.current);
  }

  /** Re-read the file now (concurrent calls share one read). Resolves when done; never rejects. */
  reload(): Promise<void> {
    return this.file.reload();
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.reload(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The trusted CA bundle: re-read on demand (periodically, and after a TLS verification failure); `onChange`
 * gets the new bytes when they differ. A failed or invalid read keeps the last good bundle.
 */
export class CaSource {
  private current: Buffer;
  private readonly file: KeptFile<boolean>;

  constructor(saDir: string, initial: Buffer, log: Logger | undefined, onChange: (ca: Buffer) => void) {
    this.current = initial;
    this.file = new KeptFile({
      saDir,
      name: 'ca.crt',
      failing: 'cannot re-read ca.crt; keeping the last good one',
      recovered: 'ca.crt readable again',
      log,
      problem: (ca) => (holdsPem(ca) ? undefined : 'holds no PEM certificate'),
      use: (ca) => {
        if (ca.equals(this.current)) return false;
        this.current = ca;
        log?.info('ca.crt changed: new connections to the API server use the new trust', { path: join(saDir, 'ca.crt') });
        onChange(ca);
        return true;
      },
      failed: false,
    });
  }

  get pem(): Buffer {
    return this.current;
  }

  /** Re-read ca.crt (concurrent calls share one read); resolves true when the trust changed. Never rejects. */
  reload(): Promise<boolean> {
    return this.file.reload();
  }
}

/** `system:serviceaccount:NS:NAME` in a JWT's payload → "NS/NAME". The signature is not checked (not needed). */
export function serviceAccountFromJwt(token: string | undefined): string | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    const m = typeof claims.sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub) : null;
    return m ? `${m[1]}/${m[2]}` : undefined;
  } catch {
    return undefined;
  }
}
