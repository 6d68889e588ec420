// The real program (src/main.ts) as a child process: bad config, PODMETA_API=on without credentials,
// SIGTERM with open streams, a second signal; and the `podmeta` CLI against it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { KubeletVolume } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { openSse } from './support/sse.js';
import { eventually } from './support/wait.js';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(env: Record<string, string>, nodeArgs: string[] = []): Proc {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on('data', (d: Buffer) => (p.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (p.stderr += d.toString()));
  return p;
}

async function startAgentProcess(t: test.TestContext, extra: Record<string, string> = {}, nodeArgs: string[] = []) {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-proc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'podinfo');
  const volume = await KubeletVolume.create(dir, sampleFiles());
  const p = start({
    ...SAMPLE_ENV,
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    ...extra,
  }, nodeArgs);
  t.after(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const line = await eventually(() => p.stdout.split('\n').find((l) => l.includes('"podmeta listening"')), 15_000, 'listening log line');
  const addr = JSON.parse(line) as { metadata: string; probe: string };
  return { p, volume, base: `http://${addr.metadata}`, probe: `http://${addr.probe}`, addr };
}

test('an invalid configuration exits 2 naming every bad variable', async () => {
  const p = start({ PODMETA_LISTEN: 'nope', PODMETA_API: 'maybe', PODMETA_LOG_LEVEL: 'loud', PODMETA_REQUIRE_HEADER: 'yes please' });
  const { code } = await p.exited;
  assert.equal(code, 2);
  for (const v of ['PODMETA_LISTEN', 'PODMETA_API', 'PODMETA_LOG_LEVEL', 'PODMETA_REQUIRE_HEADER']) assert.ok(p.stderr.includes(v), `${v} named: ${p.stderr}`);
  assert.match(p.stderr, /4 problems/);
});

test('PODMETA_API=on without in-cluster credentials stops startup with a clear message', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-proc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const p = start({ PODMETA_API: 'on', PODMETA_SA_DIR: join(root, 'nosa'), PODMETA_DOWNWARD_DIR: join(root, 'none'), PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0' });
  const { code } = await p.exited;
  assert.equal(code, 2);
  assert.match(p.stderr, /KUBERNETES_SERVICE_HOST|token|credentials/i);
});

test('SIGTERM: unready, open streams ended cleanly, exit 0', async (t) => {
  const a = await startAgentProcess(t);
  const s1 = await openSse(a.base + '/events');
  const s2 = await openSse(a.base + '/events?path=/pod/labels');
  await s1.next();
  await s2.next();
  const poll = fetch(`${a.base}/metadata?wait=true&timeout=60`, {
    headers: { Metadata: 'true', 'If-None-Match': (await fetch(a.base + '/metadata', { headers: { Metadata: 'true' } })).headers.get('etag')! },
  });
  await eventually(async () => /^podmeta_longpoll_waiting 1$/m.test(await (await fetch(a.probe + '/metrics')).text()), 10_000, 'poll waiting');
  a.p.child.kill('SIGTERM');
  const { code } = await a.p.exited;
  assert.equal(code, 0, a.p.stdout + a.p.stderr);
  assert.equal(await s1.ended, 'end', 'stream ended cleanly, not reset');
  assert.equal(await s2.ended, 'end', 'stream ended cleanly, not reset');
  assert.equal((await poll).status, 304, 'a waiting long-poll is answered, not dropped');
  const logs = a.p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.ok(logs.some((l) => l.msg === 'stopped'));
  assert.deepEqual(
    logs.filter((l) => l.level === 'error'),
    [],
    'no client disconnect is logged as an error',
  );
});

test('a second signal exits at once with code 1', async (t) => {
  const a = await startAgentProcess(t);
  // a request still arriving keeps the drain busy (the server waits for it), so the second signal lands mid-shutdown
  const sock = connect(Number(a.addr.metadata.split(':').pop()), '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  a.p.child.kill('SIGTERM');
  await eventually(() => a.p.stdout.includes('"shutting down"'), 10_000, 'first signal handled');
  a.p.child.kill('SIGTERM');
  const { code } = await a.p.exited;
  assert.equal(code, 1);
  assert.match(a.p.stdout, /second signal/);
});

test('the podmeta CLI: get, get --text, watch, check', async (t) => {
  const a = await startAgentProcess(t);
  const env = { ...process.env, PODMETA_LISTEN: a.addr.metadata, PODMETA_PROBE_LISTEN: a.addr.probe };
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
  const doc = JSON.parse((await cli('get')).stdout);
  assert.equal(doc.pod.name, 'downward');
  assert.equal((await cli('get', 'pod/name', '--text')).stdout, 'downward');
  assert.equal((await cli('get', 'pod/labels', '--text')).stdout, 'foo="bar"');
  assert.deepEqual(JSON.parse((await cli('get', 'pod/labels')).stdout), { foo: 'bar' });
  await assert.rejects(cli('get', 'pod/nope'), (err: { code: number; stderr: string }) => err.code === 1 && /404: no field pod\/nope/.test(err.stderr));
  assert.match((await cli('check')).stdout, /livez: ok/);
  assert.match((await cli('check', '--ready')).stdout, /readyz: ok/);

  const watch = spawn(process.execPath, ['--import', 'tsx', CLI, 'watch', 'pod/labels'], { env });
  t.after(() => watch.kill());
  let out = '';
  watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out.includes('"event":"snapshot"'), 10_000, 'watch snapshot');
  await a.volume.update(sampleFiles({ foo: 'watched' }));
  await eventually(() => out.includes('"watched"'), 10_000, 'watch change');
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { event: 'snapshot', value: { foo: 'bar' } });
  assert.deepEqual(lines[1].patch, [{ op: 'replace', path: '/foo', value: 'watched' }]);

  a.p.child.kill('SIGTERM');
  await a.p.exited;
  await assert.rejects(cli('check'), (err: { code: number }) => err.code === 1, 'check fails when the agent is gone');
});

type LogLine = { level: string; msg: string; signal?: string; variable?: string };
const logLines = (out: string): LogLine[] =>
  out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

test('SIGINT: the same clean shutdown as SIGTERM (exit 0, streams ended cleanly)', async (t) => {
  const a = await startAgentProcess(t);
  const s = await openSse(a.base + '/events');
  await s.next();
  a.p.child.kill('SIGINT');
  const { code } = await a.p.exited;
  assert.equal(code, 0, a.p.stdout + a.p.stderr);
  assert.equal(await s.ended, 'end');
  assert.ok(logLines(a.p.stdout).some((l) => l.msg === 'shutting down' && l.signal === 'SIGINT'));
});

test('SIGTERM exits 0 within the 5 s promise even with a half-sent request and an idle keep-alive socket', async (t) => {
  const a = await startAgentProcess(t);
  const port = Number(a.addr.metadata.split(':').pop());
  const half = connect(port, '127.0.0.1');
  const idle = connect(port, '127.0.0.1');
  t.after(() => {
    half.destroy();
    idle.destroy();
  });
  await Promise.all([new Promise((r) => half.once('connect', r)), new Promise((r) => idle.once('connect', r))]);
  half.on('error', () => {});
  idle.on('error', () => {});
  half.write('GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n'); // never finished
  const started = Date.now();
  a.p.child.kill('SIGTERM');
  const { code } = await a.p.exited;
  const took = Date.now() - started;
  assert.equal(code, 0, a.p.stdout + a.p.stderr);
  assert.ok(took < 5000, `exited after ${took} ms (contract: within 5 s)`);
});

test('SIGHUP and SIGUSR2 are logged and ignored: the agent keeps serving', async (t) => {
  const a = await startAgentProcess(t);
  for (const sig of ['SIGHUP', 'SIGUSR2'] as const) {
    a.p.child.kill(sig);
    await eventually(() => logLines(a.p.stdout).some((l) => l.msg === `${sig} ignored` && l.level === 'warn'), 10_000, `${sig} logged`);
  }
  assert.equal(a.p.child.exitCode, null, 'still running');
  const res = await fetch(a.base + '/metadata/pod/name?format=text', { headers: { Metadata: 'true' } });
  assert.equal(await res.text(), 'downward');
  a.p.child.kill('SIGTERM');
  assert.equal((await a.p.exited).code, 0);
});

test('SIGUSR1 does not open the Node inspector (it would be reachable by every container of the pod)', async (t) => {
  // --inspect-port=0: if the inspector opened, it would print "Debugger listening on ws://…" to stderr
  const a = await startAgentProcess(t, {}, ['--inspect-port=0']);
  a.p.child.kill('SIGUSR1');
  await eventually(() => logLines(a.p.stdout).some((l) => l.msg.startsWith('SIGUSR1 ignored')), 10_000, 'SIGUSR1 logged');
  await new Promise((r) => setTimeout(r, 300));
  assert.doesNotMatch(a.p.stderr, /Debugger listening/);
  assert.equal(a.p.child.exitCode, null);
  // the control: the same runtime and flags without podmeta's handler do open it, so this test can fail
  const control = spawn(process.execPath, ['--inspect-port=0', '-e', 'setTimeout(() => {}, 5000)'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => control.kill('SIGKILL'));
  let stderr = '';
  control.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise((r) => setTimeout(r, 300));
  control.kill('SIGUSR1');
  await eventually(() => /Debugger listening/.test(stderr), 10_000, 'control inspector opened');
});

test('a listen address that cannot be used exits 2 and names the variable', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-proc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const base = { PODMETA_API: 'off', PODMETA_DOWNWARD_DIR: join(root, 'none'), PODMETA_PROBE_LISTEN: '127.0.0.1:0' };
  const bad = start({ ...base, PODMETA_LISTEN: 'no-such-host.invalid:9977' });
  const r1 = await bad.exited;
  assert.equal(r1.code, 2, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /PODMETA_LISTEN="no-such-host\.invalid:9977": cannot listen: the host "no-such-host\.invalid" does not resolve/);
  // a port in use: the probe listener on a port something already holds
  const holder = (await import('node:net')).createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => holder.close());
  const used = (holder.address() as { port: number }).port;
  const busy = start({ ...base, PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: `127.0.0.1:${used}` });
  const r2 = await busy.exited;
  assert.equal(r2.code, 2);
  assert.match(busy.stderr, new RegExp(`PODMETA_PROBE_LISTEN="127\\.0\\.0\\.1:${used}": cannot listen: the address is already in use`));
});

