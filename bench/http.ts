// GET /metadata throughput and latency: the built agent vs a bare node:http server that returns the same
// bytes and headers, each loaded by autocannon in its OWN process (the load generator never shares the
// server's event loop; on 2 cores that is one core each). The server's CPU time per request is measured from
// /proc as well: when autocannon saturates its core first, req/s compares the load generator, CPU-µs/req
// still compares the servers. The sub-path reads (a part, its text form, a 304, a long-poll answer) are measured
// the same way, alternated rounds each, against the bare server answering the same status and bytes.
//   tsx bench/http.ts            (standalone)

import { spawn } from 'node:child_process';
import { writeFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, httpGet, nowMs, ROOT, spawnAgent, spawnInline, round, type AgentProcess } from './lib.js';

export interface CannonResult {
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  non2xx: number;
  total: number;
  /** the SERVER's CPU use during the run: cores busy (1 = one core) and CPU microseconds per request */
  serverCores?: number;
  cpuUsPerReq?: number;
}

interface CannonOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
  /** fixed overall rate (req/s); latency is then corrected for coordinated omission */
  rate?: number;
  /** the server's pid, to measure its CPU use during the run */
  serverPid?: number;
  /** HTTP/1.1 pipelining depth (cheaper per request for the load generator, so the server saturates first) */
  pipelining?: number;
}

