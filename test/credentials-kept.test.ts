// The service-account files re-read with the last good value kept (src/apiserver/credentials.ts KeptFile,
// behind TokenSource and CaSource): one read for concurrent reloads, a failure logged once, its recovery once.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaSource, TokenSource } from '../src/apiserver/credentials.js';
import { createLogger } from '../src/log.js';

const PEM = (n: number): string => `-----BEGIN CERTIFICATE-----\nMIIB${n}\n-----END CERTIFICATE-----\n`;

async function saDir(t: test.TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'podmeta-kept-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('CaSource: concurrent reloads share one read (all see the change, onChange once); bad reads keep the bundle, logged once', async (t) => {
  const dir = await saDir(t);
  await writeFile(join(dir, 'ca.crt'), PEM(1));
  const logs: { level: string; msg: string; path?: string; problem?: string }[] = [];
  const changes: string[] = [];
  const ca = new CaSource(dir, Buffer.from(PEM(1)), createLogger({ write: (l) => void logs.push(JSON.parse(l)) }), (pem) => void changes.push(pem.toString()));
  assert.equal(await ca.reload(), false, 'same bytes: no change');
  await writeFile(join(dir, 'ca.crt'), PEM(2));
  assert.deepEqual(await Promise.all([ca.reload(), ca.reload(), ca.reload()]), [true, true, true]);
  assert.deepEqual(changes, [PEM(2)]);
  assert.equal(ca.pem.toString(), PEM(2));
  await writeFile(join(dir, 'ca.crt'), 'garbage');
  assert.equal(await ca.reload(), false);
  await rm(join(dir, 'ca.crt'));
  assert.equal(await ca.reload(), false);
  assert.equal(ca.pem.toString(), PEM(2), 'the last good bundle is kept');
  const warns = logs.filter((l) => l.level === 'warn');
  assert.deepEqual(warns.map((l) => [l.msg, l.path, l.problem]), [['cannot re-read ca.crt; keeping the last good one', join(dir, 'ca.crt'), 'holds no PEM certificate']]);
  await writeFile(join(dir, 'ca.crt'), PEM(3));
  assert.equal(await ca.reload(), true);
  assert.deepEqual(logs.filter((l) => l.level === 'info').map((l) => l.msg), [
    'ca.crt changed: new connections to the API server use the new trust',
    'ca.crt readable again',
    'ca.crt changed: new connections to the API server use the new trust',
  ]);
});

test('TokenSource: an empty token is a failed read (kept, logged once with the path); concurrent reloads read once', async (t) => {
  const dir = await saDir(t);
  const path = join(dir, 'token');
  await writeFile(path, 'tok-1');
  const logs: { level: string; msg: string; path?: string; problem?: string }[] = [];
  const ts = new TokenSource(path, undefined, createLogger({ write: (l) => void logs.push(JSON.parse(l)) }));
  const a = ts.reload();
  assert.equal(ts.reload(), a, 'one read in flight');
  await a;
  assert.equal(ts.authorization(), 'Bearer tok-1');
  await writeFile(path, '  \n');
  await ts.reload();
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-1');
  assert.deepEqual(logs.map((l) => [l.level, l.msg, l.path, l.problem]), [['warn', 'cannot re-read the service-account token; keeping the last good one', path, 'empty']]);
  await writeFile(path, 'tok-2');
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-2');
  assert.equal(logs.at(-1)!.msg, 'service-account token readable again');
});
