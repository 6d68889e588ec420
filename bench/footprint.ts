// Footprint of the BUILT agent vs a bare `node -e` http server: start-to-ready (spawn → first 200 from
// /readyz, resp. from the bare server) and idle RSS (a few seconds after ready). Runs alternate so drift
// of the shared machine hits both; medians are reported.
//   tsx bench/footprint.ts

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeletVolume } from '../test/support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from '../test/support/samples.js';
import { DIST_MAIN, exitOf, freePort, MB, nowMs, requireBuilt, round, rssBytes, sleep, stats, track } from './lib.js';

const BARE = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')`;

/** 200 from url? (one request, fresh connection; false on refusal or any other status) */
function ok(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

async function timeToReady(proc: ChildProcess, url: string, t0: number, timeoutMs = 10_000): Promise<number> {
  for (;;) {
    if (await ok(url)) return nowMs() - t0;
    if (proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}) before it was ready`);
    if (nowMs() - t0 > timeoutMs) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(2);
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 6000);
  await exitOf(proc);
  clearTimeout(t);
}

export interface FootprintResult {
  runs: number;
  idleAfterMs: number;
  agentReadyMs: { p50: number; min: number; max: number };
  bareReadyMs: { p50: number; min: number; max: number };
  agentIdleRssMB: { p50: number; min: number; max: number };
  bareIdleRssMB: { p50: number; min: number; max: number };
  /** agent − bare, medians */
  rssOverBareMB: number;
  /** per extra node flag set for the agent (e.g. --max-semi-space-size=1), same measurements */
  variants?: Record<string, { readyMs: number; idleRssMB: number }>;
}

async function measureAgent(nodeArgs: string[], idleAfterMs: number, main = DIST_MAIN): Promise<{ ready: number; rss: number }> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-bench-fp-'));
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles());
  const port = await freePort();
  const env = {
    ...SAMPLE_ENV,
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: `127.0.0.1:${port}`,
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_SA_DIR: join(root, 'no-sa'),
  };
  const t0 = nowMs();
  const proc = spawn(process.execPath, [...nodeArgs, main], { env, stdio: 'ignore', cwd: root });
  track(proc);
  try {
    const ready = await timeToReady(proc, `http://127.0.0.1:${port}/readyz`, t0);
    await sleep(idleAfterMs);
    return { ready, rss: rssBytes(proc.pid!) };
  } finally {
    await stop(proc);
    await rm(root, { recursive: true, force: true });
  }
}

async function measureBare(idleAfterMs: number): Promise<{ ready: number; rss: number }> {
  const port = await freePort();
  const t0 = nowMs();
  const proc = spawn(process.execPath, ['-e', BARE, String(port)], { stdio: 'ignore' });
  track(proc);
  try {
    const ready = await timeToReady(proc, `http://127.0.0.1:${port}/`, t0);
    await sleep(idleAfterMs);
    return { ready, rss: rssBytes(proc.pid!) };
  } finally {
    await stop(proc);
  }
}

const summary = (xs: number[], digits = 1): { p50: number; min: number; max: number } => {
  const s = stats(xs);
  return { p50: round(s.p50, digits), min: round(s.min, digits), max: round(s.max, digits) };
};

export async function runFootprint({
  runs = 5,
  idleAfterMs = 3000,
  variants = [],
  builds = {},
  log = (_s: string) => {},
}: {
  runs?: number;
  idleAfterMs?: number;
  /** extra node flag sets to measure the agent with */
  variants?: string[][];
  /** other builds of the agent to measure (name → path of main.js), e.g. a proposed change */
  builds?: Record<string, string>;
  log?: (s: string) => void;
} = {}): Promise<FootprintResult> {
  requireBuilt();
  const agent: { ready: number; rss: number }[] = [];
  const bare: { ready: number; rss: number }[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      agent.push(await measureAgent([], idleAfterMs));
      bare.push(await measureBare(idleAfterMs));
    } else {
      bare.push(await measureBare(idleAfterMs));
      agent.push(await measureAgent([], idleAfterMs));
    }
    log(`  footprint run ${i + 1}: agent ready ${round(agent.at(-1)!.ready, 1)} ms, ${round(agent.at(-1)!.rss / MB, 1)} MB; bare ready ${round(bare.at(-1)!.ready, 1)} ms, ${round(bare.at(-1)!.rss / MB, 1)} MB`);
  }
  const res: FootprintResult = {
    runs,
    idleAfterMs,
    agentReadyMs: summary(agent.map((a) => a.ready)),
    bareReadyMs: summary(bare.map((a) => a.ready)),
    agentIdleRssMB: summary(agent.map((a) => a.rss / MB)),
    bareIdleRssMB: summary(bare.map((a) => a.rss / MB)),
    rssOverBareMB: 0,
  };
  res.rssOverBareMB = round(res.agentIdleRssMB.p50 - res.bareIdleRssMB.p50, 1);
  for (const v of variants) {
    const xs: { ready: number; rss: number }[] = [];
    for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) xs.push(await measureAgent(v, idleAfterMs));
    res.variants ??= {};
    res.variants[v.join(' ')] = { readyMs: round(stats(xs.map((x) => x.ready)).p50, 1), idleRssMB: round(stats(xs.map((x) => x.rss / MB)).p50, 1) };
    log(`  footprint variant ${v.join(' ')}: ${JSON.stringify(res.variants[v.join(' ')])}`);
  }
  for (const [name, main] of Object.entries(builds)) {
    const xs: { ready: number; rss: number }[] = [];
    for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) xs.push(await measureAgent([], idleAfterMs, main));
    res.variants ??= {};
    res.variants[`build ${name}`] = { readyMs: round(stats(xs.map((x) => x.ready)).p50, 1), idleRssMB: round(stats(xs.map((x) => x.rss / MB)).p50, 1) };
    log(`  footprint build ${name}: ${JSON.stringify(res.variants[`build ${name}`])}`);
  }
  return res;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // tsx bench/footprint.ts [--build=name=/path/to/main.js ...]
  const builds = Object.fromEntries(
    process.argv
      .slice(2)
      .filter((a) => a.startsWith('--build='))
      .map((a) => a.slice(8).split('=') as [string, string]),
  );
  console.log(JSON.stringify(await runFootprint({ log: console.log, variants: [['--max-semi-space-size=1']], builds }), null, 2));
}
