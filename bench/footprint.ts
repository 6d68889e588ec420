// Footprint of the BUILT agent vs a bare `node:http` server on the same Node binary, in the same run:
//   - spawn → ready (first 200 from /readyz, resp. from the bare server) and idle RSS 3 s after ready,
//     alternating runs so drift of the shared machine hits both (medians, min–max as the spread);
//   - idle CPU: both processes side by side, no traffic, CPU time over 10 s windows (per-thread schedstat,
//     nanoseconds; /proc's 10 ms ticks are too coarse for 0.1 %);
//   - warm RSS: after 2 000 requests (a mix of the read paths), settled 2 s, against the same process's idle.
//   tsx bench/footprint.ts [--node=PATH]

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
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

/** CPU time of every thread of a process, in seconds (nanosecond resolution: /proc/PID/task/TID/schedstat). */
export async function cpuNs(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      total += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

interface Running {
  proc: ChildProcess;
  /** base URL answering the warm-up paths */
  base: string;
  ready: number;
  /** CPU time the process used until ready (every thread), ms: what load on the machine does not stretch */
  readyCpu: number;
  paths: string[];
  headers: Record<string, string>;
  stop(): Promise<void>;
}

async function startAgent(node: string, nodeArgs: string[], main: string): Promise<Running> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-bench-fp-'));
  const dir = join(root, 'podinfo');
  await KubeletVolume.create(dir, sampleFiles());
  const [probePort, port] = [await freePort(), await freePort()];
  const env = {
    ...SAMPLE_ENV,
    PODMETA_LISTEN: `127.0.0.1:${port}`,
    PODMETA_PROBE_LISTEN: `127.0.0.1:${probePort}`,
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_SA_DIR: join(root, 'no-sa'),
  };
  const t0 = nowMs();
  const proc = spawn(node, [...nodeArgs, main], { env, stdio: 'ignore', cwd: root });
  track(proc);
  try {
    const ready = await timeToReady(proc, `http://127.0.0.1:${probePort}/readyz`, t0);
    const readyCpu = (await cpuNs(proc.pid!)) / 1e6;
    return {
      proc,
      ready,
      readyCpu,
      base: `http://127.0.0.1:${port}`,
      headers: { Metadata: 'true' },
      paths: ['/metadata', '/metadata/pod/labels', '/metadata/pod/name?format=text', '/metadata/pod/annotations', '/status', '/metadata/nope'],
      stop: async () => {
        await stop(proc);
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop(proc);
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

async function startBare(node: string): Promise<Running> {
  const port = await freePort();
  const t0 = nowMs();
  const proc = spawn(node, ['-e', BARE, String(port)], { stdio: 'ignore' });
  track(proc);
  try {
    const ready = await timeToReady(proc, `http://127.0.0.1:${port}/`, t0);
    const readyCpu = (await cpuNs(proc.pid!)) / 1e6;
    return { proc, ready, readyCpu, base: `http://127.0.0.1:${port}`, headers: {}, paths: ['/'], stop: () => stop(proc) };
  } catch (err) {
    await stop(proc);
    throw err;
  }
}

/** n requests over 8 keep-alive connections, cycling through the server's read paths. */
async function load(r: Running, n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const path = r.paths[next++ % r.paths.length]!;
      const req = http.get(`${r.base}${path}`, { agent, headers: r.headers }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) await one();
    }),
  );
  agent.destroy();
}

export interface Spread {
  p50: number;
  min: number;
  max: number;
}

export interface FootprintSide {
  readyMs: Spread;
  /** CPU ms used until ready (all threads; includes node's own start) */
  readyCpuMs: Spread;
  idleRssMB: Spread;
  /** % of one core over each 10 s window */
  idleCpuPct: number[];
  warm: { idleRssMB: number; after2000MB: number; after4000MB: number };
}

export interface FootprintResult {
  node: string;
  version: string;
  runs: number;
  idleAfterMs: number;
  agent: FootprintSide;
  bare: FootprintSide;
  /** agent − bare, medians */
  rssOverBareMB: number;
  /** agent ÷ bare, medians */
  readyRatio: number;
  /** agent ÷ bare CPU time until ready, medians (the start-up work, whatever the machine's load) */
  readyCpuRatio: number;
  /** per extra node flag set / other build of the agent, same measurements (idle RSS, ready) */
  variants?: Record<string, { readyMs: number; idleRssMB: number }>;
}

const summary = (xs: number[], digits = 1): Spread => {
  const s = stats(xs);
  return { p50: round(s.p50, digits), min: round(s.min, digits), max: round(s.max, digits) };
};

/** Both processes side by side, no traffic: % of a core over `windows` × 10 s. */
async function idleCpu(a: Running, b: Running, windows: number): Promise<[number[], number[]]> {
  await sleep(3000);
  const out: [number[], number[]] = [[], []];
  for (let w = 0; w < windows; w++) {
    const [a0, b0, t0] = [await cpuNs(a.proc.pid!), await cpuNs(b.proc.pid!), nowMs()];
    await sleep(10_000);
    const [a1, b1, t1] = [await cpuNs(a.proc.pid!), await cpuNs(b.proc.pid!), nowMs()];
    const ms = t1 - t0;
    out[0].push(round(((a1 - a0) / 1e6 / ms) * 100, 3));
    out[1].push(round(((b1 - b0) / 1e6 / ms) * 100, 3));
  }
  return out;
}

async function warm(r: Running, idleAfterMs: number): Promise<FootprintSide['warm']> {
  await sleep(idleAfterMs);
  const idle = rssBytes(r.proc.pid!);
  await load(r, 2000);
  await sleep(2000);
  const after2000 = rssBytes(r.proc.pid!);
  await load(r, 2000);
  await sleep(2000);
  const after4000 = rssBytes(r.proc.pid!);
  return { idleRssMB: round(idle / MB, 1), after2000MB: round(after2000 / MB, 1), after4000MB: round(after4000 / MB, 1) };
}

export async function runFootprint({
  node = process.execPath,
  runs = 5,
  idleAfterMs = 3000,
  cpuWindows = 2,
  variants = [],
  builds = {},
  log = (_s: string) => {},
}: {
  /** the Node binary for the agent and the bare server alike */
  node?: string;
  runs?: number;
  idleAfterMs?: number;
  /** 10 s idle-CPU windows (0: skip idle CPU and warm) */
  cpuWindows?: number;
  /** extra node flag sets to measure the agent with */
  variants?: string[][];
  /** other builds of the agent to measure (name → path of main.js), e.g. bench/levers.ts's */
  builds?: Record<string, string>;
  log?: (s: string) => void;
} = {}): Promise<FootprintResult> {
  requireBuilt();
  const version = await new Promise<string>((resolve) => {
    const p = spawn(node, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', () => resolve(out.trim()));
  });
  type One = { ready: number; readyCpu: number; rss: number };
  const measure = async (start: () => Promise<Running>): Promise<One> => {
    const r = await start();
    try {
      await sleep(idleAfterMs);
      return { ready: r.ready, readyCpu: r.readyCpu, rss: rssBytes(r.proc.pid!) };
    } finally {
      await r.stop();
    }
  };
  const agentRun = (nodeArgs: string[] = [], main = DIST_MAIN): Promise<One> => measure(() => startAgent(node, nodeArgs, main));
  const bareRun = (): Promise<One> => measure(() => startBare(node));
  const agent: One[] = [];
  const bare: One[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      agent.push(await agentRun());
      bare.push(await bareRun());
    } else {
      bare.push(await bareRun());
      agent.push(await agentRun());
    }
    log(`  footprint ${version} run ${i + 1}: agent ready ${round(agent.at(-1)!.ready, 1)} ms (CPU ${round(agent.at(-1)!.readyCpu, 1)} ms), ${round(agent.at(-1)!.rss / MB, 1)} MB; bare ready ${round(bare.at(-1)!.ready, 1)} ms (CPU ${round(bare.at(-1)!.readyCpu, 1)} ms), ${round(bare.at(-1)!.rss / MB, 1)} MB`);
  }
  const side = (xs: One[]): FootprintSide => ({
    readyMs: summary(xs.map((a) => a.ready)),
    readyCpuMs: summary(xs.map((a) => a.readyCpu)),
    idleRssMB: summary(xs.map((a) => a.rss / MB)),
    idleCpuPct: [],
    warm: { idleRssMB: NaN, after2000MB: NaN, after4000MB: NaN },
  });
  const res: FootprintResult = { node, version, runs, idleAfterMs, agent: side(agent), bare: side(bare), rssOverBareMB: 0, readyRatio: 0, readyCpuRatio: 0 };
  res.rssOverBareMB = round(res.agent.idleRssMB.p50 - res.bare.idleRssMB.p50, 1);
  res.readyRatio = round(res.agent.readyMs.p50 / res.bare.readyMs.p50, 2);
  res.readyCpuRatio = round(res.agent.readyCpuMs.p50 / res.bare.readyCpuMs.p50, 2);
  if (cpuWindows > 0) {
    const [a, b] = [await startAgent(node, [], DIST_MAIN), await startBare(node)];
    try {
      [res.agent.idleCpuPct, res.bare.idleCpuPct] = await idleCpu(a, b, cpuWindows);
      log(`  footprint ${version} idle CPU (% of a core per 10 s): agent ${res.agent.idleCpuPct.join(', ')}; bare ${res.bare.idleCpuPct.join(', ')}`);
      res.agent.warm = await warm(a, 0);
      res.bare.warm = await warm(b, 0);
      log(`  footprint ${version} warm RSS (idle → 2000 → 4000 requests): agent ${JSON.stringify(res.agent.warm)}; bare ${JSON.stringify(res.bare.warm)}`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  const variant = async (name: string, nodeArgs: string[], main: string): Promise<void> => {
    const xs: { ready: number; rss: number }[] = [];
    for (let i = 0; i < Math.max(2, Math.ceil(runs / 2)); i++) xs.push(await agentRun(nodeArgs, main));
    res.variants ??= {};
    res.variants[name] = { readyMs: round(stats(xs.map((x) => x.ready)).p50, 1), idleRssMB: round(stats(xs.map((x) => x.rss / MB)).p50, 1) };
    log(`  footprint ${version} ${name}: ${JSON.stringify(res.variants[name])}`);
  };
  for (const v of variants) await variant(v.join(' '), v, DIST_MAIN);
  for (const [name, main] of Object.entries(builds)) await variant(`build ${name}`, [], main);
  return res;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // tsx bench/footprint.ts [--node=PATH] [--build=name=/path/to/main.js ...]
  const args = process.argv.slice(2);
  const builds = Object.fromEntries(args.filter((a) => a.startsWith('--build=')).map((a) => a.slice(8).split('=') as [string, string]));
  const node = args.find((a) => a.startsWith('--node='))?.slice(7);
  console.log(JSON.stringify(await runFootprint({ log: console.log, builds, ...(node ? { node } : {}) }), null, 2));
}
