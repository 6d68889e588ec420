// The BUILT agent (test/support/dist.ts: scripts/build.mjs → main.js, as the image runs it) on the Node running this suite: what it
// loads at start-up, and that what it loads lazily still works when used.
// - The footprint regression signal: on Node >= 22 an ESM import of node:http (default or named) builds a
//   facade that reads the module's lazy getters and loads undici, http2, worker_threads and web streams
//   (+12 MB RSS). A started agent must never have `internal/deps/undici/undici` in process.moduleLoadList.
// - node:https / node:tls load only when the API source (or the proxy) is in use — and then work.
// - node:crypto, node:assert, node:v8 and node:fs/promises are not loaded by an idle agent with the API off (ETags
//   are a JS hash; koa's cookies and asserts, chokidar's fs calls go through the build's stand-ins), and what the
//   stand-ins replace still works when used (test/fixtures/bundle-lazy.ts, bundled with the same options).
// - /metrics carries the standard process metrics, rendered at scrape time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeletVolume } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { FakeApiServer, samplePod, sampleNode } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { eventually } from './support/wait.js';
import { builtMain } from './support/dist.js';

const ROOT = join(import.meta.dirname, '..');

let tmp: string;
let main: string;
let preload: string;

/** A preload for the agent process: answers `modules` on stdin with process.moduleLoadList (stdin unref'd). */
const PRELOAD = `
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  if (buf.includes('modules\\n')) {
    buf = '';
    process.stderr.write('modules ' + JSON.stringify(process.moduleLoadList) + '\\n');
  }
});
process.stdin.unref();
`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'podmeta-bundle-'));
  main = await builtMain();
  preload = join(tmp, 'preload.cjs');
  await writeFile(preload, PRELOAD);
});
after(() => rm(tmp, { recursive: true, force: true }));

interface Started {
  proc: ChildProcess;
  volume: KubeletVolume;
  base: string;
  probe: string;
  modules(): Promise<string[]>;
  stop(): Promise<number | null>;
}

async function startBuilt(env: Record<string, string>): Promise<Started> {
  const dir = await mkdtemp(join(tmp, 'run-'));
  const volume = await KubeletVolume.create(join(dir, 'podinfo'), sampleFiles());
  const proc = spawn(process.execPath, ['--require', preload, main], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...SAMPLE_ENV,
      PODMETA_LISTEN: '127.0.0.1:0',
      PODMETA_PROBE_LISTEN: '127.0.0.1:0',
      PODMETA_DOWNWARD_DIR: join(dir, 'podinfo'),
      PODMETA_API: 'off',
      PODMETA_SA_DIR: join(dir, 'no-sa'),
      ...env,
    },
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => {
    stderr.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const listening = await new Promise<{ metadata: string; probe: string }>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      try {
        const j = JSON.parse(l) as { msg?: string; metadata?: string; probe?: string };
        if (j.msg === 'podmeta listening') resolve({ metadata: String(j.metadata), probe: String(j.probe) });
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`the built agent exited (${code}) before listening: ${stderr.join('\n')}`)));
  });
  return {
    proc,
    volume,
    base: `http://${listening.metadata}`,
    probe: `http://${listening.probe}`,
    modules: async () => {
      const seen = stderr.length;
      proc.stdin!.write('modules\n');
      const line = await eventually(() => stderr.slice(seen).find((l) => l.startsWith('modules ')), 5000, 'moduleLoadList from the agent');
      return JSON.parse(line.slice('modules '.length)) as string[];
    },
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

const UNDICI = 'NativeModule internal/deps/undici/undici';

test('a started agent has not loaded undici, https, tls, crypto, assert, v8 or fs/promises (CommonJS bundle, lazy built-ins), and serves', async (t) => {
  const a = await startBuilt({});
  t.after(() => a.stop());
  assert.equal((await fetch(`${a.probe}/readyz`)).status, 200);
  const r = await fetch(`${a.base}/metadata`, { headers: { Metadata: 'true' } });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { pod: { name: string } }).pod.name, 'downward');
  const text = await fetch(`${a.base}/metadata/pod/labels?format=text`, { headers: { Metadata: 'true' } });
  assert.equal(await text.text(), 'foo="bar"');
  const loaded = await a.modules();
  assert.ok(loaded.includes('NativeModule http'), 'sanity: the list is the agent’s');
  assert.ok(!loaded.includes(UNDICI), `undici was loaded (an ESM import of node:http?): ${process.version}`);
  for (const m of ['https', 'http2', 'tls', 'zlib', 'perf_hooks', 'crypto', 'assert', 'v8', 'fs/promises']) assert.ok(!loaded.includes(`NativeModule ${m}`), `${m} loaded at start-up`);
  // chokidar watches through the fs/promises stand-in: a kubelet update is seen
  await a.volume.update({ labels: 'foo="baz"\nnew="1"' });
  await eventually(async () => {
    const r2 = await fetch(`${a.base}/metadata/pod/labels`, { headers: { Metadata: 'true' } });
    const labels = (await r2.json()) as Record<string, string>;
    return labels.foo === 'baz' && labels.new === '1' ? labels : undefined;
  }, 10_000, 'the updated labels');
  const after = await a.modules();
  for (const m of ['crypto', 'fs/promises']) assert.ok(!after.includes(`NativeModule ${m}`), `${m} loaded by serving and a volume change`);
  assert.equal(await a.stop(), 0);
});

