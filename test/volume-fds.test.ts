// Out of file descriptors (issue 9 item 3): the volume source runs in a child process with a low open-files
// limit (ulimit -n); the child exhausts its descriptors, kubelet updates the volume meanwhile. The read fails
// with EMFILE: reported `degraded` (never `missing`), the last good document stays, and once descriptors are
// free again the update is read by the retry.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { KubeletVolume } from './support/kubelet-volume.js';
import { sampleFiles } from './support/samples.js';
import { tmpDir } from './support/volume-source.js';

const here = (p: string): string => new URL(p, import.meta.url).pathname;

const CHILD = `
import { openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DownwardSource } from ${JSON.stringify(here('../src/sources/downward.ts'))};
import { createLogger } from ${JSON.stringify(here('../src/log.ts'))};
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const s = new DownwardSource({
  dir: process.argv[1],
  log: createLogger({ level: 'error', write: () => {} }),
  onPart: (p) => out({ labels: p?.pod?.labels }),
  onStatus: (st) => out({ status: st }),
  resyncMs: 1e9,
});
const first = await s.start();
if (first !== undefined) out({ labels: first.pod?.labels });
const held = [];
createInterface({ input: process.stdin }).on('line', async (cmd) => {
  if (cmd === 'exhaust') {
    try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (err) { out({ exhausted: held.length, code: err.code }); }
  } else if (cmd === 'release') {
    while (held.length) closeSync(held.pop());
    out({ released: true });
  } else if (cmd === 'stop') {
    await s.stop();
    process.exit(0);
  }
});
out({ started: true });
`;

interface Line {
  started?: boolean;
  labels?: Record<string, string>;
  status?: { state: string; error?: { message: string; reason?: string; hint: string } };
  exhausted?: number;
  code?: string;
  released?: boolean;
}

test('EMFILE during a read is retried with a backoff and reported; never `missing`; the last good document stays', async (t) => {
  const dir = join(await tmpDir(t), 'podinfo');
  const v = await KubeletVolume.create(dir, sampleFiles({ foo: 'before' }));
  const child = spawn('bash', ['-c', 'ulimit -n 200 && exec "$0" --import tsx --input-type=module -e "$1" "$2"', process.execPath, CHILD, dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  const lines: Line[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    const l = JSON.parse(raw) as Line;
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) waiters.splice(waiters.indexOf(w), 1), w.resolve(l);
  });
  const next = (pred: (l: Line) => boolean, what: string): Promise<Line> =>
    new Promise((resolve, reject) => {
      const found = lines.find(pred);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`child: no ${what} in ${JSON.stringify(lines)}`)), 15_000);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });

  await next((l) => l.started === true, 'start');
  assert.equal(lines.find((l) => l.labels)!.labels!.foo, 'before');
  child.stdin!.write('exhaust\n');
  const ex = await next((l) => l.exhausted !== undefined, 'exhaustion');
  assert.equal(ex.code, 'EMFILE');
  await v.update(sampleFiles({ foo: 'after' }));
  const degraded = await next((l) => l.status?.state === 'degraded', 'degraded status');
  assert.equal(degraded.status!.error!.reason, 'EMFILE');
  assert.match(degraded.status!.error!.message, /out of file descriptors \(EMFILE\)/);
  assert.match(degraded.status!.error!.hint, /open-files limit/);
  child.stdin!.write('release\n');
  await next((l) => l.labels?.foo === 'after', 'the update read after the descriptors were released');
  await next((l) => l.status?.state === 'ok' && lines.indexOf(l) > lines.indexOf(degraded), 'recovered status');
  const states = lines.filter((l) => l.status).map((l) => l.status!.state);
  assert.ok(!states.includes('missing') && !states.includes('error'), `states: ${states.join(', ')}`);
  const labels = lines.filter((l) => l.labels).map((l) => l.labels!.foo);
  assert.ok(labels.slice(0, labels.indexOf('after')).every((f) => f === 'before'), `the last good labels stayed until the read: ${labels}`);
  child.stdin!.write('stop\n');
});
