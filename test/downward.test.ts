// The volume source against a volume written exactly as kubelet writes it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readlink, readdir, lstat, writeFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { startable, tmpDir } from './support/volume-source.js';
import { readGeneration } from '../src/sources/volume-read.js';
import { KubeletVolume, formatMap } from './support/kubelet-volume.js';
import { eventually } from './support/wait.js';
import { sampleFiles } from './support/samples.js';

test('the test writer lays the volume out exactly as kubelet does', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  const steps: string[] = [];
  const v = await KubeletVolume.create(dir, { labels: 'a="1"', 'pod/name': 'p' });
  const gen1 = await readlink(join(dir, '..data'));
  assert.match(gen1, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
  assert.equal(await readlink(join(dir, 'labels')), '..data/labels');
  assert.equal(await readlink(join(dir, 'pod')), '..data/pod', 'one link per top-level name');
  assert.ok((await lstat(join(dir, gen1, 'pod'))).isDirectory(), 'nested items are real folders in the timestamp dir');
  assert.equal(((await lstat(join(dir, gen1, 'labels'))).mode & 0o777).toString(8), '644');
  assert.equal(await v.update({ labels: 'a="1"', 'pod/name': 'p' }), false, 'unchanged payload: no write at all');
  assert.equal(await readlink(join(dir, '..data')), gen1);
  await v.update({ labels: 'a="2"' }, { onStep: (s) => void steps.push(s) });
  assert.deepEqual(steps, ['compared', 'wrote-timestamp-dir', 'linked-data-tmp', 'renamed-data', 'linked-top-level', 'removed-old-dir']);
  const names = (await readdir(dir)).sort();
  assert.equal(names.length, 3, `..data, the new timestamp dir and labels: ${names}`);
  assert.ok(!names.includes('pod'), 'removed item: its top-level link is removed');
  assert.ok(!names.includes(gen1), 'old generation removed');
});

test('reads the kubelet layout; a `..data` swap publishes the change; `..*` names are never exposed', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles());
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  assert.equal(x.status()!.state, 'ok');
  assert.equal(x.last()!.pod!.name, 'downward');
  assert.deepEqual(x.last()!.pod!.labels, { foo: 'bar' });
  assert.ok(!JSON.stringify(x.last()).includes('..'), 'no kubelet-internal names');
  await v.update(sampleFiles({ foo: 'baz' }));
  await eventually(() => x.last()?.pod?.labels?.foo === 'baz', 5000, 'label change seen');
});

test('a read between kubelet steps always sees one whole generation', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, { labels: formatMap({ gen: '1' }), annotations: formatMap({ gen: '1' }) });
  const x = startable(t, dir, { debounceMs: 1_000_000, resyncMs: 1_000_000 }); // no watcher-triggered reads: we read by hand
  await x.s.start();
  const seen: string[] = [];
  await v.update(
    { labels: formatMap({ gen: '2' }), annotations: formatMap({ gen: '2' }) },
    {
      onStep: async () => {
        await x.s.read();
        const p = x.last()!;
        seen.push(`${p.pod!.labels!.gen}/${p.pod!.annotations!.gen}`);
      },
    },
  );
  assert.ok(seen.every((s) => s === '1/1' || s === '2/2'), `mixed generations: ${seen}`);
  assert.equal(seen.at(-1), '2/2');
  assert.equal(seen[0], '1/1');
});

test('malformed labels keep the last good value, are reported, and recover when fixed', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ foo: 'good' }));
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  await v.update({ ...sampleFiles(), labels: 'foo="unterminated\nbar=nope' });
  await eventually(() => x.status()?.state === 'degraded', 5000, 'degraded');
  assert.deepEqual(x.last()!.pod!.labels, { foo: 'good' }, 'last good labels kept');
  assert.match(x.status()!.error!.message, /^labels: /);
  assert.ok(x.status()!.error!.hint);
  assert.equal(x.logs.filter((l) => l.includes('downward source degraded')).length, 1, 'logged once');
  await v.update(sampleFiles({ foo: 'fixed' }));
  await eventually(() => x.status()?.state === 'ok' && x.last()?.pod?.labels?.foo === 'fixed', 5000, 'recovered');
});