async function freePort(): Promise<number> {
  const srv = (await import('node:net')).createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('PODMETA_LOG_LEVEL=warn drops info lines and keeps warnings; error drops warnings too', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-proc-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const level of ['warn', 'error'] as const) {
    const probe = await freePort();
    const p = start({ PODMETA_API: 'off', PODMETA_DOWNWARD_DIR: join(root, 'none'), PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: `127.0.0.1:${probe}`, PODMETA_LOG_LEVEL: level });
    t.after(() => {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    });
    await eventually(async () => (await fetch(`http://127.0.0.1:${probe}/readyz`)).ok, 15_000, 'ready');
    p.child.kill('SIGHUP'); // logged at warn
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill('SIGTERM');
    assert.equal((await p.exited).code, 0);
    const lines = logLines(p.stdout);
    assert.deepEqual(lines.filter((l) => l.level === 'info' || l.level === 'debug'), [], `${level}: no info lines`);
    if (level === 'warn') {
      assert.ok(lines.some((l) => l.msg === 'SIGHUP ignored'), 'warn lines kept');
      assert.ok(lines.some((l) => l.level === 'warn' && /downward/.test(JSON.stringify(l))), 'the missing volume is a warning');
    } else assert.deepEqual(lines.filter((l) => l.level === 'warn'), [], 'error: no warn lines');
  }
  // and the default (info) does print info lines — so the filter above is what removed them
  const a = await startAgentProcess(t);
  assert.ok(logLines(a.p.stdout).some((l) => l.level === 'info' && l.msg === 'podmeta listening'));
});
