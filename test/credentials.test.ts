// Service-account file hardening (issue 9 item 11): token, ca.crt and namespace are read with a size cap,
// regular files only (a FIFO never blocks, a device is never read), contained in the SA dir (kubelet's
// `..data` links are followed, a link out of the dir is not), and the last good token survives a bad re-read.
// The process tests attack the built agent (dist/main.js): a FIFO token must not hang start-up or SIGTERM,
// a token linked to /dev/zero must not grow memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readBounded, readServiceAccount, SA_LIMITS, SaReadError, TokenSource } from '../src/apiserver/credentials.js';
import { createLogger } from '../src/log.js';
import { testPki } from './support/certs.js';
import { SaDir } from './support/sa-dir.js';
import { builtMain, spawnBuilt } from './support/dist.js';

const run = promisify(execFile);

async function tempDir(t: test.TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'podmeta-cred-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const code = (err: unknown): string => (err instanceof SaReadError ? err.code : `not an SaReadError: ${String(err)}`);

test('readBounded: FIFO, device, directory, oversized and escaping files are refused; kubelet links are followed', async (t) => {
  const dir = await tempDir(t);
  await run('mkfifo', [join(dir, 'fifo')]);
  await symlink('/dev/zero', join(dir, 'zero'));
  await mkdir(join(dir, 'adir'));
  await writeFile(join(dir, 'big'), Buffer.alloc(SA_LIMITS.token + 1, 0x61));
  await writeFile(join(dir, 'exact'), Buffer.alloc(SA_LIMITS.token, 0x61));
  const outside = await tempDir(t);
  await writeFile(join(outside, 'passwd'), 'root:x:0:0');
  await symlink(join(outside, 'passwd'), join(dir, 'escape'));
  const o = { limit: SA_LIMITS.token, within: dir };
  await assert.rejects(readBounded(join(dir, 'fifo'), o), (e) => code(e) === 'NOTREGULAR' && /is a FIFO, not a regular file/.test((e as Error).message));
  await assert.rejects(readBounded(join(dir, 'zero'), o), (e) => code(e) === 'NOTREGULAR' && /character device/.test((e as Error).message));
  await assert.rejects(readBounded(join(dir, 'adir'), o), (e) => code(e) === 'NOTREGULAR' && /directory/.test((e as Error).message));
  await assert.rejects(readBounded(join(dir, 'big'), o), (e) => code(e) === 'TOOLARGE' && /larger than 65536 bytes/.test((e as Error).message));
  await assert.rejects(readBounded(join(dir, 'escape'), o), (e) => code(e) === 'OUTSIDE');
  await assert.rejects(readBounded(join(dir, 'missing'), o), (e) => code(e) === 'ENOENT' && /does not exist/.test((e as Error).message));
  assert.equal((await readBounded(join(dir, 'exact'), o)).length, SA_LIMITS.token, 'exactly the cap is fine');
  // the kubelet layout: token -> ..data/token -> ..<timestamp>/token, all inside the dir
  const sa = await SaDir.create({ token: 'tok-kubelet', caPem: (await testPki()).caPem });
  t.after(() => sa.remove());
  const files = await readServiceAccount(sa.dir);
  assert.deepEqual(files.problems, []);
  assert.equal(files.token, 'tok-kubelet');
  await sa.rotateToken('tok-rotated');
  assert.equal((await readServiceAccount(sa.dir)).token, 'tok-rotated');
});

test('readServiceAccount names the file and why, never its contents', async (t) => {
  const dir = await tempDir(t);
  await run('mkfifo', [join(dir, 'token')]);
  await symlink('/dev/zero', join(dir, 'ca.crt'));
  await writeFile(join(dir, 'namespace'), Buffer.alloc(SA_LIMITS.namespace + 10, 0x6e));
  const started = Date.now();
  const r = await readServiceAccount(dir);
  assert.ok(Date.now() - started < 4000, 'returns without waiting on the FIFO (well before the 5 s read deadline)');
  assert.equal(r.token, undefined);
  assert.equal(r.ca, undefined);
  assert.equal(r.namespace, undefined);
  assert.equal(r.problems.length, 2);
  assert.match(r.problems[0]!, /token is a FIFO, not a regular file/);
  assert.match(r.problems[1]!, /ca\.crt is a character device, not a regular file/);
});

test('TokenSource keeps the last good token when the file turns into a FIFO, /dev/zero or a huge file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'token');
  await writeFile(path, 'tok-good');
  const logs: string[] = [];
  const ts = new TokenSource(path, undefined, createLogger({ write: (l) => void logs.push(l) }));
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-good');
  for (const make of [
    () => run('mkfifo', [path]),
    () => symlink('/dev/zero', path),
    () => writeFile(path, Buffer.alloc(SA_LIMITS.token * 4, 0x7a)),
  ]) {
    await unlink(path);
    await make();
    await ts.reload();
    assert.equal(ts.authorization(), 'Bearer tok-good');
  }
  assert.equal(logs.filter((l) => l.includes('keeping the last good one')).length, 1, 'logged once while failing');
  await unlink(path);
  await writeFile(path, 'tok-next');
  await ts.reload();
  assert.equal(ts.authorization(), 'Bearer tok-next');
  assert.ok(logs.some((l) => l.includes('readable again')));
  assert.ok(!logs.join().includes('tok-good') && !logs.join().includes('tok-next'));
});

