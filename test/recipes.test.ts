// docs/clients.md runs: each `<!-- recipe: NAME -->` block is extracted from the doc as written and run
// against a real agent — the Python recipes with python3 (stdlib only), the shell recipes with bash and
// curl. (The Go recipe is not run: no Go toolchain here; the doc says so.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { startAgent, sampleFiles, eventually, type TestAgent } from './support/agent.js';
import { formatMap } from './support/kubelet-volume.js';
import { FaultProxy, freePort } from './support/client-proxy.js';
import { jsonLines } from './support/client-lines.js';

const run = promisify(execFile);
const DOC = readFileSync(resolve(import.meta.dirname, '..', 'docs', 'clients.md'), 'utf8');

function recipe(name: string): string {
  const m = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  assert.ok(m, `docs/clients.md has the recipe ${name}`);
  return m[1]!;
}

const LABELS = { 'app.kubernetes.io/name': 'web', foo: 'bar' };
const env = (url: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', PODMETA_URL: url });

interface Lines {
  lines: Record<string, any>[];
  child: ChildProcess;
}

function follow(t: test.TestContext, url: string, args: string[]): Lines {
  const child = spawn('python3', ['-c', recipe('python-follow'), ...args], { env: env(url), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  const out: Lines = { lines: jsonLines(child.stdout!), child };
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[python-follow] ${c}`));
  return out;
}

async function metadata(a: TestAgent): Promise<Record<string, any>> {
  return (await (await a.get('/metadata')).json()) as Record<string, any>;
}

test('python-read: one value, a map, the whole document, a 404', { timeout: 60_000 }, async (t) => {
  const a = await startAgent(t, { files: sampleFiles(LABELS) });
  const { stdout } = await run('python3', ['-c', recipe('python-read')], { env: env(a.base) });
  const lines = stdout.trimEnd().split('\n');
  const doc = await metadata(a);
  assert.equal(lines[0], 'downward');
  assert.deepEqual(JSON.parse(lines[1]!), LABELS);
  assert.equal(lines[2], `${doc.revision} default k8s-node1`);
  assert.equal(lines[3], '404 NotFound');
  assert.equal(lines.length, 4);
});

test('python-follow: the labels and the whole document follow volume swaps and an agent restart, equal to GET', { timeout: 90_000 }, async (t) => {
  const port = await freePort();
  const listen = { PODMETA_LISTEN: `127.0.0.1:${port}` };
  let a = await startAgent(t, { config: listen, files: sampleFiles(LABELS), agent: { retryMs: 50 } });
  const labels = follow(t, a.base, ['pod/labels']);
  const whole = follow(t, a.base, []);
  await eventually(() => labels.lines.length > 0 && whole.lines.length > 0, 15_000, 'the first values');
  assert.deepEqual(labels.lines[0]!.value, LABELS);
  assert.deepEqual(whole.lines[0]!.value, await metadata(a));
  const check = async (want: Record<string, string>): Promise<void> => {
    await eventually(() => isDeepStrictEqual(labels.lines.at(-1)?.value, want), 15_000, `labels ${JSON.stringify(want)}`);
    const doc = await metadata(a);
    await eventually(() => whole.lines.at(-1)?.revision === doc.revision, 15_000, `the document at revision ${doc.revision}`);
    assert.deepEqual(whole.lines.at(-1)!.value, doc, 'the patched document equals GET /metadata');
  };
  const steps: Record<string, string>[] = [{ foo: 'one' }, { 'a/b~c': 'slash and tilde', foo: 'two' }, {}];
  for (const next of steps) {
    await a.volume!.update(sampleFiles(next));
    await check(next);
  }
  const before = labels.lines.length;
  assert.deepEqual(
    labels.lines.map((l) => l.value),
    [LABELS, ...steps],
    'one line per change, none lost or repeated',
  );
  // the agent restarts (a new run, new ids): a fresh snapshot, then changes again
  await a.stop();
  a = await startAgent(t, { config: listen, files: sampleFiles({ after: 'restart' }), agent: { retryMs: 50 } });
  await check({ after: 'restart' });
  await a.volume!.update(sampleFiles({ after: 'restart', more: '1' }));
  await check({ after: 'restart', more: '1' });
  assert.equal(labels.lines.length, before + 2);
});

test('shell-read: raw values, a slash key, kubelet-style map lines, the document, a missing path', { timeout: 60_000 }, async (t) => {
  const a = await startAgent(t, { files: sampleFiles(LABELS) });
  const { stdout } = await run('bash', ['-c', recipe('shell-read')], { env: env(a.base) });
  const bytes = (await (await a.get('/metadata')).arrayBuffer()).byteLength;
  assert.equal(stdout, ['name=downward', 'web', formatMap(LABELS), `document: ${bytes} bytes`, 'missing: exit 22', ''].join('\n'));
});

test('shell-wait: the long-poll loop returns when the labels change, with the new labels', { timeout: 60_000 }, async (t) => {
  const a = await startAgent(t, { files: sampleFiles(LABELS) });
  const proxy = await FaultProxy.start(t, a.base);
  const child = spawn('bash', ['-c', recipe('shell-wait')], { env: env(proxy.url), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  // the loop has taken the tag and is waiting
  await eventually(() => proxy.requests.some((r) => r.url.includes('wait=true')), 15_000, 'the long-poll');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(out, '', 'nothing yet: the labels did not change');
  await a.volume!.update(sampleFiles({ foo: 'changed' }));
  assert.equal(await exited, 0);
  assert.equal(out, `labels changed:\n${formatMap({ foo: 'changed' })}\n`);
});
