// Shared helpers for the benches and the soak: spawn the BUILT agent (dist/main.js) as a child process with a
// kubelet-style volume, read its JSON logs and RSS, small HTTP helpers, statistics and table printing.
// Benches never assert timings: they measure and print; run.ts compares against the targets.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KubeletVolume, type Payload } from '../test/support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from '../test/support/samples.js';
import { SseParser } from '../src/sse-parse.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST_MAIN = join(ROOT, 'dist', 'main.js');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

/** The Node flags the image runs the agent with (the Dockerfile's ENTRYPOINT between node and dist/main.js,
 * e.g. the V8 heap bounds): the soak and the memory benches measure what ships. */
export function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const argv = m ? (JSON.parse(m[1]!) as string[]) : [];
  return argv.slice(1, -1);
}

/** High-resolution wall-clock milliseconds, comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function requireBuilt(): void {
  if (!existsSync(DIST_MAIN)) throw new Error(`${DIST_MAIN} is missing: run "npm run build" first (the benches measure the built agent)`);
}

// ---- statistics ---------------------------------------------------------------------------------

export interface Stats {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, min: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const pct = (p: number): number => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  return { n, min: s[0]!, p50: pct(50), p90: pct(90), p99: pct(99), max: s[n - 1]!, mean: s.reduce((a, b) => a + b, 0) / n };
}

export const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

// ---- process memory -----------------------------------------------------------------------------

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export const MB = 1024 * 1024;

/** CPU time (user + system, all threads) a process has used so far, in seconds (Linux /proc, 100 Hz ticks). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based)
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

// ---- HTTP helpers -------------------------------------------------------------------------------

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One GET on a fresh connection (no keep-alive pool shared with anything). */
export function httpGet(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough for a bench on a quiet loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One numeric sample from a Prometheus text exposition (first line whose name+labels start with `series`). */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series) && (line[series.length] === ' ' || line[series.length] === '{')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) return v;
    }
  }
  return undefined;
}

// ---- the built agent as a child process ----------------------------------------------------------

/** Children still running; killed if the bench process exits without stopping them (a crash, Ctrl-C). */
const live = new Set<ChildProcess>();
let exitHook = false;
export function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
}

export interface LogLine {
  level?: string;
  msg?: string;
  [k: string]: unknown;
}

export interface AgentProcess {
  proc: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT of the metadata API */
  base: string;
  /** http://127.0.0.1:PORT of the probe API */
  probe: string;
  host: string;
  port: number;
  /** the volume directory and its kubelet-style writer */
  dir: string;
  volume: KubeletVolume;
  /** every JSON log line so far (stdout) */
  logs: LogLine[];
  /** stdout lines that were not JSON, and stderr */
  otherOutput: string[];
  rss(): number;
  /** SIGTERM, wait for exit; returns the exit code (or signal name) */
  stop(): Promise<number | string | null>;
  exited: Promise<number | string | null>;
}

export interface SpawnAgentOptions {
  /** env on top of the sample downward env and the bench defaults */
  env?: Record<string, string>;
  /** the volume's first generation (default: the sample files) */
  files?: Payload;
  /** extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…'] */
  nodeArgs?: string[];
  /** how long to wait for "podmeta listening" */
  startTimeoutMs?: number;
  /** another build of the agent to run instead of dist/main.js (comparing a change) */
  main?: string;
  /** give the agent a stdin pipe (bench-only preloads read commands from it; the agent itself does not) */
  stdin?: boolean;
}

/** Start `node dist/main.js` with a kubelet-style volume in a temp dir, on ephemeral loopback ports. */
export async function spawnAgent(o: SpawnAgentOptions = {}): Promise<AgentProcess> {
  requireBuilt();
  const root = await mkdtemp(join(tmpdir(), 'podmeta-bench-'));
  const dir = join(root, 'podinfo');
  const volume = await KubeletVolume.create(dir, o.files ?? sampleFiles());
  const env: Record<string, string> = {
    ...SAMPLE_ENV,
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_SA_DIR: join(root, 'no-sa'),
    PODMETA_LOG_LEVEL: 'info',
    ...o.env,
  };
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), o.main ?? DIST_MAIN], { env, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], cwd: root });
  track(proc);
  const logs: LogLine[] = [];
  const otherOutput: string[] = [];
  let onListening: ((l: LogLine) => void) | undefined;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let parsed: LogLine | undefined;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      otherOutput.push(line);
      return;
    }
    logs.push(parsed);
    if (parsed.msg === 'podmeta listening') onListening?.(parsed);
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => otherOutput.push(`stderr: ${line}`));
  const exited = new Promise<number | string | null>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  // the "podmeta listening" line (level info) tells the ports: PODMETA_LOG_LEVEL must stay debug or info
  let listening: LogLine;
  try {
    listening = await new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not start within ${o.startTimeoutMs ?? 10_000} ms: ${otherOutput.join('\n')}`)), o.startTimeoutMs ?? 10_000);
      onListening = (l) => {
        clearTimeout(timer);
        resolve(l);
      };
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (${code}) before listening: ${otherOutput.join('\n')}`));
      });
    });
  } catch (err) {
    // never leave a child behind
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const metadata = String(listening.metadata);
  const [host, portText] = [metadata.slice(0, metadata.lastIndexOf(':')), metadata.slice(metadata.lastIndexOf(':') + 1)];
  const pid = proc.pid!;
  let stopping: Promise<number | string | null> | undefined;
  return {
    proc,
    pid,
    base: `http://${metadata}`,
    probe: `http://${String(listening.probe)}`,
    host,
    port: Number(portText),
    dir,
    volume,
    logs,
    otherOutput,
    rss: () => rssBytes(pid),
    exited,
    stop: () => {
      stopping ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
        const code = await exited;
        clearTimeout(t);
        await rm(root, { recursive: true, force: true });
        return code;
      })();
      return stopping;
    },
  };
}