async function agentWithToken(t: test.TestContext, makeToken: (path: string) => Promise<unknown>, api: 'auto' | 'on') {
  const dir = await tempDir(t);
  const sa = join(dir, 'sa');
  await mkdir(sa);
  await writeFile(join(sa, 'ca.crt'), (await testPki()).caPem);
  await writeFile(join(sa, 'namespace'), 'default');
  await makeToken(join(sa, 'token'));
  return {
    sa,
    env: {
      PODMETA_LISTEN: '127.0.0.1:0',
      PODMETA_PROBE_LISTEN: '127.0.0.1:0',
      PODMETA_DOWNWARD_DIR: join(dir, 'podinfo'),
      PODMETA_API: api,
      PODMETA_SA_DIR: sa,
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '1',
    },
  };
}

function rssKb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)![1]));
}

for (const [name, make, why] of [
  ['a FIFO token', (p: string) => run('mkfifo', [p]), /token is a FIFO, not a regular file/],
  ['a token linked to /dev/zero', (p: string) => symlink('/dev/zero', p), /token is a character device, not a regular file/],
] as const) {
  test(`dist/main.js with ${name}: starts, reports it in /status, memory stays bounded, SIGTERM exits 0`, { timeout: 60_000 }, async (t) => {
    const { env } = await agentWithToken(t, make, 'auto');
    let kill = (): void => {};
    t.after(() => kill());
    const p = await spawnBuilt(env, (k) => (kill = k));
    const status = (await (await fetch(`http://${p.addresses.metadata}/status`, { headers: { Metadata: 'true' } })).json()) as {
      sources: { api: { state: string; detail?: unknown; error?: { message: string } } };
    };
    assert.equal(status.sources.api.state, 'error', 'PODMETA_API=auto with an unusable token: reported, not silently disabled');
    assert.match(JSON.stringify(status.sources.api), why);
    const rss = await rssKb(p.child.pid!);
    assert.ok(rss < 200 * 1024, `RSS ${rss} kB`);
    p.child.kill('SIGTERM');
    const { code } = await p.exited;
    assert.equal(code, 0, p.stderr);
  });
}

test('dist/main.js, PODMETA_API=on with a FIFO token: exits 2 at once naming the file', { timeout: 60_000 }, async (t) => {
  const { env } = await agentWithToken(t, (p) => run('mkfifo', [p]), 'on');
  const main = await builtMain();
  const started = Date.now();
  const r = await run(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /token is a FIFO, not a regular file/);
  assert.ok(Date.now() - started < 15_000);
});
