// Containment (issue 9 items 9, 10): the volume reader never reads outside the volume directory and never
// serves credentials under `files`. Volumes are written with the kubelet-style writer, then tampered with.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, rm, symlink, writeFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeletVolume } from './support/kubelet-volume.js';
import { sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';
import { startable, tmpDir } from './support/volume-source.js';

/** An "outside" directory next to the volume holding a secret file. */
async function outside(root: string): Promise<string> {
  const o = join(root, 'outside');
  await mkdir(o, { recursive: true });
  await writeFile(join(o, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  return o;
}

/** Swap `..data` to `target` as kubelet swaps it (symlink ..data_tmp, rename over ..data). */
async function swapData(dir: string, target: string): Promise<void> {
  await rm(join(dir, '..data_tmp'), { force: true });
  await symlink(target, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

const served = (p: unknown): string => JSON.stringify(p);

test('an item inside the generation linked to a file outside the volume is not served; the rest is', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  const o = await outside(root);
  const v = await KubeletVolume.create(dir, sampleFiles());
  const gen = (await v.currentDir())!;
  await symlink(join(o, 'passwd'), join(dir, gen, 'passwd'));
  await symlink(`..data/passwd`, join(dir, 'passwd'));
  const x = startable(t, dir);
  await x.s.start();
  assert.ok(!served(x.last()).includes('root:x:0:0'), `outside file served: ${served(x.last())}`);
  assert.equal(x.last()!.files?.passwd, undefined);
  assert.equal(x.last()!.pod!.name, 'downward', 'the other items are served');
  assert.equal(x.status()!.state, 'degraded');
  assert.match(x.status()!.error!.message, /passwd: is a symbolic link inside the generation directory/);
  assert.ok(x.status()!.error!.hint);
});

test('a plain directory: a symlink to a file outside the volume is not followed; one inside is', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'plain');
  const o = await outside(root);
  await mkdir(dir);
  await writeFile(join(dir, 'podName'), 'plain');
  await writeFile(join(dir, 'real'), 'inside');
  await symlink(join(o, 'passwd'), join(dir, 'passwd'));
  await symlink(o, join(dir, 'etc'));
  await symlink('real', join(dir, 'alias'));
  const x = startable(t, dir);
  await x.s.start();
  assert.ok(!served(x.last()).includes('root:x:0:0'), served(x.last()));
  assert.deepEqual(x.last()!.files, { alias: 'inside', real: 'inside' });
  assert.equal(x.status()!.state, 'degraded');
  assert.match(x.status()!.error!.message, /passwd: is a symbolic link to .*outside the volume directory/);
  assert.match(x.status()!.error!.message, /etc: is a symbolic link to .*outside the volume directory/);
});

for (const [name, target, message] of [
  ['relative, leaving the directory', '../outside', /\.\.data points to \.\.\/outside, not a generation directory inside the volume/],
  ['absolute', '/etc', /\.\.data points to \/etc, an absolute path outside the volume directory/],
] as const) {
  test(`\`..data\` swapped to a path ${name}: refused as a whole, reported as what it is, last good document kept`, async (t) => {
    const root = await tmpDir(t);
    const dir = join(root, 'podinfo');
    await outside(root);
    await KubeletVolume.create(dir, sampleFiles({ foo: 'good' }));
    const x = startable(t, dir, { debounceMs: 5 });
    await x.s.start();
    const n = x.parts.length;
    await swapData(dir, target);
    await eventually(() => x.status()?.state === 'error', 5000, 'error reported');
    assert.match(x.status()!.error!.message, message);
    assert.doesNotMatch(x.status()!.error!.message, /does not exist/);
    assert.match(x.status()!.error!.hint, /read-only/);
    assert.equal(x.parts.length, n, 'nothing published: the last good document stays');
    assert.equal(x.last()!.pod!.labels!.foo, 'good');
    // kubelet writes the next generation: recovered
    const v = KubeletVolume.attach(dir);
    await v.update(sampleFiles({ foo: 'next' }));
    await eventually(() => x.status()?.state === 'ok' && x.last()?.pod?.labels?.foo === 'next', 5000, 'recovered');
  });
}

test('`..data` pointing at `..` (the parent through one component) is refused too', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles());
  await swapData(dir, '..');
  assert.equal(await readlink(join(dir, '..data')), '..');
  const x = startable(t, dir);
  await x.s.start();
  assert.equal(x.status()!.state, 'error');
  assert.match(x.status()!.error!.message, /\.\.data points to \.\., not a generation directory/);
  assert.equal(x.parts.length, 0, 'nothing served from outside');
});

test('a FIFO in the volume never blocks a read', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const dir = await tmpDir(t);
  await writeFile(join(dir, 'podName'), 'p');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  await symlink('fifo', join(dir, 'link-to-fifo'));
  const x = startable(t, dir);
  await x.s.start();
  assert.equal(x.last()!.pod!.name, 'p');
  assert.match(x.status()!.error!.message, /fifo: not a regular file/);
});

test('service-account credentials in a projected volume are never served under `files`', async (t) => {
  const dir = join(await tmpDir(t), 'projected');
  const jwt = `${Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url')}.${Buffer.from('{"sub":"system:serviceaccount:default:x"}').toString('base64url')}.c2lnbmF0dXJl`;
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  await KubeletVolume.create(dir, {
    ...sampleFiles(),
    token: jwt,
    'ca.crt': pem,
    namespace: 'default',
    'creds/session': `${jwt}\n`,
    'tls/server.key': 'not even PEM',
    'other/key-material': `junk\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
    note: 'plain text stays',
  });
  const x = startable(t, dir);
  await x.s.start();
  const part = x.last()!;
  assert.deepEqual(part.files, { note: 'plain text stays' });
  assert.ok(!served(part).includes(jwt.slice(0, 20)) && !served(part).includes('BEGIN'), served(part));
  assert.equal(part.pod!.namespace, 'default', 'recognised items are served as usual');
  const st = x.status()!;
  assert.equal(st.state, 'ok', 'withholding is the rule, not a fault');
  const withheld = (st.detail!.withheld as { file: string; message: string }[]).map((w) => w.file).sort();
  assert.deepEqual(withheld, ['ca.crt', 'creds/session', 'other/key-material', 'tls/server.key', 'token']);
  assert.ok(!served(x.statuses).includes(jwt.slice(0, 20)), 'the token is not in /status either');
  assert.ok(!x.logs.join('\n').includes(jwt.slice(0, 20)), 'nor in a log line');
});
