// The package as published: build client/dist (the same script `npm run build` runs), `npm pack` it,
// install the tarball into an empty app (offline: it has no dependencies), then plain `node` — no tsx,
// no repo sources — runs an app that uses `@podmeta/client` against a real agent (found through
// PODMETA_URL) and `@podmeta/client/testing`; and tsc type-checks an app against the shipped .d.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startAgent, sampleFiles } from './support/agent.js';
import { jsonLines } from './support/client-lines.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const CLIENT = join(ROOT, 'client');

const APP = `
import { createClient, PodmetaError } from '@podmeta/client';
const pm = createClient();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
out({ url: pm.url, labels: await pm.get('pod/labels'), name: await pm.text('pod/name') });
try { await pm.get('pod/nope'); } catch (e) { out({ error: e instanceof PodmetaError, code: e.code }); }
for await (const { value } of pm.watch('pod/labels')) {
  out({ value });
  if (value.step === '2') break;
}
`;

const KIT = `
import { startPodmeta } from '@podmeta/client/testing';
const pod = await startPodmeta({ labels: { a: '1' } });
await pod.setLabels({ a: '2' });
process.stdout.write(JSON.stringify(await pod.client.get('pod/labels')) + '\\n');
await pod.stop();
`;

const TYPED = `
import { createClient, PodmetaError, type MetadataDocument } from '@podmeta/client';
const pm = createClient({ timeoutMs: 500 });
export async function f(): Promise<string> {
  const labels: Readonly<Record<string, string>> = await pm.get('pod/labels');
  const doc: MetadataDocument = await pm.get();
  const zone: string = await pm.get('node/labels/topology.kubernetes.io/zone');
  const w = pm.watch('pod/labels');
  const cur: Readonly<Record<string, string>> | undefined = w.current;
  const e = new PodmetaError(404, 'NotFound', 'x');
  return [labels.app, doc.pod.name, zone, cur, e.code].join();
}
`;

test('the built package installs from its tarball and works with plain node (main entry and /testing)', { timeout: 180_000 }, async (t) => {
  await run(process.execPath, [join(CLIENT, 'scripts', 'build.mjs')], { cwd: ROOT });
  const tmp = await mkdtemp(join(tmpdir(), 'podmeta-client-dist-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const npmEnv = { ...process.env, npm_config_cache: join(tmp, '.npm-cache'), npm_config_update_notifier: 'false' };
  const { stdout: packed } = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: CLIENT, env: npmEnv });
  const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path).sort();
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('dist/testing.js'), files.join(' '));
  assert.ok(files.includes('README.md'));
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('scripts/')), 'only dist and the README ship');
  const manifest = JSON.parse(await readFile(join(CLIENT, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(manifest.dependencies, undefined, 'zero runtime dependencies');

  const app = join(tmp, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(tmp, info.filename)], { cwd: app, env: npmEnv });
  assert.deepEqual(await readdir(join(app, 'node_modules')).then((d) => d.filter((x) => !x.startsWith('.'))), ['@podmeta'], 'nothing else installed');
  await writeFile(join(app, 'app.mjs'), APP);
  await writeFile(join(app, 'kit.mjs'), KIT);
  await writeFile(join(app, 'typed.ts'), TYPED);

  // the main entry against a real agent, found through PODMETA_URL
  const a = await startAgent(t, { files: sampleFiles({ step: '1' }), agent: { retryMs: 20 } });
  const child = execFile(process.execPath, ['app.mjs'], { cwd: app, env: { PATH: process.env.PATH ?? '', PODMETA_URL: a.base } });
  const lines = jsonLines(child.stdout!);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const until = async (pred: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pred(), `app output so far: ${JSON.stringify(lines)} ${stderr}`);
  };
  await until(() => lines.some((l) => 'value' in l));
  await a.volume!.update(sampleFiles({ step: '2' }));
  assert.equal(await exited, 0, stderr);
  assert.deepEqual(lines, [
    { url: a.base, labels: { step: '1' }, name: 'downward' },
    { error: true, code: 404 },
    { value: { step: '1' } },
    { value: { step: '2' } },
  ]);

  // the test kit, from the package alone (its bundled agent)
  const { stdout: kitOut } = await run(process.execPath, ['kit.mjs'], { cwd: app, env: { PATH: process.env.PATH ?? '' } });
  assert.deepEqual(JSON.parse(kitOut), { a: '2' });

  // the shipped types, as an app's compiler sees them
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] },
      files: ['typed.ts'],
    }),
  );
  await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app });
  await writeFile(join(app, 'typed.ts'), TYPED.replace("const zone: string = await pm.get('node/labels/topology.kubernetes.io/zone');", "const zone: number = await pm.get('node/labels/topology.kubernetes.io/zone');"));
  await assert.rejects(run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app }), (e: { stdout?: string }) => /not assignable to type 'number'/.test(e.stdout ?? ''));
});
