// The built bundle as users run it outside the image: `node dist/main.js` (what `npm start` runs) and the npm
// package's bin, dist/cli.js, executed directly through its `#!/usr/bin/env node` line. dist/ is the one the
// Dockerfile's build stage produces (test/support/image.ts carries that stage out; cached).
// test/bundle.test.ts covers what the built agent loads and serves; this covers the program's edges.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { assembleImage } from './support/image.js';
import { KubeletVolume } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';

const run = promisify(execFile);
let dist: string;
test.before(async () => {
  dist = (await assembleImage()).files.find((f) => f.dest === '/app/dist')!.src;
});
// `node` on PATH is the runtime running this suite (as under npm, where the pinned one comes first)
const PATH = `${dirname(process.execPath)}${delimiter}/usr/bin:/bin`;

test('node dist/main.js: an invalid environment exits 2 naming every bad variable', async () => {
  const r = await run(process.execPath, [join(dist, 'main.js')], { env: { PATH, PODMETA_LISTEN: 'nope', PODMETA_LOG_LEVEL: 'loud' } }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /PODMETA_LISTEN/);
  assert.match(r.stderr, /PODMETA_LOG_LEVEL/);
});

test('dist/cli.js run directly (its shebang): get, check against the built agent; check fails once it stopped', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-dist-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const volume = await KubeletVolume.create(join(root, 'podinfo'), sampleFiles());
  const agent = spawn(process.execPath, [join(dist, 'main.js')], {
    env: { PATH, ...SAMPLE_ENV, PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0', PODMETA_DOWNWARD_DIR: volume.dir, PODMETA_API: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
  });
  let out = '';
  agent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  agent.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  const line = await eventually(() => out.split('\n').find((l) => l.includes('"podmeta listening"')), 20_000, `listening\n${out}`);
  const addr = JSON.parse(line) as { metadata: string; probe: string };
  const env = { PATH, PODMETA_LISTEN: addr.metadata, PODMETA_PROBE_LISTEN: addr.probe };
  const cli = join(dist, 'cli.js');
  assert.equal((await run(cli, ['get', 'pod/name', '--text'], { env })).stdout, 'downward');
  assert.deepEqual(JSON.parse((await run(cli, ['get', 'pod/labels'], { env })).stdout), { foo: 'bar' });
  await eventually(async () => (await run(cli, ['check', '--ready'], { env }).then(() => true, () => false)), 10_000, 'check --ready');
  agent.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  const after = await run(cli, ['check'], { env }).then(() => 0, (e: { code: number }) => e.code);
  assert.notEqual(after, 0, 'check fails when no agent is running');
});