test('what the lazy stand-ins replace works when used: signed cookies (crypto), failing asserts, fs/promises', async () => {
  // bundled with the agent's options (a build of its own: the shared one has only the agent's entry points)
  await promisify(execFile)(process.execPath, ['scripts/build.mjs', `--outdir=${join(tmp, 'lazy-dist')}`, '--entry=lazy=test/fixtures/bundle-lazy.ts'], { cwd: ROOT });
  const dir = await mkdtemp(join(tmp, 'fs-'));
  await writeFile(join(dir, 'a.txt'), 'hello');
  await mkdir(join(dir, 'sub'));
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, [join(tmp, 'lazy-dist', 'lazy.js'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.on('data', (c: Buffer) => (s += c.toString()));
    p.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`lazy.js exited ${code}: ${s}`))));
  });
  const r = JSON.parse(out) as Record<string, unknown>;
  assert.equal(r.cryptoAtStart, false, 'koa imported without loading crypto');
  assert.equal(r.assertAtStart, false);
  assert.equal(r.fsPromisesAtStart, false);
  const sig = createHmac('sha1', 'k1').update('who=me').digest('base64url');
  assert.deepEqual(r.setCookies, ['who=me', `who.sig=${sig}`], 'keygrip signed the cookie with HMAC-SHA1 through the lazy crypto');
  assert.equal(r.cookieGet, 'me');
  assert.equal(r.cryptoAfterCookies, true);
  assert.deepEqual(r.badStatus, { name: 'AssertionError', isAssertion: true, message: 'invalid status code: 99999' });
  assert.equal(r.assertOk, 'zero is falsy');
  assert.equal(r.statIsDir, true);
  assert.deepEqual(r.readdirTypes, [['a.txt', true], ['sub', false]]);
  assert.equal(r.realpath, await realpath(dir));
  assert.deepEqual(r.missing, ['ENOENT', 'stat']);
  assert.equal(r.fsPromisesBeforeReadFile, false, 'stat/readdir/realpath did not load fs/promises');
  assert.equal(r.readFile, 'hello');
  assert.equal(r.fsPromisesAfterReadFile, true, 'any other member loads the real module');
});

test('/metrics of the built agent: podmeta_* and the standard process metrics, computed at scrape time', async (t) => {
  const a = await startBuilt({});
  t.after(() => a.stop());
  const first = await (await fetch(`${a.probe}/metrics`)).text();
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'process_open_fds',
    'process_max_fds',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.match(first, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'), name);
    assert.match(first, new RegExp(`^${name} [0-9.e+-]+$`, 'm'), `${name} has a value`);
  }
  assert.match(first, /^nodejs_version_info\{version="v\d+\.\d+\.\d+",major="\d+",minor="\d+",patch="\d+"\} 1$/m);
  assert.match(first, /^podmeta_document_revision 1$/m);
  const rss = (text: string): number => Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
  assert.ok(rss(first) > 10e6 && rss(first) < 1e9, `plausible RSS ${rss(first)}`);
  // the values are read when scraped: CPU time only grows, and the scrape itself made some
  const cpu = (text: string): number => Number(/^process_cpu_seconds_total ([0-9.e+-]+)$/m.exec(text)?.[1]);
  for (let i = 0; i < 20; i++) await (await fetch(`${a.base}/metadata`, { headers: { Metadata: 'true' } })).arrayBuffer();
  const second = await (await fetch(`${a.probe}/metrics`)).text();
  assert.ok(cpu(second) > cpu(first), `CPU seconds ${cpu(first)} → ${cpu(second)}`);
  assert.equal(await a.stop(), 0);
});

test('with the API source on, the lazily loaded https client works (fake API server, verified TLS)', async (t) => {
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod());
  server.putNode(sampleNode());
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: 'default' });
  t.after(() => sa.remove());
  const a = await startBuilt({
    POD_NAME: 'web-5d9c7b8f4-x7k2p',
    PODMETA_API: 'on',
    PODMETA_SA_DIR: sa.dir,
    KUBERNETES_SERVICE_HOST: server.host,
    KUBERNETES_SERVICE_PORT: String(server.port),
  });
  t.after(() => a.stop());
  const doc = await eventually(async () => {
    const d = (await (await fetch(`${a.base}/metadata`, { headers: { Metadata: 'true' } })).json()) as { pod: { phase?: string; owner?: unknown } };
    return d.pod.phase ? d : undefined;
  }, 10_000, 'pod.phase from the API server');
  assert.equal(doc.pod.phase, 'Running');
  assert.deepEqual(doc.pod.owner, { kind: 'ReplicaSet', name: 'web-5d9c7b8f4' });
  const loaded = await a.modules();
  assert.ok(loaded.includes('NativeModule https'), 'https is loaded once used');
  assert.ok(!loaded.includes(UNDICI), 'still no undici');
  assert.equal(await a.stop(), 0);
});
