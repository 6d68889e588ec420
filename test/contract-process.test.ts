// Contract promises about the shipped program (`node dist/main.js`, what `npm start` and the image run) that
// had no test failing without them: `npm start` is that command; logs are JSON lines on stdout; the proxy is
// off unless PODMETA_PROXY_LISTEN is set; on SIGTERM /readyz answers 503 while the agent drains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBuilt } from './support/dist.js';
import { KubeletVolume } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';

const ROOT = join(import.meta.dirname, '..');

test('contract "Running it": `npm start` runs `node dist/main.js`; the package\'s bin `podmeta` is dist/cli.js', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node dist/main.js');
  assert.equal(pkg.bin.podmeta, 'dist/cli.js');
});

async function volume(t: test.TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-cproc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles());
  return dir;
}

const baseEnv = (dir: string): Record<string, string> => ({
  ...SAMPLE_ENV,
  PODMETA_LISTEN: '127.0.0.1:0',
  PODMETA_PROBE_LISTEN: '127.0.0.1:0',
  PODMETA_DOWNWARD_DIR: dir,
  PODMETA_API: 'off',
});

test('contract "PODMETA_LOG_LEVEL" / "PODMETA_PROXY_LISTEN": logs are JSON lines on stdout (nothing on stderr); no proxy listener unless set', async (t) => {
  const p = await spawnBuilt(baseEnv(await volume(t)), (kill) => t.after(kill));
  const listening = p.logs().find((l) => l.msg === 'podmeta listening')!;
  assert.ok(listening.metadata && listening.probe);
  assert.equal('proxy' in listening, false, 'the proxy is off by default');
  await (await fetch(`http://${p.addresses.metadata}/metadata/nope`, { headers: { Metadata: 'true' } })).arrayBuffer();
  p.child.kill('SIGTERM');
  assert.equal((await p.exited).code, 0);
  const lines = p.stdout.split('\n').filter((l) => l !== '');
  assert.ok(lines.length >= 3, 'starting, listening, stopping at least');
  for (const line of lines) {
    const l = JSON.parse(line) as Record<string, unknown>;
    assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level as string), line);
    assert.equal(typeof l.msg, 'string', line);
    assert.ok(!Number.isNaN(Date.parse(l.time as string)), line);
  }
  assert.equal(p.stderr, '', 'nothing on stderr in a normal run');

  const withProxy = await spawnBuilt({ ...baseEnv(await volume(t)), PODMETA_PROXY_LISTEN: '127.0.0.1:0' }, (kill) => t.after(kill));
  assert.match(withProxy.addresses.proxy ?? '', /^127\.0\.0\.1:\d+$/, 'set: the proxy listens there');
  withProxy.child.kill('SIGTERM');
  assert.equal((await withProxy.exited).code, 0);
});

test('contract "Shutdown": on SIGTERM /readyz turns 503 (and /livez stays 200) while the agent drains, then it exits 0', async (t) => {
  const p = await spawnBuilt(baseEnv(await volume(t)), (kill) => t.after(kill));
  const probe = `http://${p.addresses.probe}`;
  assert.equal((await fetch(probe + '/readyz')).status, 200);
  // a request that is still arriving keeps the metadata listener draining for its grace period
  const half = connect(Number(p.addresses.metadata.split(':').pop()), '127.0.0.1');
  t.after(() => half.destroy());
  half.on('error', () => {});
  await new Promise((r) => half.once('connect', r));
  half.write('GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n');
  p.child.kill('SIGTERM');
  await eventually(() => p.stdout.includes('"shutting down"'), 10_000, 'the signal handled');
  const unready = await eventually(async () => {
    const r = await fetch(probe + '/readyz?verbose', { headers: { Connection: 'close' } });
    return r.status === 503 ? r.text() : undefined;
  }, 5_000, '/readyz 503 while draining');
  assert.match(unready, /\[-\]shutdown failed/);
  assert.equal((await fetch(probe + '/livez', { headers: { Connection: 'close' } })).status, 200, 'still live while draining');
  assert.equal((await p.exited).code, 0);
});