/** Run autocannon's CLI in a child process and parse its JSON summary. */
export function autocannon(o: CannonOptions): Promise<CannonResult> {
  const args = [join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), '-j', '-n', '-c', String(o.connections), '-d', String(o.durationS)];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (o.rate !== undefined) args.push('-R', String(o.rate));
  if (o.pipelining !== undefined) args.push('-p', String(o.pipelining));
  args.push(o.url);
  const cpu0 = o.serverPid !== undefined ? cpuSeconds(o.serverPid) : 0;
  const t0 = nowMs();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      const cpu = o.serverPid !== undefined ? cpuSeconds(o.serverPid) - cpu0 : undefined;
      const wallS = (nowMs() - t0) / 1000;
      try {
        const j = JSON.parse(out) as {
          requests: { average: number; total: number };
          latency: { p50: number; p99: number; p99_9?: number; p999?: number };
          errors: number;
          non2xx: number;
          timeouts: number;
        };
        resolve({
          rps: j.requests.average,
          p50: j.latency.p50,
          p99: j.latency.p99,
          p999: j.latency.p99_9 ?? j.latency.p999 ?? NaN,
          errors: j.errors + j.timeouts,
          non2xx: j.non2xx,
          total: j.requests.total,
          ...(cpu !== undefined ? { serverCores: round(cpu / wallS, 2), cpuUsPerReq: round((cpu * 1e6) / Math.max(1, j.requests.total), 1) } : {}),
        });
      } catch (e) {
        reject(new Error(`cannot parse autocannon output: ${(e as Error).message}: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** A bare node:http server answering each request with exactly the agent's status, `body` and `headers` for it
 * (read from a JSON file, keyed by URL, plus " inm" when the request carries If-None-Match). */
const BARE_SERVER = `
// require(), not an ESM import: on Node >= 22 that loads undici (+12 MB), which the agent does not
import { createRequire } from 'node:module';
const http = createRequire(import.meta.url)('node:http');
import { readFileSync } from 'node:fs';
const spec = JSON.parse(readFileSync(process.argv[process.argv.length - 1], 'utf8'));
const answers = new Map(Object.entries(spec).map(([key, a]) => {
  const body = Buffer.from(a.body, 'base64');
  return [key, { status: a.status ?? 200, body, headers: a.status === 304 ? a.headers : { ...a.headers, 'Content-Length': body.length } }];
}));
const fallback = answers.get('/metadata');
const server = http.createServer((req, res) => {
  const a = (req.headers['if-none-match'] !== undefined && answers.get(req.url + ' inm')) || answers.get(req.url) || fallback;
  res.writeHead(a.status, a.headers);
  res.end(a.status === 304 ? undefined : a.body);
});
server.listen(0, '127.0.0.1', () => console.log('ready ' + JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
`;

/** The sub-path reads of issue 16 ("every read at the speed of a static response"), each measured against the
 * bare server answering the same bytes. `inm`: sent with If-None-Match = the part's current tag. */
export const SUB_READS = [
  { name: 'GET /metadata/pod/labels', path: '/metadata/pod/labels' },
  { name: 'GET /metadata/pod/labels?format=text', path: '/metadata/pod/labels?format=text' },
  { name: 'GET /metadata/pod/labels, If-None-Match → 304', path: '/metadata/pod/labels', inm: true },
  { name: 'long-poll answer (?wait=true, stale etag)', path: '/metadata/pod/labels?wait=true&timeout=5&etag=%22stale%22' },
] as const;

export interface SubReadResult {
  name: string;
  status: number;
  agent: CannonResult;
  bare: CannonResult;
  /** agent req/s ÷ bare req/s, mean of the rounds; and per round (the spread) */
  ratio: number;
  ratios: number[];
  /** bare CPU-µs/req ÷ agent CPU-µs/req */
  cpuRatio: number;
}

export interface HttpBenchOptions {
  durationS?: number;
  warmupS?: number;
  connections?: number;
  rounds?: number;
  /** fixed-rate latency run (req/s) */
  rate?: number;
  rateDurationS?: number;
  /** also measure the sub-path reads (SUB_READS) */
  subPath?: boolean;
  /** alternated rounds per sub-path read */
  subRounds?: number;
  subDurationS?: number;
  log?: (s: string) => void;
}

export interface HttpBenchResult {
  bodyBytes: number;
  connections: number;
  durationS: number;
  rounds: number;
  agent: CannonResult;
  bare: CannonResult;
  /** the sub-path reads (SUB_READS), agent and bare answering the same bytes, alternated rounds */
  subReads?: SubReadResult[];
  /** agent req/s ÷ bare req/s (both load-generator-limited when the client saturates its core); per round (the spread) */
  ratio: number;
  ratios: number[];
  /** bare CPU-µs per request ÷ agent CPU-µs per request: the server-side efficiency ratio */
  cpuRatio: number;
  /** latency at a fixed moderate rate (coordinated-omission corrected) */
  fixedRate: { rate: number; agent: CannonResult; bare: CannonResult };
  /** with HTTP pipelining the load generator is cheaper per request, so the single-threaded server saturates */
  pipelined: { depth: number; agent: CannonResult; bare: CannonResult; ratio: number };
}

function mean(rs: CannonResult[]): CannonResult {
  const avg = (f: (r: CannonResult) => number): number => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  return {
    rps: round(avg((r) => r.rps), 0),
    p50: round(avg((r) => r.p50), 2),
    p99: round(avg((r) => r.p99), 2),
    p999: round(avg((r) => r.p999), 2),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    total: rs.reduce((a, r) => a + r.total, 0),
    serverCores: round(avg((r) => r.serverCores ?? NaN), 2),
    cpuUsPerReq: round(avg((r) => r.cpuUsPerReq ?? NaN), 1),
  };
}

export async function runHttpBench(o: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const { durationS = 8, warmupS = 2, connections = 32, rounds = 2, rate = 1000, rateDurationS = 5, subPath = true, subRounds = 2, subDurationS = 3, log = () => {} } = o;
  const agent: AgentProcess = await spawnAgent();
  const tmp = await mkdtemp(join(tmpdir(), 'podmeta-bench-http-'));
  const servers: { stop(): Promise<void> }[] = [];
  try {
    const spec: Record<string, { status: number; body: string; headers: Record<string, string> }> = {};
    let first: Awaited<ReturnType<typeof httpGet>> | undefined;
    const capture = async (path: string, key: string, extra: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof httpGet>>> => {
      const r = await httpGet(`${agent.base}${path}`, { Metadata: 'true', ...extra });
      if (r.status !== 200 && r.status !== 304) throw new Error(`agent GET ${path} answered ${r.status}`);
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'cache-control', 'etag', 'vary']) if (typeof r.headers[h] === 'string') headers[h] = r.headers[h];
      spec[key] = { status: r.status, body: r.body.toString('base64'), headers };
      return r;
    };
    first = await capture('/metadata', '/metadata');
    const inmTags: Record<string, string> = {};
    for (const sr of SUB_READS) {
      if (!('inm' in sr)) await capture(sr.path, sr.path);
      else {
        inmTags[sr.path] = String((await capture(sr.path, sr.path)).headers.etag);
        const r = await capture(sr.path, `${sr.path} inm`, { 'If-None-Match': inmTags[sr.path]! });
        if (r.status !== 304) throw new Error(`agent answered ${r.status} to If-None-Match with the current tag`);
      }
    }
    const specFile = join(tmp, 'spec.json');
    await writeFile(specFile, JSON.stringify(spec));

    const bare = await spawnInline(BARE_SERVER, [specFile]);
    servers.push(bare);
    const bareUrl = `http://127.0.0.1:${(bare.ready as { port: number }).port}/metadata`;
    const check = await httpGet(bareUrl);
    if (!check.body.equals(first.body)) throw new Error('bare server does not return the same bytes');
    const agentUrl = `${agent.base}/metadata`;
    const hdr = { Metadata: 'true' };

    const targets: { name: string; url: string; pid: number }[] = [
      { name: 'agent', url: agentUrl, pid: agent.pid },
      { name: 'bare', url: bareUrl, pid: bare.proc.pid! },
    ];
    for (const { name, url } of targets) {
      log(`  http: warm-up ${name} (${warmupS} s)`);
      await autocannon({ url, headers: hdr, connections, durationS: warmupS });
    }
    const results: Record<string, CannonResult[]> = { agent: [], bare: [] };
    for (let r = 0; r < rounds; r++) {
      // alternate the order so slow drift of the shared machine hits both sides
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const { name, url, pid } of order) {
        const res = await autocannon({ url, headers: hdr, connections, durationS, serverPid: pid });
        log(`  http: round ${r + 1} ${name}: ${round(res.rps, 0)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, server ${res.serverCores} cores, ${res.cpuUsPerReq} CPU-µs/req`);
        results[name]!.push(res);
      }
    }
    const depth = 4;
    const pipeBare = await autocannon({ url: bareUrl, headers: hdr, connections, durationS: Math.min(durationS, 6), pipelining: depth, serverPid: bare.proc.pid! });
    const pipeAgent = await autocannon({ url: agentUrl, headers: hdr, connections, durationS: Math.min(durationS, 6), pipelining: depth, serverPid: agent.pid });
    log(`  http: pipelined ×${depth}: agent ${round(pipeAgent.rps, 0)} req/s (${pipeAgent.serverCores} cores), bare ${round(pipeBare.rps, 0)} req/s (${pipeBare.serverCores} cores)`);
    const fixedAgent = await autocannon({ url: agentUrl, headers: hdr, connections: 8, durationS: rateDurationS, rate, serverPid: agent.pid });
    const fixedBare = await autocannon({ url: bareUrl, headers: hdr, connections: 8, durationS: rateDurationS, rate, serverPid: bare.proc.pid! });
    log(`  http: fixed ${rate} req/s: agent p50 ${fixedAgent.p50} p99 ${fixedAgent.p99} ms; bare p50 ${fixedBare.p50} p99 ${fixedBare.p99} ms`);
    const a = mean(results.agent!);
    const b = mean(results.bare!);
    const out: HttpBenchResult = {
      bodyBytes: first.body.length,
      connections,
      durationS,
      rounds,
      agent: a,
      bare: b,
      ratio: round(a.rps / b.rps, 3),
      ratios: results.agent!.map((x, i) => round(x.rps / results.bare![i]!.rps, 3)),
      cpuRatio: round((b.cpuUsPerReq ?? NaN) / (a.cpuUsPerReq ?? NaN), 3),
      fixedRate: { rate, agent: fixedAgent, bare: fixedBare },
      pipelined: { depth, agent: pipeAgent, bare: pipeBare, ratio: round(pipeAgent.rps / pipeBare.rps, 3) },
    };
    if (subPath) {
      const barePort = (bare.ready as { port: number }).port;
      out.subReads = [];
      for (const sr of SUB_READS) {
        const h = 'inm' in sr ? { ...hdr, 'If-None-Match': inmTags[sr.path]! } : hdr;
        const key = 'inm' in sr ? `${sr.path} inm` : sr.path;
        const check = await httpGet(`http://127.0.0.1:${barePort}${sr.path}`, h);
        if (!check.body.equals(Buffer.from(spec[key]!.body, 'base64')) || check.status !== spec[key]!.status) throw new Error(`bare server: different answer for ${sr.name}`);
        const sides = [
          { name: 'agent', url: `${agent.base}${sr.path}`, pid: agent.pid },
          { name: 'bare', url: `http://127.0.0.1:${barePort}${sr.path}`, pid: bare.proc.pid! },
        ];
        for (const side of sides) await autocannon({ url: side.url, headers: h, connections, durationS: 1 });
        const got: Record<string, CannonResult[]> = { agent: [], bare: [] };
        for (let r = 0; r < subRounds; r++) {
          for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
            got[side.name]!.push(await autocannon({ url: side.url, headers: h, connections, durationS: subDurationS, serverPid: side.pid }));
          }
        }
        const a = mean(got.agent!);
        const b = mean(got.bare!);
        const ratios = got.agent!.map((x, i) => round(x.rps / got.bare![i]!.rps, 3));
        const res: SubReadResult = { name: sr.name, status: spec[key]!.status, agent: a, bare: b, ratio: round(a.rps / b.rps, 3), ratios, cpuRatio: round((b.cpuUsPerReq ?? NaN) / (a.cpuUsPerReq ?? NaN), 3) };
        out.subReads.push(res);
        log(`  http: ${sr.name}: agent ${a.rps} req/s (${a.cpuUsPerReq} CPU-µs/req), bare ${b.rps} req/s (${b.cpuUsPerReq} CPU-µs/req); ratio ${res.ratio} (rounds ${ratios.join(', ')})`);
      }
    }
    return out;
  } finally {
    for (const s of servers) await s.stop();
    await agent.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runHttpBench({ log: console.log });
  console.log(JSON.stringify(r, null, 2));
}
