// The volume source under faults (issue 10 items 1, 2, 4) and its read discipline (issue 16): the watch
// survives the directory being replaced, fast generations are not a missing directory, a directory or a
// symlink loop where a file belongs keeps the last good value, and each kubelet update costs one read.
// The periodic re-read is turned off (resyncMs huge) wherever the test is about the watch.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { KubeletVolume, formatMap } from './support/kubelet-volume.js';
import { sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';
import { startable, tmpDir } from './support/volume-source.js';

const NO_RESYNC = 1_000_000_000;

test('the watch is re-established after the directory is replaced (rm -rf dir && mv new dir)', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles({ foo: 'one' }));
  const x = startable(t, dir, { resyncMs: NO_RESYNC });
  await x.s.start();
  await KubeletVolume.create(join(root, 'new'), sampleFiles({ foo: 'two' }));
  await rm(dir, { recursive: true, force: true });
  await rename(join(root, 'new'), dir);
  await eventually(() => x.last()?.pod?.labels?.foo === 'two', 5000, 'the replacement read');
  // later updates in the new directory are seen through the watch (no resync runs)
  const v = KubeletVolume.attach(dir);
  for (const foo of ['three', 'four']) {
    await v.update(sampleFiles({ foo }));
    await eventually(() => x.last()?.pod?.labels?.foo === foo, 5000, `update ${foo} seen by the new watch`);
  }
  assert.equal(x.status()!.state, 'ok');
});

/** A kubelet-style writer in its own process (truly concurrent with the reader) writing `n` generations back to back. */
function writerProcess(dir: string, n: number): Promise<void> {
  const writer = new URL('./support/kubelet-volume.ts', import.meta.url).pathname;
  const code = `import { KubeletVolume } from ${JSON.stringify(writer)};
const v = KubeletVolume.attach(process.argv[1]);
for (let i = 1; i <= ${n}; i++) await v.update({ labels: 'seq="' + i + '"', annotations: 'a="' + 'x'.repeat(i % 7) + '"', 'pod/name': 'p' + i });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`writer exited ${c}`)))));
}

test('fast successive generations: never `missing` or `error`, the watch is kept, the last write wins', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, { labels: 'seq="0"' });
  const x = startable(t, dir, { resyncMs: NO_RESYNC });
  await x.s.start();
  // readers racing the writer too, as many as the watcher alone would not cause
  let writing = true;
  const racing = (async () => {
    while (writing) {
      await x.s.read();
      await new Promise((r) => setImmediate(r));
    }
  })();
  await writerProcess(dir, 300);
  writing = false;
  await racing;
  await eventually(() => x.last()?.pod?.labels?.seq === '300', 5000, 'the last generation');
  const bad = x.statuses.filter((s) => s.state !== 'ok');
  assert.deepEqual(bad, [], 'no false alarm');
  await v.update({ labels: 'seq="after"' });
  await eventually(() => x.last()?.pod?.labels?.seq === 'after', 5000, 'still watching');
});

test('one read per kubelet update at kubelet pace; the other events of an update cause no read', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ seq: '0' }));
  const x = startable(t, dir, { resyncMs: NO_RESYNC, debounceMs: 5 });
  await x.s.start();
  const before = x.reads();
  const updates = 12;
  for (let i = 1; i <= updates; i++) {
    await v.update(sampleFiles({ seq: String(i) }));
    await eventually(() => x.last()?.pod?.labels?.seq === String(i), 5000, `update ${i}`);
    await new Promise((r) => setTimeout(r, 40)); // the debounced events of this update have run
  }
  assert.equal(x.reads() - before, updates, 'exactly one read per update');
});

test('a `labels` item that is a directory keeps the last good labels, reported', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ foo: 'good' }));
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  const files = sampleFiles({ foo: 'new' });
  delete files.labels;
  delete files.annotations;
  await v.update({ ...files, 'labels/foo': 'bar', 'annotations/x': 'y' });
  await eventually(() => x.status()?.state === 'degraded', 5000, 'degraded');
  assert.deepEqual(x.last()!.pod!.labels, { foo: 'good' }, 'last good labels');
  assert.deepEqual(x.last()!.pod!.annotations, { key1: 'value1', key2: 'multi\nline\nvalue\n' }, 'last good annotations');
  assert.equal(x.last()!.files, undefined, 'no junk files from the directories');
  assert.match(x.status()!.error!.message, /labels: is a directory, expected a file/);
  assert.match(x.status()!.error!.message, /annotations: is a directory, expected a file/);
  await v.update(sampleFiles({ foo: 'fixed' }));
  await eventually(() => x.status()?.state === 'ok' && x.last()?.pod?.labels?.foo === 'fixed', 5000, 'recovered');
});

test('symlink loops and deep trees in a plain directory add no junk files, reported', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(join(dir, 'podName'), 'p');
  await symlink('.', join(dir, 'loop'));
  await mkdir(join(dir, 'a'));
  await writeFile(join(dir, 'a', 'item'), 'x');
  await symlink('..', join(dir, 'a', 'up'));
  await symlink('self', join(dir, 'self'));
  let deep = join(dir, 'deep');
  for (let i = 0; i < 12; i++) deep = join(deep, `d${i}`);
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'bottom'), 'too deep');
  const x = startable(t, dir);
  await x.s.start();
  assert.deepEqual(x.last()!.files, { 'a/item': 'x' });
  const message = x.status()!.error!.message;
  assert.match(message, /loop: links back to a directory already read \(a symlink loop\)/);
  assert.match(message, /a\/up: links back to a directory already read/);
  assert.match(message, /self: is a dangling or looping symbolic link/);
  assert.match(message, /deep(\/d\d+)+: is nested deeper than \d+ levels/);
});

test('a volume with more files than the walk bound: bounded and reported', async (t) => {
  const dir = await tmpDir(t);
  await Promise.all(Array.from({ length: 1100 }, (_, i) => writeFile(join(dir, `f${String(i).padStart(4, '0')}`), 'x')));
  const x = startable(t, dir);
  await x.s.start();
  assert.equal(Object.keys(x.last()!.files!).length, 1000);
  assert.match(x.status()!.error!.message, /more than 1000 files in the volume/);
});

test('a vanished generation while the directory exists is retried, never reported missing', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, { labels: formatMap({ gen: '1' }) });
  const x = startable(t, dir, { resyncMs: NO_RESYNC });
  await x.s.start();
  // kubelet's steps with the old generation removed right after the swap: reads race every step
  for (let i = 2; i <= 40; i++) {
    await v.update({ labels: formatMap({ gen: String(i) }) }, { onStep: () => void x.s.read() });
  }
  await eventually(() => x.last()?.pod?.labels?.gen === '40', 5000);
  assert.deepEqual(x.statuses.filter((s) => s.state !== 'ok'), []);
});
