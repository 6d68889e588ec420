// Fan-out: N concurrent SSE subscribers (raw sockets in separate worker processes), one volume change;
// time from the `..data` rename until every subscriber has the `change` event, and the agent's memory per
// subscriber (RSS after all are connected − RSS before, ÷ N). Also the long-poll release: N long-polls
// waiting with the current ETag, one change, time until all are answered.
//   tsx bench/fanout.ts [N ...]

import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { sampleFiles } from '../test/support/samples.js';
import { cpuSeconds, exitOf, httpGet, track, metricValue, MB, nowMs, ROOT, round, sleep, spawnAgent, stats, type AgentProcess } from './lib.js';

interface Worker {
  proc: ChildProcess;
  next<T>(type: string, timeoutMs?: number): Promise<T>;
}

async function startWorker(): Promise<Worker> {
  const proc = fork(join(ROOT, 'bench', 'clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: ROOT });
  track(proc);
  const queue: { type: string }[] = [];
  let waiter: (() => void) | undefined;
  proc.on('message', (m: { type: string }) => {
    queue.push(m);
    waiter?.();
  });
  const w: Worker = {
    proc,
    next: async <T>(type: string, timeoutMs = 60_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = queue.findIndex((m) => m.type === type);
        if (i >= 0) return queue.splice(i, 1)[0] as T;
        if (Date.now() > deadline) throw new Error(`worker: no "${type}" within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 100);
          waiter = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    },
  };
  await w.next('started', 30_000);
  return w;
}

async function stopWorkers(ws: Worker[]): Promise<void> {
  await Promise.all(
    ws.map(async (w) => {
      if (w.proc.connected) w.proc.send({ cmd: 'close' });
      const t = setTimeout(() => w.proc.kill('SIGKILL'), 5000);
      await exitOf(w.proc);
      clearTimeout(t);
    }),
  );
}

async function gauge(agent: AgentProcess, name: string): Promise<number> {
  const r = await httpGet(`${agent.probe}/metrics`);
  return metricValue(r.body.toString(), name) ?? NaN;
}

/**
 * A preload for the agent process (bench instrumentation, not agent code): timestamps the agent's own
 * `res.write` of each SSE `change` event, and prints the first and last once `BENCH_EXPECT_CHANGES` were
 * written — when the agent has handed the event to every subscriber's socket, independent of how fast the
 * client processes (which share the same 2 cores) read them.
 */
const WRITE_PROBE = `
import http from 'node:http';
const orig = http.ServerResponse.prototype.write;
const expect = Number(process.env.BENCH_EXPECT_CHANGES || 0);
let n = 0, first = 0;
http.ServerResponse.prototype.write = function (chunk, ...rest) {
  if (typeof chunk !== 'string' || !chunk.startsWith('event: change')) return orig.call(this, chunk, ...rest);
  const t = performance.timeOrigin + performance.now();
  if (n === 0) first = t;
  const r = orig.call(this, chunk, ...rest);
  if (++n === expect) process.stderr.write('bench-writes ' + first + ' ' + (performance.timeOrigin + performance.now()) + ' ' + n + '\\n');
  return r;
};
`;
export const WRITE_PROBE_ARG = `--import=data:text/javascript;base64,${Buffer.from(WRITE_PROBE).toString('base64')}`;

function probeTimes(agent: AgentProcess): { first: number; last: number } | undefined {
  for (const line of agent.otherOutput) {
    const m = /^stderr: bench-writes ([\d.]+) ([\d.]+) (\d+)$/.exec(line);
    if (m) return { first: Number(m[1]), last: Number(m[2]) };
  }
  return undefined;
}

export interface FanoutResult {
  subscribers: number;
  connected: number;
  failed: number;
  connectSeconds: number;
  /** ms from the `..data` rename to the first / the last subscriber's change event */
  firstMs: number;
  allMs: number;
  p50Ms: number;
  p99Ms: number;
  missing: number;
  /** ms from the rename until the agent itself wrote the change to the first / the last subscriber socket */
  agentFirstWriteMs: number;
  agentLastWriteMs: number;
  /** CPU seconds the agent used for the whole fan-out (read, diff, serialize, N writes) */
  agentCpuS: number;
  /** CPU seconds the client worker processes used over the same window (they share the machine's cores) */
  clientCpuS: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  /** (RSS with N open streams − RSS before) / N */
  bytesPerSubscriber: number;
}

function workersFor(n: number): number {
  return n <= 1000 ? 1 : Math.min(4, Math.ceil(n / 2500));
}

export async function runFanout({
  subscribers,
  nodeArgs = [],
  main,
  log = (_s: string) => {},
}: {
  subscribers: number;
  /** another build of the agent (comparing a change); default dist/main.js */
  main?: string;
  /** extra node flags for the agent (e.g. ['--max-semi-space-size=1'] to compare) */
  nodeArgs?: string[];
  log?: (s: string) => void;
}): Promise<FanoutResult> {
  const agent = await spawnAgent({
    env: { PODMETA_MAX_STREAMS: String(subscribers + 100), BENCH_EXPECT_CHANGES: String(subscribers) },
    nodeArgs: [...nodeArgs, WRITE_PROBE_ARG],
    ...(main ? { main } : {}),
  });
  const workers: Worker[] = [];
  try {
    await sleep(1000);
    // warm the HTTP path once (first-request compilation is not per-subscriber memory)
    for (let i = 0; i < 20; i++) await httpGet(`${agent.base}/metadata`, { Metadata: 'true' });
    await sleep(500);
    const rssBefore = agent.rss();
    const nw = workersFor(subscribers);
    for (let i = 0; i < nw; i++) workers.push(await startWorker());
    const t0 = Date.now();
    const per = Math.ceil(subscribers / nw);
    workers.forEach((w, i) =>
      w.proc.send({ cmd: 'sse', host: agent.host, port: agent.port, n: Math.min(per, subscribers - i * per), path: '', batch: 250 }),
    );
    const ready = await Promise.all(workers.map((w) => w.next<{ ok: number; failed: number }>('ready', 120_000)));
    const connectSeconds = (Date.now() - t0) / 1000;
    const connected = ready.reduce((a, r) => a + r.ok, 0);
    const failed = ready.reduce((a, r) => a + r.failed, 0);
    const open = await gauge(agent, 'podmeta_sse_subscribers');
    log(`  fanout(${subscribers}): ${connected} connected (${failed} failed) in ${round(connectSeconds, 1)} s; agent reports ${open} open streams`);
    await sleep(1500);
    const rssAfter = agent.rss();
    // one change
    let tRename = 0;
    const cpu0 = cpuSeconds(agent.pid);
    const clientCpu0 = workers.reduce((a, w) => a + cpuSeconds(w.proc.pid!), 0);
    await agent.volume.update(sampleFiles({ foo: 'fanout', n: String(subscribers) }), {
      onStep: (s) => {
        if (s === 'renamed-data') tRename = nowMs();
      },
    });
    const changed = await Promise.all(
      workers.map(async (w) => {
        const timer = setTimeout(() => w.proc.connected && w.proc.send({ cmd: 'report' }), 20_000);
        const r = await w.next<{ times: number[]; missing: number }>('changed', 30_000);
        clearTimeout(timer);
        return r;
      }),
    );
    await sleep(200);
    const agentCpuS = cpuSeconds(agent.pid) - cpu0;
    const clientCpuS = workers.reduce((a, w) => a + cpuSeconds(w.proc.pid!), 0) - clientCpu0;
    const probe = probeTimes(agent);
    const lat = changed.flatMap((c) => c.times.map((t) => t - tRename));
    const st = stats(lat);
    const missing = changed.reduce((a, c) => a + c.missing, 0);
    const res: FanoutResult = {
      subscribers,
      connected,
      failed,
      connectSeconds: round(connectSeconds, 2),
      firstMs: round(st.min, 1),
      allMs: round(st.max, 1),
      p50Ms: round(st.p50, 1),
      p99Ms: round(st.p99, 1),
      missing,
      agentFirstWriteMs: probe ? round(probe.first - tRename, 1) : NaN,
      agentLastWriteMs: probe ? round(probe.last - tRename, 1) : NaN,
      agentCpuS: round(agentCpuS, 2),
      clientCpuS: round(clientCpuS, 2),
      rssBeforeMB: round(rssBefore / MB, 1),
      rssAfterMB: round(rssAfter / MB, 1),
      bytesPerSubscriber: Math.round((rssAfter - rssBefore) / Math.max(1, connected)),
    };
    log(
      `  fanout(${subscribers}): all received in ${res.allMs} ms (first ${res.firstMs}, p50 ${res.p50Ms}); agent wrote all by ${res.agentLastWriteMs} ms ` +
        `(first write ${res.agentFirstWriteMs} ms, ${res.agentCpuS} CPU-s; clients ${res.clientCpuS} CPU-s); ${res.bytesPerSubscriber} B/subscriber`,
    );
    return res;
  } finally {
    await stopWorkers(workers);
    await agent.stop();
  }
}

export interface LongPollResult {
  requests: number;
  waiting: number;
  firstMs: number;
  allMs: number;
  p50Ms: number;
  statuses: Record<string, number>;
  missing: number;
}

export async function runLongPoll({ requests = 1000, log = (_s: string) => {} }: { requests?: number; log?: (s: string) => void } = {}): Promise<LongPollResult> {
  const agent = await spawnAgent({ env: { PODMETA_MAX_STREAMS: String(requests + 100) } });
  const workers: Worker[] = [];
  try {
    const first = await httpGet(`${agent.base}/metadata`, { Metadata: 'true' });
    const etag = String(first.headers.etag);
    workers.push(await startWorker());
    workers[0]!.proc.send({ cmd: 'longpoll', host: agent.host, port: agent.port, n: requests, path: '', etag, batch: 250 });
    await workers[0]!.next('sent', 60_000);
    // wait until the agent has every request parked
    let waiting = 0;
    const deadline = Date.now() + 30_000;
    while ((waiting = await gauge(agent, 'podmeta_longpoll_waiting')) < requests && Date.now() < deadline) await sleep(50);
    log(`  longpoll: ${waiting} waiting`);
    let tRename = 0;
    await agent.volume.update(sampleFiles({ foo: 'longpoll' }), {
      onStep: (s) => {
        if (s === 'renamed-data') tRename = nowMs();
      },
    });
    const timer = setTimeout(() => workers[0]!.proc.connected && workers[0]!.proc.send({ cmd: 'report' }), 20_000);
    const r = await workers[0]!.next<{ times: number[]; statuses: Record<string, number>; missing: number }>('answered', 30_000);
    clearTimeout(timer);
    const st = stats(r.times.map((t) => t - tRename));
    const res: LongPollResult = {
      requests,
      waiting,
      firstMs: round(st.min, 1),
      allMs: round(st.max, 1),
      p50Ms: round(st.p50, 1),
      statuses: r.statuses,
      missing: r.missing,
    };
    log(`  longpoll: all ${requests} answered in ${res.allMs} ms (first ${res.firstMs}); statuses ${JSON.stringify(r.statuses)}`);
    return res;
  } finally {
    await stopWorkers(workers);
    await agent.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // tsx bench/fanout.ts [N ...] [--main=/path/to/other/main.js] [--node-arg=--max-semi-space-size=1] [--no-longpoll]
  const args = process.argv.slice(2);
  const ns = args.map(Number).filter((n) => n > 0);
  const main = args.find((a) => a.startsWith('--main='))?.slice(7);
  const nodeArgs = args.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice(11));
  for (const n of ns.length ? ns : [1000, 10_000]) console.log(JSON.stringify(await runFanout({ subscribers: n, nodeArgs, ...(main ? { main } : {}), log: console.log }), null, 2));
  if (!args.includes('--no-longpoll')) console.log(JSON.stringify(await runLongPoll({ log: console.log }), null, 2));
}
