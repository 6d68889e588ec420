// Fan-out: N concurrent SSE subscribers (raw sockets in separate worker processes), one volume change;
// time from the `..data` rename until every subscriber has the `change` event, and the agent's memory per
// subscriber (RSS after all are connected − RSS before, ÷ N; V8 heap likewise). The same run repeats
// against a bare `node:http` SSE server sending the agent's exact bytes (the baseline: what node itself
// costs per connection). Also the long-poll release: N long-polls waiting with the current ETag, one
// change, time until all are answered.
//   tsx bench/fanout.ts [N ...] [--no-bare]

import { fork, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { sampleFiles } from '../test/support/samples.js';
import { cpuSeconds, exitOf, httpGet, track, metricValue, MB, nowMs, openSseClient, ROOT, round, rssBytes, sleep, spawnAgent, stats, type AgentProcess } from './lib.js';

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
 * A preload for the agent and the bare baseline alike (bench instrumentation): on a `bench-mem raw` line on
 * stdin it prints `bench-mem <process.memoryUsage() JSON>` to stderr; on `bench-mem gc` it first runs a full
 * GC (the process is started with --expose-gc), so heapUsed is the live heap. stdin is unref'd: it never
 * keeps the process alive.
 */
/** Source of a child-process snippet that calls `body` (code using `line`) for each line on stdin; stdin is
 * unref'd, so it never keeps the process alive. */
const stdinLines = (body: string): string => `
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
${body}
  }
});
process.stdin.unref?.();
`;

const MEM_PROBE = stdinLines(`
    if (!line.startsWith('bench-mem ')) continue;
    if (line === 'bench-mem gc' && typeof globalThis.gc === 'function') globalThis.gc();
    process.stderr.write('bench-mem ' + JSON.stringify(process.memoryUsage()) + '\\n');`);
const MEM_PROBE_ARGS = ['--expose-gc', `--import=data:text/javascript;base64,${Buffer.from(MEM_PROBE).toString('base64')}`];

/**
 * The baseline: a bare `node:http` SSE server (same server limits and socket options as the agent's
 * src/http/server.ts and events.ts). Every GET gets the agent's captured response headers and its
 * retry+snapshot bytes, and stays open in a Set; `change` on stdin writes the agent's captured change event
 * to every open response (timestamps like the agent's write probe); `count` prints the open responses.
 */
const BARE_SSE = `
// require(), not an ESM import: on Node >= 22 that loads undici (+12 MB), which the agent does not
import { createRequire } from 'node:module';
const http = createRequire(import.meta.url)('node:http');
const cfg = JSON.parse(Buffer.from(process.env.BENCH_BARE, 'base64').toString());
const open = new Set();
const now = () => performance.timeOrigin + performance.now();
const server = http.createServer(
  { headersTimeout: 10000, requestTimeout: 30000, keepAliveTimeout: 5000, maxHeaderSize: 16384, connectionsCheckingInterval: 1000 },
  (req, res) => {
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    res.on('close', () => open.delete(res));
    res.on('error', () => {});
    res.writeHead(200, cfg.headers);
    res.write(cfg.body);
    open.add(res);
  },
);
server.listen(0, '127.0.0.1', () => process.stdout.write('ready ' + JSON.stringify({ port: server.address().port }) + '\\n'));
${stdinLines(`
    if (line === 'change') {
      let n = 0, first = 0;
      for (const res of open) {
        if (res.writableEnded || res.destroyed) continue;
        if (n++ === 0) first = now();
        res.write(cfg.change);
      }
      process.stderr.write('bench-writes ' + first + ' ' + now() + ' ' + n + '\\n');
    } else if (line === 'count') {
      process.stderr.write('bench-count ' + open.size + '\\n');
    }`)}
process.on('SIGTERM', () => server.close(() => process.exit(0)) && server.closeAllConnections());
`;

/** What the agent sends a new subscriber, captured once: response headers (raw, minus those node adds) and the first bytes. */
interface SseCapture {
  /** flat [name, value, …] as for res.writeHead */
  headers: string[];
  /** the `retry:` + `snapshot` text */
  body: string;
}

/** Open one SSE stream, read until the snapshot event is complete, close it. Also warms the SSE path. */
function captureSse(host: string, port: number): Promise<SseCapture> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/events', headers: { Metadata: 'true', Accept: 'text/event-stream' }, agent: false }, (res) => {
      const raw = res.rawHeaders;
      const headers: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (!/^(date|transfer-encoding|keep-alive)$/i.test(raw[i]!)) headers.push(raw[i]!, raw[i + 1]!);
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        const s = body.indexOf('event: snapshot');
        if (s >= 0 && body.indexOf('\n\n', s) === body.length - 2) {
          req.destroy();
          resolve({ headers, body });
        }
      });
      res.on('error', () => {});
    });
    req.setTimeout(10_000, () => req.destroy(new Error('SSE capture timed out')));
    req.on('error', (err) => {
      if (!req.destroyed || err.message.includes('timed out')) reject(err);
    });
  });
}

