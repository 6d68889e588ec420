// The serving certificate: read from PEM files and re-read when they change (cert-manager rotates the Secret;
// kubelet swaps the mounted files). A pair that does not load keeps the last good one and is logged once.
import { readFile } from 'node:fs/promises';
import { X509Certificate, createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../log.js';

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
  notAfter: Date;
}

export class TlsFiles {
  current: TlsPair | undefined;
  private lastProblem = '';

  constructor(
    private readonly certPath: string,
    private readonly keyPath: string,
    private readonly log: Logger,
    private readonly onLoad: (pair: TlsPair) => void,
    private readonly onFailure: () => void,
  ) {}

  /** Read both files; load them when they changed and form a valid pair. Never throws. */
  async reload(): Promise<void> {
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(this.certPath), readFile(this.keyPath)]);
    } catch (err) {
      return this.problem(`cannot read the certificate: ${(err as Error).message}`);
    }
    if (this.current && cert.equals(this.current.cert) && key.equals(this.current.key)) return;
    let pair: TlsPair;
    try {
      createSecureContext({ cert, key }); // throws when they do not match or do not parse
      const x509 = new X509Certificate(cert);
      pair = { cert, key, fingerprint: createHash('sha256').update(x509.raw).digest('hex').slice(0, 16), notAfter: new Date(x509.validTo) };
    } catch (err) {
      return this.problem(`the certificate and key do not form a valid pair: ${(err as Error).message}`);
    }
    this.current = pair;
    this.lastProblem = '';
    this.log.info('certificate loaded', { cert: this.certPath, fingerprint: pair.fingerprint, notAfter: pair.notAfter.toISOString() });
    this.onLoad(pair);
  }

  private problem(message: string): void {
    this.onFailure();
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.log[this.current ? 'warn' : 'error'](this.current ? `${message}; keeping the certificate in use` : message, {
      cert: this.certPath,
      key: this.keyPath,
    });
  }
}
