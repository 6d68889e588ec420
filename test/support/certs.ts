// Test PKI made with the `openssl` CLI: a CA and a server certificate for 127.0.0.1, ::1 and localhost
// (what a fake API server needs), plus an unrelated CA for "wrong ca.crt" tests. Generated once per test
// process into a temp dir and cached; the dir is removed when the process exits.

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

async function generate(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'podmeta-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await Promise.all([makeCa(dir, 'fake-kube-ca'), makeCa(dir, 'unrelated-ca')]);
  await openssl(dir, [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver',
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
    'x509', '-req', '-in', 'server.csr', '-CA', 'fake-kube-ca.crt', '-CAkey', 'fake-kube-ca.key',
    '-CAcreateserial', '-out', 'server.crt', '-days', '3650', '-extfile', 'server.ext',
  ]);
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return {
    caPem: read('fake-kube-ca.crt'),
    certPem: read('server.crt'),
    keyPem: read('server.key'),
    otherCaPem: read('unrelated-ca.crt'),
  };
}

/** The process-wide test PKI (generated on first use, ~100 ms). */
export function testPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}
