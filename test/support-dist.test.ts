// test/support/dist.ts: the one build of dist/ per test process and the one way to spawn the built agent.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { builtDist, builtMain, spawnBuilt } from './support/dist.js';

const ROOT = join(import.meta.dirname, '..');

test('builtDist: one private build per process with every entry point; the repository dist/ is not used', async () => {
  const [a, b] = await Promise.all([builtDist(), builtDist()]);
  assert.equal(a, b, 'built once');
  assert.ok(relative(ROOT, a).startsWith('..'), `${a} is outside the repository`);
  for (const f of ['main.js', 'cli.js', 'injector.js', 'package.json']) assert.ok(existsSync(join(a, f)), f);
  assert.equal(await builtMain(), join(a, 'main.js'));
});

test('spawnBuilt: the env given, an open-files limit, the listening addresses, SIGTERM exits 0', { timeout: 60_000 }, async (t) => {
  let kill = (): void => {};
  t.after(() => kill());
  const p = await spawnBuilt({ PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0', PODMETA_DOWNWARD_DIR: '/nonexistent', PODMETA_API: 'off' }, (k) => (kill = k), { nofile: 777 });
  assert.match(p.addresses.metadata, /^127\.0\.0\.1:\d+$/);
  const limits = await readFile(`/proc/${p.child.pid}/limits`, 'utf8');
  assert.match(limits, /^Max open files\s+777\s+777\s/m);
  const st = (await (await fetch(`http://${p.addresses.metadata}/status`, { headers: { Metadata: 'true' } })).json()) as { sources: { downward: { state: string } } };
  assert.equal(st.sources.downward.state, 'missing');
  p.child.kill('SIGTERM');
  assert.equal((await p.exited).code, 0, p.stderr);
  assert.ok(p.logs().some((l) => l.msg === 'podmeta listening'));
});