/** The SSE server under test (the agent or the bare baseline), seen the same way by runFanoutOn. */
interface SseServer {
  kind: 'agent' | 'bare';
  pid: number;
  host: string;
  port: number;
  stdin: Writable;
  /** its stderr lines so far */
  stderr(): string[];
  rss(): number;
  /** make one change; resolves with the trigger time t0 (agent: the `..data` rename; bare: the command sent) */
  change(): Promise<number>;
  /** when the server handed the last change to its first and last subscriber (absolute ms) */
  writes(): Promise<{ first: number; last: number } | undefined>;
  openStreams(): Promise<number>;
  stop(): Promise<unknown>;
}

async function waitStderr(s: SseServer, prefix: string, before: number, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hits = s.stderr().filter((l) => l.startsWith(prefix));
    if (hits.length > before) return hits[before]!.slice(prefix.length);
    if (Date.now() > deadline) throw new Error(`${s.kind}: no "${prefix}" on stderr within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export interface MemSample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

async function memoryUsage(s: SseServer, gc: boolean): Promise<MemSample> {
  const before = s.stderr().filter((l) => l.startsWith('bench-mem ')).length;
  s.stdin.write(gc ? 'bench-mem gc\n' : 'bench-mem raw\n');
  return JSON.parse(await waitStderr(s, 'bench-mem ', before)) as MemSample;
}

/** The bare baseline's own timestamps of its write loop (its stderr). */
function bareWriteTimes(s: SseServer): { first: number; last: number } | undefined {
  for (const line of s.stderr()) {
    const m = /^bench-writes ([\d.]+) ([\d.]+) (\d+)$/.exec(line);
    if (m) return { first: Number(m[1]), last: Number(m[2]) };
  }
  return undefined;
}

/** The agent's fan-out, from its own /metrics (what production can watch too): the change's timestamp
 * (taken as the store notifies its subscribers, before the first write) and podmeta_sse_fanout_seconds of
 * that one change (the synchronous hand-off to every subscriber). `since` is the histogram before the change. */
async function agentWriteTimes(agent: AgentProcess, since: { sum: number; count: number }): Promise<{ first: number; last: number } | undefined> {
  const text = (await httpGet(`${agent.probe}/metrics`)).body.toString();
  const at = metricValue(text, 'podmeta_document_last_change_timestamp_seconds');
  const sum = metricValue(text, 'podmeta_sse_fanout_seconds_sum');
  const count = metricValue(text, 'podmeta_sse_fanout_seconds_count');
  if (at === undefined || sum === undefined || count !== since.count + 1) return undefined;
  return { first: at * 1000, last: at * 1000 + (sum - since.sum) * 1000 };
}

async function fanoutHistogram(agent: AgentProcess): Promise<{ sum: number; count: number }> {
  const text = (await httpGet(`${agent.probe}/metrics`)).body.toString();
  return { sum: metricValue(text, 'podmeta_sse_fanout_seconds_sum') ?? 0, count: metricValue(text, 'podmeta_sse_fanout_seconds_count') ?? 0 };
}

function agentServer(agent: AgentProcess): SseServer {
  let before = { sum: 0, count: 0 };
  const stderr = (): string[] => agent.otherOutput.filter((l) => l.startsWith('stderr: ')).map((l) => l.slice(8));
  return {
    kind: 'agent',
    pid: agent.pid,
    host: agent.host,
    port: agent.port,
    stdin: agent.proc.stdin!,
    stderr,
    rss: () => agent.rss(),
    change: async () => {
      let tRename = 0;
      before = await fanoutHistogram(agent);
      await agent.volume.update(sampleFiles({ foo: 'fanout', n: String(agent.pid) }), {
        onStep: (s) => {
          if (s === 'renamed-data') tRename = nowMs();
        },
      });
      return tRename;
    },
    writes: () => agentWriteTimes(agent, before),
    openStreams: () => gauge(agent, 'podmeta_sse_subscribers'),
    stop: () => agent.stop(),
  };
}

async function spawnBare(capture: SseCapture, change: string, nodeArgs: string[]): Promise<SseServer> {
  const cfg = Buffer.from(JSON.stringify({ headers: capture.headers, body: capture.body, change })).toString('base64');
  const proc = spawn(process.execPath, [...nodeArgs, ...MEM_PROBE_ARGS, '--input-type=module', '-e', BARE_SSE], {
    cwd: ROOT,
    env: { BENCH_BARE: cfg },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  track(proc);
  const lines: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
  const exited = exitOf(proc);
  const ready = await new Promise<{ port: number }>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('ready ')) resolve(JSON.parse(l.slice(6)) as { port: number });
    });
    void exited.then(() => reject(new Error(`bare SSE server exited before it was ready: ${lines.join('\n')}`)));
  });
  const s: SseServer = {
    kind: 'bare',
    pid: proc.pid!,
    host: '127.0.0.1',
    port: ready.port,
    stdin: proc.stdin!,
    stderr: () => lines,
    rss: () => rssBytes(proc.pid!),
    change: () => {
      const t0 = nowMs();
      proc.stdin!.write('change\n');
      return Promise.resolve(t0);
    },
    writes: () => Promise.resolve(bareWriteTimes(s)),
    openStreams: async () => {
      const before = lines.filter((l) => l.startsWith('bench-count ')).length;
      proc.stdin!.write('count\n');
      return Number(await waitStderr(s, 'bench-count ', before));
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  return s;
}

/** One server's side of a fan-out run. Times in ms from the trigger unless noted. */
export interface FanoutSide {
  server: 'agent' | 'bare';
  connected: number;
  failed: number;
  connectSeconds: number;
  /** trigger → the first / the last subscriber's change event (agent: from the `..data` rename; bare: from the command) */
  firstMs: number;
  allMs: number;
  p50Ms: number;
  p99Ms: number;
  missing: number;
  /** trigger → the server's own write of the change to the first / the last subscriber socket */
  firstWriteMs: number;
  lastWriteMs: number;
  /** like for like: the server's first write of the change → the last subscriber received it */
  deliveredMs: number;
  /** the server's first → last write (handing the change to every socket) */
  writeSpanMs: number;
  /** CPU seconds the server used over the fan-out (agent: read, diff, serialize, N writes; bare: N writes) */
  cpuS: number;
  /** CPU seconds the client worker processes used over the same window (they share the machine's cores) */
  clientCpuS: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  /** RSS: (RSS with N open streams 1.5 s after all connected − RSS before) / N */
  bytesPerSubscriber: number;
  /** V8 heap: (heapUsed with N open − heapUsed before) / N, same moments as the RSS, no forced GC (includes garbage) */
  heapUsedPerSubscriber: number;
  /** V8 live heap: (heapUsed after a full GC with N open − after a full GC once all N closed) / N */
  liveHeapPerSubscriber: number;
  mem: { before: MemSample; after: MemSample; liveOpen: MemSample; liveClosed: MemSample };
}

export interface FanoutResult {
  subscribers: number;
  agent: FanoutSide;
  bare?: FanoutSide;
  /** agent ÷ bare */
  ratio?: { rssPerSubscriber: number; liveHeapPerSubscriber: number; heapUsedPerSubscriber: number; deliveredMs: number; writeSpanMs: number };
}

function workersFor(n: number): number {
  return n <= 1000 ? 1 : Math.min(4, Math.ceil(n / 2500));
}

async function runFanoutOn(s: SseServer, subscribers: number, log: (s: string) => void): Promise<FanoutSide> {
  const workers: Worker[] = [];
  try {
    const rssBefore = s.rss();
    const memBefore = await memoryUsage(s, false);
    const nw = workersFor(subscribers);
    for (let i = 0; i < nw; i++) workers.push(await startWorker());
    const t0 = Date.now();
    const per = Math.ceil(subscribers / nw);
    workers.forEach((w, i) => w.proc.send({ cmd: 'sse', host: s.host, port: s.port, n: Math.min(per, subscribers - i * per), path: '', batch: 250 }));
    const ready = await Promise.all(workers.map((w) => w.next<{ ok: number; failed: number }>('ready', 120_000)));
    const connectSeconds = (Date.now() - t0) / 1000;
    const connected = ready.reduce((a, r) => a + r.ok, 0);
    const failed = ready.reduce((a, r) => a + r.failed, 0);
    const open = await s.openStreams();
    log(`  ${s.kind} fanout(${subscribers}): ${connected} connected (${failed} failed) in ${round(connectSeconds, 1)} s; server reports ${open} open streams`);
    await sleep(1500);
    const rssAfter = s.rss();
    const memAfter = await memoryUsage(s, false);
    // one change
    const cpu0 = cpuSeconds(s.pid);
    const clientCpu0 = workers.reduce((a, w) => a + cpuSeconds(w.proc.pid!), 0);
    const tTrigger = await s.change();
    const changed = await Promise.all(
      workers.map(async (w) => {
        const timer = setTimeout(() => w.proc.connected && w.proc.send({ cmd: 'report' }), 20_000);
        const r = await w.next<{ times: number[]; missing: number }>('changed', 30_000);
        clearTimeout(timer);
        return r;
      }),
    );
    await sleep(200);
    const cpuS = cpuSeconds(s.pid) - cpu0;
    const clientCpuS = workers.reduce((a, w) => a + cpuSeconds(w.proc.pid!), 0) - clientCpu0;
    const writes = await s.writes();
    const st = stats(changed.flatMap((c) => c.times.map((t) => t - tTrigger)));
    const missing = changed.reduce((a, c) => a + c.missing, 0);
    // live heap per subscriber: full GC with N open, close them all, full GC again
    const liveOpen = await memoryUsage(s, true);
    await stopWorkers(workers.splice(0));
    const deadline = Date.now() + 10_000;
    while ((await s.openStreams()) > 0 && Date.now() < deadline) await sleep(100);
    await sleep(500);
    const liveClosed = await memoryUsage(s, true);
    const n = Math.max(1, connected);
    const firstWriteMs = writes ? writes.first - tTrigger : NaN;
    const res: FanoutSide = {
      server: s.kind,
      connected,
      failed,
      connectSeconds: round(connectSeconds, 2),
      firstMs: round(st.min, 1),
      allMs: round(st.max, 1),
      p50Ms: round(st.p50, 1),
      p99Ms: round(st.p99, 1),
      missing,
      firstWriteMs: round(firstWriteMs, 1),
      lastWriteMs: writes ? round(writes.last - tTrigger, 1) : NaN,
      deliveredMs: round(st.max - firstWriteMs, 1),
      writeSpanMs: writes ? round(writes.last - writes.first, 1) : NaN,
      cpuS: round(cpuS, 2),
      clientCpuS: round(clientCpuS, 2),
      rssBeforeMB: round(rssBefore / MB, 1),
      rssAfterMB: round(rssAfter / MB, 1),
      bytesPerSubscriber: Math.round((rssAfter - rssBefore) / n),
      heapUsedPerSubscriber: Math.round((memAfter.heapUsed - memBefore.heapUsed) / n),
      liveHeapPerSubscriber: Math.round((liveOpen.heapUsed - liveClosed.heapUsed) / n),
      mem: { before: memBefore, after: memAfter, liveOpen, liveClosed },
    };
    log(
      `  ${s.kind} fanout(${subscribers}): all received ${res.allMs} ms after the ${s.kind === 'agent' ? 'rename' : 'command'} ` +
        `(first ${res.firstMs}, p50 ${res.p50Ms}); first write ${res.firstWriteMs} ms, wrote all in ${res.writeSpanMs} ms, ` +
        `first write → all received ${res.deliveredMs} ms (${res.cpuS} CPU-s; clients ${res.clientCpuS} CPU-s); ` +
        `RSS ${res.bytesPerSubscriber} B/subscriber, heapUsed ${res.heapUsedPerSubscriber} B (no GC), live heap ${res.liveHeapPerSubscriber} B`,
    );
    return res;
  } finally {
    await stopWorkers(workers);
  }
}

const ratio = (a: number, b: number): number => round(a / b, 2);

export async function runFanout({
  subscribers,
  nodeArgs = [],
  main,
  bare = true,
  log = (_s: string) => {},
}: {
  subscribers: number;
  /** another build of the agent (comparing a change); default dist/main.js */
  main?: string;
  /** extra node flags for the agent and the bare server (e.g. ['--max-semi-space-size=1'] to compare) */
  nodeArgs?: string[];
  /** also run the bare node:http baseline (default true) */
  bare?: boolean;
  log?: (s: string) => void;
}): Promise<FanoutResult> {
  let capture: SseCapture;
  let change: string;
  let agentSide: FanoutSide;
  {
    const agent = await spawnAgent({
      env: { PODMETA_MAX_STREAMS: String(subscribers + 100), PODMETA_MAX_CONNECTIONS: String(subscribers + 200) },
      nodeArgs: [...nodeArgs, ...MEM_PROBE_ARGS],
      stdin: true,
      ...(main ? { main } : {}),
    });
    try {
      await sleep(1000);
      // warm the HTTP path once (first-request compilation is not per-subscriber memory), and one SSE stream
      for (let i = 0; i < 20; i++) await httpGet(`${agent.base}/metadata`, { Metadata: 'true' });
      capture = await captureSse(agent.host, agent.port);
      await sleep(500);
      // one more subscriber, in this process: it records the change event's bytes for the bare baseline
      const watcher = await openSseClient(`${agent.base}/events`);
      await watcher.waitFor((e) => e.event === 'snapshot');
      const s = agentServer(agent);
      agentSide = await runFanoutOn(s, subscribers, log);
      const e = await watcher.waitFor((x) => x.event === 'change');
      watcher.close();
      change = `event: change\nid: ${e.id ?? ''}\ndata: ${e.data}\n\n`;
    } finally {
      await agent.stop();
    }
  }
  if (!bare) return { subscribers, agent: agentSide };
  const b = await spawnBare(capture, change, nodeArgs);
  let bareSide: FanoutSide;
  try {
    await sleep(1000);
    const check = await captureSse(b.host, b.port); // the same warm-up stream; and the bytes must be the agent's
    if (check.body !== capture.body) throw new Error('bare SSE server: snapshot bytes differ from the agent');
    await sleep(500);
    bareSide = await runFanoutOn(b, subscribers, log);
  } finally {
    await b.stop();
  }
  const res: FanoutResult = {
    subscribers,
    agent: agentSide,
    bare: bareSide,
    ratio: {
      rssPerSubscriber: ratio(agentSide.bytesPerSubscriber, bareSide.bytesPerSubscriber),
      liveHeapPerSubscriber: ratio(agentSide.liveHeapPerSubscriber, bareSide.liveHeapPerSubscriber),
      heapUsedPerSubscriber: ratio(agentSide.heapUsedPerSubscriber, bareSide.heapUsedPerSubscriber),
      deliveredMs: ratio(agentSide.deliveredMs, bareSide.deliveredMs),
      writeSpanMs: ratio(agentSide.writeSpanMs, bareSide.writeSpanMs),
    },
  };
  log(`  fanout(${subscribers}) agent ÷ bare: ${JSON.stringify(res.ratio)}`);
  return res;
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
  // tsx bench/fanout.ts [N ...] [--main=/path/to/other/main.js] [--node-arg=--max-semi-space-size=1] [--no-bare] [--no-longpoll]
  const args = process.argv.slice(2);
  const ns = args.map(Number).filter((n) => n > 0);
  const main = args.find((a) => a.startsWith('--main='))?.slice(7);
  const nodeArgs = args.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice(11));
  const bare = !args.includes('--no-bare');
  for (const n of ns.length ? ns : [1000, 10_000]) {
    const r = await runFanout({ subscribers: n, nodeArgs, bare, ...(main ? { main } : {}), log: console.log });
    const brief = (x: FanoutSide): unknown => ({ ...x, mem: undefined });
    console.log(JSON.stringify({ ...r, agent: brief(r.agent), bare: r.bare && brief(r.bare) }, null, 2));
  }
  if (!args.includes('--no-longpoll')) console.log(JSON.stringify(await runLongPoll({ log: console.log }), null, 2));
}
