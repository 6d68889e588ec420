// Test PKI made with the `openssl` CLI: a CA and a server certificate for 127.0.0.1, ::1 and localhost
// (what a fake API server needs), plus an unrelated CA for "wrong ca.crt" tests, and on demand a second
// CA + server certificate (a rotated cluster CA). Generated once per test process into a temp dir and
// cached; the dir is removed when the process exits.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  /** PEM of the CA that signed `certPem` (what goes into the SA dir's ca.crt) */
  caPem: string;
  /** server certificate (SAN IP:127.0.0.1, IP:::1, DNS:localhost) and its key */
  certPem: string;
  keyPem: string;
  /** PEM of another CA that did not sign the server certificate */
  otherCaPem: string;
}

let cached: Promise<TestPki> | undefined;

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3650', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A CA named `ca` and a server certificate it signed (SAN 127.0.0.1, ::1, localhost), in `dir`. */
async function serverPki(dir: string, ca: string): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  await makeCa(dir, ca);
  await openssl(dir, [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${ca}-server.key`, '-out', `${ca}-server.csr`, '-subj', '/CN=kube-apiserver',
  ]);
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl(dir, [
    'x509', '-req', '-in', `${ca}-server.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-out', `${ca}-server.crt`, '-days', '3650', '-extfile', 'server.ext',
  ]);
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { caPem: read(`${ca}.crt`), certPem: read(`${ca}-server.crt`), keyPem: read(`${ca}-server.key`) };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'podmeta-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function generate(): Promise<TestPki> {
  const dir = tempDir();
  const [main] = await Promise.all([serverPki(dir, 'fake-kube-ca'), makeCa(dir, 'unrelated-ca')]);
  return { ...main, otherCaPem: readFileSync(join(dir, 'unrelated-ca.crt'), 'utf8') };
}

/** The process-wide test PKI (generated on first use, ~100 ms). */
export function testPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}

let rotated: Promise<Omit<TestPki, 'otherCaPem'>> | undefined;

/**
 * A second, independent PKI (its own CA and server certificate), as after a cluster CA rotation: a client
 * trusting only testPki()'s CA does not verify this server certificate, and vice versa.
 */
export function rotatedPki(): Promise<Omit<TestPki, 'otherCaPem'>> {
  rotated ??= serverPki(tempDir(), 'rotated-kube-ca');
  return rotated;
}
