// Issue 10, defect 1, the second half: the volume directory briefly unreadable (chmod 000 for 2 s) while
// kubelet-style updates happen, then readable again. Root ignores `chmod 000`, so the BUILT agent
// (node dist/main.js, what the image runs) runs as uid/gid 65532 (setpriv, as the image smoke test's sandbox
// does); the test (root) keeps writing the volume through the window. Without root the agent runs as the
// test's own uid: chmod 000 still shuts it out, but then the test cannot write inside the window either, so
// the in-window updates are left out (the recovery is checked all the same).
// Two windows: the directory itself (restoring it is an event the watch sees) and its parent (restoring that
// reaches no watch, so only the agent's own retry can find the volume again — mutation M57 of
// docs/contract-tests.md). The periodic re-read is set to an hour: what arrives after the window arrives
// through the watch or the retry, never the resync.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtMain } from './support/dist.js';
import { KubeletVolume } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';

const UID = 65532;
const asRoot = process.getuid?.() === 0;

interface DownwardStatus {
  state: string;
  error?: { reason: string; message: string; hint: string };
}

/** `which` is made unreadable for 2 s: the volume directory itself (its restore is an event the watch sees)
 * or its parent (restoring it reaches no watch: only the agent's own retry finds the directory readable again). */
async function unreadableWindow(t: test.TestContext, which: 'dir' | 'parent'): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-unreadable-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await chmod(root, 0o755); // mkdtemp is 0700: the agent's uid must reach the volume and its own copy of the bundle
  const main = join(root, 'main.js');
  await copyFile(await builtMain(), main);
  await chmod(main, 0o644);
  const dir = join(root, 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ foo: 'before' }));
  const locked = which === 'dir' ? dir : root;

  const env = {
    PATH: process.env.PATH ?? '',
    ...SAMPLE_ENV,
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_RESYNC_SECONDS: '3600',
  };
  const argv = asRoot
    ? ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', process.execPath, main]
    : [process.execPath, main];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(async () => {
    await chmod(locked, 0o755).catch(() => {});
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const line = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`the agent exited ${child.exitCode}: ${out}`);
    return out.split('\n').find((l) => l.includes('"podmeta listening"'));
  }, 20_000, 'the "podmeta listening" line');
  const base = `http://${(JSON.parse(line) as { metadata: string }).metadata}`;
  const get = (path: string) => fetch(base + path, { headers: { Metadata: 'true' } });
  const downward = async () => ((await (await get('/status')).json()) as { sources: { downward: DownwardStatus } }).sources.downward;
  const foo = async () => ((await (await get('/metadata/pod/labels')).json()) as { foo?: string }).foo;

  await eventually(async () => (await downward()).state === 'ok', 10_000, 'downward ok at start');
  assert.equal(await foo(), 'before');

  // the window: unreadable for 2 s, with kubelet-style updates inside it (as root only; see the header)
  await chmod(locked, 0o000);
  const windowStart = Date.now();
  const seen: string[] = [];
  let writes = 0;
  if (asRoot) {
    await v.update(sampleFiles({ foo: 'during-1' }));
    writes++;
  } else {
    await utimes(dir, new Date(), new Date()); // an event on the directory itself (the owner may, even at mode 000)
  }
  const notOk = await eventually(async () => {
    const s = await downward();
    return s.state !== 'ok' ? s : undefined;
  }, 10_000, 'the unreadable directory reported');
  assert.match(notOk.state, /^(error|degraded)$/, `reported as ${notOk.state}`);
  assert.ok(notOk.error && notOk.error.message.length > 0 && notOk.error.hint.length > 0, 'with a message and a hint');
  assert.match(notOk.error!.message, /EACCES|permission/i, `the message says what is wrong: ${notOk.error!.message}`);
  while (Date.now() - windowStart < 2000) {
    seen.push((await downward()).state);
    if (asRoot && writes < 3 && Date.now() - windowStart > 700 * writes) {
      await v.update(sampleFiles({ foo: `during-${++writes}` }));
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  seen.push((await downward()).state);
  assert.deepEqual([...new Set(seen)].filter((s) => s === 'ok'), [], `never ok while unreadable: ${seen.join(',')}`);
  assert.equal(await foo(), 'before', 'the last good labels are served meanwhile');

  await chmod(locked, 0o755);
  if (asRoot) await eventually(async () => (await foo()) === `during-${writes}`, 10_000, 'the last in-window update, once readable');
  await eventually(async () => (await downward()).state === 'ok', 10_000, 'ok again once readable');
  // later updates arrive through a live watch (the re-read runs once an hour)
  for (const value of ['after-1', 'after-2', 'after-3']) {
    await v.update(sampleFiles({ foo: value }));
    await eventually(async () => (await foo()) === value, 5_000, `${value} through the watch`);
  }
  assert.equal((await downward()).state, 'ok');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
}

test('a volume directory unreadable for 2 s: never `ok` while it is, updates after it arrive through the watch (built agent, non-root)', { timeout: 120_000 }, (t) =>
  unreadableWindow(t, 'dir'));

test('its parent unreadable for 2 s (no event when it is restored): the agent finds the volume again by itself, then follows it through the watch', {
  timeout: 120_000,
  // without root the test cannot write the volume while its parent is shut; the directory case above still runs
  skip: asRoot ? false : 'needs root (the test writes the volume while the agent, uid 65532, is shut out)',
}, (t) => unreadableWindow(t, 'parent'));