test('a huge file is refused without reading it whole; the rest is served', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles());
  const x = startable(t, dir, { debounceMs: 5, maxFileBytes: 4096 });
  await x.s.start();
  await v.update({ ...sampleFiles({ foo: 'new' }), annotations: 'a="' + 'x'.repeat(100_000) + '"' });
  await eventually(() => x.status()?.state === 'degraded', 5000);
  assert.match(x.status()!.error!.message, /annotations: file is \d+ bytes, over the 4096-byte limit/);
  assert.equal(x.last()!.pod!.labels!.foo, 'new');
  assert.deepEqual(x.last()!.pod!.annotations, { key1: 'value1', key2: 'multi\nline\nvalue\n' });
});

test('a directory missing at start is reported `missing` and picked up when it appears', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  assert.equal(x.status()!.state, 'missing');
  assert.match(x.status()!.error!.hint, /PODMETA_DOWNWARD_DIR/);
  await KubeletVolume.create(dir, sampleFiles({ foo: 'late' }));
  await eventually(() => x.status()?.state === 'ok' && x.last()?.pod?.labels?.foo === 'late', 5000, 'late dir read');
});

test('a vanishing directory keeps the last good part and is picked up again', async (t) => {
  const root = await tmpDir(t);
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles({ foo: 'one' }));
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  const n = x.parts.length;
  await rename(dir, join(root, 'gone'));
  await eventually(() => x.status()?.state === 'missing', 5000, 'missing');
  assert.equal(x.parts.length, n, 'nothing published: the last good part stays');
  await KubeletVolume.create(dir, sampleFiles({ foo: 'two' }));
  await eventually(() => x.last()?.pod?.labels?.foo === 'two', 5000, 'back');
});

test('a plain directory (not kubelet-managed) is read too, and edits are seen', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(join(dir, 'podName'), 'plain');
  await mkdir(join(dir, 'pod'));
  await writeFile(join(dir, 'pod', 'namespace'), 'ns1');
  await writeFile(join(dir, '..hidden'), 'never');
  const x = startable(t, dir, { debounceMs: 5 });
  await x.s.start();
  assert.equal(x.last()!.pod!.name, 'plain');
  assert.equal(x.last()!.pod!.namespace, 'ns1');
  await writeFile(join(dir, 'podName'), 'edited');
  await eventually(() => x.last()?.pod?.name === 'edited', 5000);
});

test('the periodic re-read is a backstop when events are lost', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ foo: 'a' }));
  const x = startable(t, dir, { debounceMs: 5, resyncMs: 100 });
  await x.s.start();
  // stop the watcher: only the resync can see the next change
  const internals = x.s as unknown as { unwatch(): Promise<void>; watching(): boolean };
  await internals.unwatch();
  internals.watching = () => true;
  await v.update(sampleFiles({ foo: 'b' }));
  await eventually(() => x.last()?.pod?.labels?.foo === 'b', 5000, 'resync read');
});

test('reads racing a stream of kubelet updates always get one whole generation (retry when it vanishes mid-read)', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const files = (g: number) => ({ labels: `gen="${g}"`, annotations: `gen="${g}"`, 'pod/name': `p${g}` });
  const v = await KubeletVolume.create(dir, files(0));
  let writing = true;
  const writer = (async () => {
    for (let g = 1; g <= 150; g++) await v.update(files(g));
    writing = false;
  })();
  let reads = 0;
  while (writing) {
    const gen = await readGeneration(dir, 1 << 20);
    const text = [...gen.files.entries()].map(([k, b]) => (b instanceof Uint8Array ? Buffer.from(b).toString() : `${k}:error`));
    const g = /gen="(\d+)"/.exec(text[0]!)?.[1];
    assert.deepEqual(text, [`gen="${g}"`, `gen="${g}"`, `p${g}`], 'one generation');
    reads++;
    await new Promise((r) => setImmediate(r)); // a read is synchronous work: let the writer run
  }
  await writer;
  assert.ok(reads > 10, `raced ${reads} reads`);
});
