// The service-account directory (a projected volume, swapped kubelet-style through `..data`):
// `token` (rotates: kubelet refreshes it at 80 % of its lifetime), `ca.crt`, `namespace`.
// Like client-go the token is re-read every 60 s and after any 401; a failed read keeps the last good token.
// The token is never logged, never put into an error message.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

export interface ServiceAccountFiles {
  token?: string;
  ca?: Buffer;
  namespace?: string;
  /** what is missing or unreadable, for messages (never contents) */
  problems: string[];
}

async function readOptional(path: string): Promise<Buffer | { error: string }> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { error: code === 'ENOENT' ? `${path} does not exist` : `${path} is not readable (${code})` };
  }
}

/** Read token, ca.crt and namespace once; a missing/empty token or ca.crt is listed in `problems`. */
export async function readServiceAccount(saDir: string): Promise<ServiceAccountFiles> {
  const [token, ca, ns] = await Promise.all(
    ['token', 'ca.crt', 'namespace'].map((f) => readOptional(join(saDir, f))),
  );
  const out: ServiceAccountFiles = { problems: [] };
  if (Buffer.isBuffer(token)) {
    const t = token.toString('utf8').trim();
    if (t) out.token = t;
    else out.problems.push(`${join(saDir, 'token')} is empty`);
  } else if (token) out.problems.push(token.error);
  if (Buffer.isBuffer(ca)) {
    if (ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) out.ca = ca;
    else out.problems.push(`${join(saDir, 'ca.crt')} holds no PEM certificate`);
  } else if (ca) out.problems.push(ca.error);
  if (Buffer.isBuffer(ns)) {
    const n = ns.toString('utf8').trim();
    if (n) out.namespace = n;
  }
  return out;
}

/** The current bearer token: periodic re-read, forced re-read after a 401, last good token kept. */
export class TokenSource {
  private current: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly path: string,
    initial: string | undefined,
    private readonly log: Logger,
  ) {
    this.current = initial;
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
    this.inflight ??= this.read().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async read(): Promise<void> {
    let problem: string | undefined;
    try {
      const t = (await readFile(this.path, 'utf8')).trim();
      if (t) {
        if (this.failing) this.log.info('service-account token readable again', { path: this.path });
        this.failing = false;
        this.current = t;
        return;
      }
      problem = 'empty';
    } catch (err) {
      problem = (err as NodeJS.ErrnoException).code ?? 'error';
    }
    if (!this.failing) this.log.warn('cannot re-read the service-account token; keeping the last good one', { path: this.path, problem });
    this.failing = true;
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