/** A child `node` process running an inline ES module; resolves once it printed "ready <json>". */
export async function spawnInline(
  source: string,
  args: string[] = [],
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<{ proc: ChildProcess; ready: unknown; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', source, '--', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  track(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ready = await new Promise<unknown>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      if (line.startsWith('ready ')) resolve(JSON.parse(line.slice(6)));
    });
    void exited.then(() => reject(new Error('inline child exited before it was ready')));
  });
  return {
    proc,
    ready,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

// ---- SSE over a plain socket (bench process side) ----------------------------------------------

export interface SseClient {
  events: { event: string; id: string | undefined; data: string; at: number }[];
  /** resolves with the next event matching `pred` received after call time (index-based) */
  waitFor(pred: (e: { event: string; data: string }) => boolean, timeoutMs?: number): Promise<{ event: string; id: string | undefined; data: string; at: number }>;
  close(): void;
  closed: Promise<void>;
}

/** The benches' and the soak's SSE reader: node:http + src/sse-parse.ts, recording each event's arrival time. */
export function openSseClient(url: string, headers: Record<string, string> = { Metadata: 'true' }): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE ${url}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      const events: SseClient['events'] = [];
      let waiters: (() => void)[] = [];
      let closedResolve = (): void => {};
      const closed = new Promise<void>((r) => (closedResolve = r));
      // the repository's one SSE parser (src/sse-parse.ts); each event carries its arrival time
      let at = 0;
      const parser = new SseParser({ event: (e) => events.push({ event: e.event, id: e.id, data: e.data, at }) });
      res.on('data', (chunk: string) => {
        at = nowMs();
        parser.feed(chunk);
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      });
      res.on('close', () => {
        closedResolve();
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      });
      res.on('error', () => {});
      let consumed = 0;
      resolve({
        events,
        closed,
        close: () => req.destroy(),
        waitFor: (pred, timeoutMs = 5000) =>
          new Promise((res2, rej2) => {
            const timer = setTimeout(() => rej2(new Error(`no matching SSE event within ${timeoutMs} ms`)), timeoutMs);
            const check = (): void => {
              while (consumed < events.length) {
                const e = events[consumed++]!;
                if (pred(e)) {
                  clearTimeout(timer);
                  res2(e);
                  return;
                }
              }
              if (req.destroyed && !res.readable) {
                clearTimeout(timer);
                rej2(new Error('SSE stream closed'));
                return;
              }
              waiters.push(check);
            };
            check();
          }),
      });
    });
    req.on('error', reject);
  });
}

// ---- output -------------------------------------------------------------------------------------

export interface Row {
  metric: string;
  value: string;
  target: string;
  verdict: 'met' | 'MISSED' | 'info';
}

export function printTable(rows: readonly Row[]): void {
  const w = [0, 0, 0, 0];
  const cells = rows.map((r) => [r.metric, r.value, r.target, r.verdict]);
  for (const c of [['metric', 'value', 'target', 'verdict'], ...cells]) c.forEach((x, i) => (w[i] = Math.max(w[i]!, x.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padEnd(w[i]!)).join('  ');
  console.log(line(['metric', 'value', 'target', 'verdict']));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const c of cells) console.log(line(c));
}

export function machine(): Record<string, string | number> {
  const memTotal = /^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpu,
    memTotalGiB: round(Number(memTotal ?? 0) / 1024 / 1024, 1),
  };
}

/** A child `node` process's exit as a promise. */
export function exitOf(proc: ChildProcess): Promise<number | string | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode ?? proc.signalCode);
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
}
