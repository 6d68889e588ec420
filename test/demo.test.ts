// `npm run demo`, as a person runs it: it starts, prints its URLs and a curl line that works when pasted into a
// shell, the built-in "kubelet" changes a label that the event stream shows live, and Ctrl-C (SIGINT to the
// terminal's process group) stops it with exit 0 and removes its sample volume.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openSse } from './support/sse.js';
import { eventually } from './support/wait.js';
import { ROOT } from '../scripts/node-bin.mjs';

const run = promisify(execFile);

test('npm run demo: prints URLs and a working curl line, a label changes live, Ctrl-C stops it cleanly', async (t) => {
  const child = spawn('npm', ['run', '--silent', 'demo'], {
    cwd: ROOT,
    detached: true, // its own process group, like a foreground job in a terminal
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0', DEMO_INTERVAL_MS: '300' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });

  const banner = await eventually(() => (/Ctrl-C stops/.test(out) ? out : ''), 60_000, `the demo banner\n${out}`);
  const metadata = /metadata\s+(http:\/\/127\.0\.0\.1:\d+)\/metadata/.exec(banner)?.[1];
  const probe = /probes\s+(http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(banner)?.[1];
  const volume = /a sample downwardAPI volume at (\S+?);/.exec(banner)?.[1];
  assert.ok(metadata && probe && volume, banner);
  assert.ok(existsSync(join(volume, '..data')), 'the sample volume is laid out as kubelet lays it out');

  // every printed curl line works when pasted into a shell (the streaming one is bounded here)
  const curls = banner.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('curl '));
  assert.equal(curls.length, 3, banner);
  const doc = JSON.parse((await run('/bin/sh', ['-c', curls[0]!])).stdout) as { pod: { name: string; labels: Record<string, string> } };
  assert.equal(doc.pod.name, 'web-5d9c7b8f4-x2x7k');
  assert.match((await run('/bin/sh', ['-c', curls[1]!])).stdout, /^app="web"$/m);
  const stream = await run('/bin/sh', ['-c', `${curls[2]!.replace(/^curl /, 'curl -m 1 ')} || true`]);
  assert.match(stream.stdout, /^event: snapshot$/m);
  assert.equal((await fetch(`${probe}/readyz`)).status, 200);

  // the built-in kubelet's change arrives as a patch of /pod/labels/demo~1tick
  const sse = await openSse(`${metadata}/events?path=/pod/labels`);
  t.after(() => sse.close());
  const change = await sse.next((e) => e.event === 'change', 10_000);
  const patch = (JSON.parse(change.data) as { patch: { op: string; path: string; value?: string }[] }).patch;
  assert.ok(patch.some((p) => p.op === 'replace' && p.path === '/demo~1tick' && /^\d+$/.test(p.value ?? '')), change.data);
  sse.close();

  // Ctrl-C
  process.kill(-child.pid!, 'SIGINT');
  const exit = await exited;
  // npm may end by the SIGINT itself (what a terminal shows for Ctrl-C), possibly before the processes of its
  // script have finished: wait until the whole job is gone; the demo's own SIGINT handler removes the volume
  assert.ok(exit.code === 0 || exit.signal === 'SIGINT', `${JSON.stringify(exit)}\n${out}`);
  await eventually(() => {
    try {
      process.kill(-child.pid!, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }, 10_000, 'every process of the demo to exit');
  assert.equal(existsSync(volume), false, 'the sample volume is removed by the demo\'s SIGINT handler');
});
