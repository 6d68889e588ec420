// `npm run bench`: every row of issue 16's table against its baseline measured in the same run (a bare
// `node:http` server on the same Node binary) or a fixed target, with the ratio and a verdict; a table on stdout
// and the full results as JSON in bench/results/ (bench-<time>.json and latest.json). Runs on the SHIPPED Node
// (.node-version, scripts/node-bin.mjs) by default: this script re-executes itself with that binary. The
// footprint is measured on the machine's own Node too, as the floor reference. Bounded to ≈ 5 minutes.
// Timings are only compared here, never asserted in `npm test`.
//   node --import tsx bench/run.ts [--node=shipped|system|PATH] [--floor-node=system|none|PATH]
//                                  [--only=footprint,levers,http,propagation,api,fanout,longpoll,bigdoc,proxy,scale] [--quick]

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join, sep } from 'node:path';
import { shippedNode } from '../scripts/node-bin.mjs';
import { runApiScale } from './api-scale.js';
import { runBigDoc, type BigDocResult } from './bigdoc.js';
import { runFanout, runLongPoll, type FanoutResult, type LongPollResult } from './fanout.js';
import { runFootprint, type FootprintResult } from './footprint.js';
import { runHttpBench, type HttpBenchResult } from './http.js';
import { runLevers, type LeverResult } from './levers.js';
import { runApiPropagation, runVolumePropagation, type ApiPropagationResult, type PropagationResult } from './propagation.js';
import { machine, printTable, requireBuilt, RESULTS_DIR, ROOT, round, type Row } from './lib.js';

/** issue 16's targets */
export const TARGETS = {
  httpRatio: 0.9,
  volumeP99Ms: 10,
  rssOverBareMB: 8,
  readyRatio: 2,
  idleCpuPct: 0.1,
  warmOverIdleMB: 10,
  rssPerSubscriberRatio: 1.05,
  deliveryRatio: 1.1,
} as const;

export interface BenchResults {
  startedAt: string;
  durationS: number;
  machine: Record<string, string | number>;
  footprint?: FootprintResult;
  floorFootprint?: FootprintResult;
  levers?: LeverResult;
  http?: HttpBenchResult;
  propagation?: PropagationResult;
  apiPropagation?: ApiPropagationResult;
  fanout?: FanoutResult[];
  longPoll?: LongPollResult;
  bigDoc?: BigDocResult;
  proxy?: Record<string, unknown> | { error: string };
  apiScale?: Record<string, number> | { error: string };
}

/** bench/api-scale.ts (the API source's owner's): requests per agent per hour, in compressed time. */
async function apiScale(log: (s: string) => void): Promise<Record<string, number> | { error: string }> {
  log('api scale (bench/api-scale.ts runApiScale())');
  try {
    return await runApiScale({ print: (line) => log(`  ${line}`) });
  } catch (err) {
    return { error: `runApiScale() failed: ${(err as Error).message}` };
  }
}

/** bench/proxy-footprint.ts (the proxy's owner's), when it exists: per proxied watch vs kubectl proxy. */
async function proxyFootprint(log: (s: string) => void): Promise<Record<string, unknown> | { error: string }> {
  const file = './proxy-footprint.js';
  let mod: { runProxyFootprint?: (o: { log: (s: string) => void }) => Promise<Record<string, unknown>> };
  try {
    mod = (await import(file)) as typeof mod;
  } catch {
    return { error: 'bench/proxy-footprint.ts is not there (yet)' };
  }
  if (typeof mod.runProxyFootprint !== 'function') return { error: 'bench/proxy-footprint.ts exports no runProxyFootprint()' };
  log('proxy footprint (bench/proxy-footprint.ts runProxyFootprint())');
  try {
    return await mod.runProxyFootprint({ log });
  } catch (err) {
    return { error: `runProxyFootprint() failed: ${(err as Error).message}` };
  }
}

const v = (met: boolean): Row['verdict'] => (met ? 'met' : 'MISSED');
const spread = (x: { min: number; max: number }): string => `${x.min}–${x.max}`;

function footprintRows(f: FootprintResult, label: string, out: Row[]): void {
  const a = f.agent;
  const b = f.bare;
  out.push({
    metric: `idle RSS, ${label} (${f.version}), agent − bare node:http`,
    value: `+${f.rssOverBareMB} MB (${a.idleRssMB.p50} vs ${b.idleRssMB.p50} MB; runs ${spread(a.idleRssMB)} vs ${spread(b.idleRssMB)}, n=${f.runs})`,
    target: `≤ +${TARGETS.rssOverBareMB} MB`,
    verdict: v(f.rssOverBareMB <= TARGETS.rssOverBareMB),
  });
  out.push({
    metric: `spawn → ready, ${label} (${f.version}), agent ÷ bare`,
    value: `×${f.readyRatio} (${a.readyMs.p50} vs ${b.readyMs.p50} ms; runs ${spread(a.readyMs)} vs ${spread(b.readyMs)}; CPU until ready ×${f.readyCpuRatio}: ${a.readyCpuMs.p50} vs ${b.readyCpuMs.p50} ms)`,
    target: `≤ ×${TARGETS.readyRatio}`,
    verdict: v(f.readyRatio <= TARGETS.readyRatio),
  });
  if (a.idleCpuPct.length > 0) {
    const worst = Math.max(...a.idleCpuPct);
    out.push({
      metric: `idle CPU, ${label}, % of a core per 10 s, no traffic`,
      value: `agent ${a.idleCpuPct.join(' / ')} %, bare ${b.idleCpuPct.join(' / ')} %`,
      target: `≤ ${TARGETS.idleCpuPct} %`,
      verdict: v(worst <= TARGETS.idleCpuPct),
    });
    const warmOver = round(a.warm.after2000MB - a.warm.idleRssMB, 1);
    out.push({
      metric: `warm RSS, ${label}: after 2 000 requests − idle (same process)`,
      value: `+${warmOver} MB (${a.warm.idleRssMB} → ${a.warm.after2000MB} → ${a.warm.after4000MB} MB after 4 000; bare ${b.warm.idleRssMB} → ${b.warm.after2000MB} → ${b.warm.after4000MB})`,
      target: `≤ +${TARGETS.warmOverIdleMB} MB`,
      verdict: v(warmOver <= TARGETS.warmOverIdleMB),
    });
  }
}

export function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  if (r.footprint) footprintRows(r.footprint, 'shipped Node', out);
  if (r.floorFootprint) footprintRows(r.floorFootprint, 'floor reference', out);
  if (r.levers) {
    const l = r.levers;
    for (const [name, x] of Object.entries(l.builds)) {
      out.push({ metric: `  lever: build ${name}`, value: `idle RSS ${x.idleRssMB} MB (+${round(x.idleRssMB - l.bareIdleRssMB, 1)} over bare), ready ${x.readyMs} ms`, target: '-', verdict: 'info' });
    }
  }
  if (r.http) {
    const h = r.http;
    out.push({
      metric: 'GET /metadata req/s, agent ÷ bare node:http (same bytes)',
      value: `${h.ratio} (${h.agent.rps} vs ${h.bare.rps} req/s, c=${h.connections}, mean of ${h.rounds} rounds: ${h.ratios.join(', ')})`,
      target: `≥ ${TARGETS.httpRatio}`,
      verdict: v(h.ratio >= TARGETS.httpRatio),
    });
    out.push({
      metric: 'GET /metadata server CPU-µs/req, bare ÷ agent',
      value: `${h.cpuRatio} (${h.agent.cpuUsPerReq} vs ${h.bare.cpuUsPerReq} µs; servers at ${h.agent.serverCores} / ${h.bare.serverCores} cores)`,
      target: '-',
      verdict: 'info',
    });
    out.push({
      metric: `GET /metadata req/s pipelined ×${h.pipelined.depth}, agent ÷ bare`,
      value: `${h.pipelined.ratio} (${round(h.pipelined.agent.rps, 0)} vs ${round(h.pipelined.bare.rps, 0)} req/s)`,
      target: '-',
      verdict: 'info',
    });
    for (const sp of h.subReads ?? []) {
      out.push({
        metric: `${sp.name} req/s, agent ÷ bare (same ${sp.status} bytes)`,
        value: `${sp.ratio} (${round(sp.agent.rps, 0)} vs ${round(sp.bare.rps, 0)} req/s; rounds ${sp.ratios.join(', ')}; CPU-µs/req ${sp.agent.cpuUsPerReq} vs ${sp.bare.cpuUsPerReq}, ×${sp.cpuRatio})`,
        target: `≥ ${TARGETS.httpRatio}`,
        verdict: v(sp.ratio >= TARGETS.httpRatio),
      });
    }
    out.push({
      metric: `GET /metadata latency at ${h.fixedRate.rate} req/s`,
      value: `agent p50 ${h.fixedRate.agent.p50} / p99 ${h.fixedRate.agent.p99} ms; bare ${h.fixedRate.bare.p50} / ${h.fixedRate.bare.p99} ms`,
      target: '-',
      verdict: 'info',
    });
    const errors = h.agent.errors + h.agent.non2xx + h.bare.errors + h.bare.non2xx;
    if (errors > 0) out.push({ metric: 'HTTP errors/non-2xx during load', value: String(errors), target: '0', verdict: 'MISSED' });
  }
  if (r.propagation) {
    const p = r.propagation;
    out.push({
      metric: `volume ..data swap → SSE change, p99 (${p.latency.n} swaps)`,
      value: `${p.latency.p99} ms (p50 ${p.latency.p50}, max ${p.latency.max}, lost ${p.lost}; debounce ${p.debounceMs} ms)`,
      target: `≤ ${TARGETS.volumeP99Ms} ms, 0 lost`,
      verdict: v(p.latency.p99 <= TARGETS.volumeP99Ms && p.lost === 0),
    });
  }
  if (r.apiPropagation) {
    const p = r.apiPropagation;
    out.push({ metric: `API watch event → SSE change, p99 (${p.latency.n} events)`, value: `${p.latency.p99} ms (p50 ${p.latency.p50}, max ${p.latency.max}, lost ${p.lost})`, target: '-', verdict: 'info' });
  }
  const kb = (b: number): string => `${round(b / 1024, 1)} KB`;
  for (const f of r.fanout ?? []) {
    const a = f.agent;
    const b = f.bare;
    const is10k = f.subscribers >= 10_000;
    out.push({
      metric: `fan-out ${f.subscribers} SSE: ..data rename → all received / agent wrote all`,
      value: `${a.allMs} / ${a.lastWriteMs} ms (${a.connected}/${f.subscribers} connected, missing ${a.missing}; fan-out ${a.writeSpanMs} ms by podmeta_sse_fanout_seconds)`,
      target: '-',
      verdict: a.missing === 0 && a.connected === f.subscribers ? 'info' : 'MISSED',
    });
    if (!b || !f.ratio) continue;
    out.push({
      metric: `fan-out ${f.subscribers} SSE: delivery (first write → last received), agent ÷ bare`,
      value: `×${f.ratio.deliveredMs} (${a.deliveredMs} vs ${b.deliveredMs} ms; wrote all in ${a.writeSpanMs} vs ${b.writeSpanMs} ms)`,
      target: is10k ? `≤ ×${TARGETS.deliveryRatio}` : '-',
      verdict: is10k ? v(f.ratio.deliveredMs <= TARGETS.deliveryRatio) : 'info',
    });
    out.push({
      metric: `fan-out ${f.subscribers} SSE: RSS per subscriber, agent ÷ bare`,
      value: `×${f.ratio.rssPerSubscriber} (${kb(a.bytesPerSubscriber)} vs ${kb(b.bytesPerSubscriber)}; agent ${a.rssBeforeMB} → ${a.rssAfterMB} MB)`,
      target: is10k ? `≤ ×${TARGETS.rssPerSubscriberRatio}` : '-',
      verdict: is10k ? v(f.ratio.rssPerSubscriber <= TARGETS.rssPerSubscriberRatio) : 'info',
    });
    out.push({
      metric: `fan-out ${f.subscribers} SSE: live heap per subscriber (after full GC), agent vs bare`,
      value: `${kb(a.liveHeapPerSubscriber)} vs ${kb(b.liveHeapPerSubscriber)} (×${f.ratio.liveHeapPerSubscriber})`,
      target: '-',
      verdict: 'info',
    });
  }
  if (r.longPoll) {
    const l = r.longPoll;
    out.push({
      metric: `long-poll: ${l.requests} waiting released by one change`,
      value: `all answered in ${l.allMs} ms (first ${l.firstMs}; ${JSON.stringify(l.statuses)}, missing ${l.missing})`,
      target: '-',
      verdict: l.missing === 0 && l.statuses['200'] === l.requests ? 'info' : 'MISSED',
    });
  }
  if (r.bigDoc) {
    const d = r.bigDoc;
    out.push({ metric: `${d.docKB} KB document: RSS after ${d.changes} changes`, value: `${d.after1000ChangesMB} MB (idle ${d.idleRssMB} MB)`, target: '-', verdict: 'info' });
    out.push({
      metric: `${d.docKB} KB document, ${d.stalled.subscribers} subscribers that stopped reading, ${d.stalled.changes} big changes`,
      value: `RSS peak ${d.stalled.peakRssMB} MB, after ${d.stalled.afterMB} MB (${d.stalled.openAfter} streams still open)`,
      target: '-',
      verdict: 'info',
    });
    if (d.caps) {
      const c = d.caps;
      out.push({
        metric: `${d.docKB} KB document, every connection cap at once (${c.metadataConnections} + ${c.probeConnections} connections, ${c.pipelined} pipelined unread each)`,
        value: c.aborted ? `the agent ${c.aborted}` : `RSS peak ${c.peakRssMB} MB (V8 heap ${c.peakHeapMB} MB), after ${c.afterMB} MB`,
        target: '< 160Mi',
        verdict: !c.aborted && c.peakRssMB * 1024 * 1024 < 160 * 1024 * 1024 ? 'met' : 'MISSED',
      });
    }
  }
  if (r.proxy) {
    if ('error' in r.proxy) out.push({ metric: 'proxy: per proxied watch vs kubectl proxy', value: String(r.proxy.error), target: '-', verdict: 'info' });
    else
      for (const [k, x] of Object.entries(r.proxy)) {
        if (k === 'ratio') out.push({ metric: 'proxy: per proxied watch, podmeta ÷ kubectl proxy (same run)', value: String(x), target: '≤ 1', verdict: v(Number(x) <= 1) });
        else out.push({ metric: `proxy: ${k}`, value: typeof x === 'number' ? String(round(x, 2)) : typeof x === 'string' ? x : JSON.stringify(x), target: '-', verdict: 'info' });
      }
  }
  if (r.apiScale) {
    if ('error' in r.apiScale) out.push({ metric: 'API scale (runApiScale)', value: String(r.apiScale.error), target: '-', verdict: 'info' });
    else for (const [k, x] of Object.entries(r.apiScale)) out.push({ metric: `API scale: ${k}`, value: String(round(x, 2)), target: '-', verdict: 'info' });
  }
  return out;
}

/** The first `node` on PATH outside node_modules/ (the machine's own). */
function systemNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.split(sep).includes('node_modules')) continue;
    try {
      accessSync(join(dir, 'node'), constants.X_OK);
      return join(dir, 'node');
    } catch {
      // not here
    }
  }
  return undefined;
}

function resolveNode(choice: string): string {
  if (choice === 'shipped') return shippedNode();
  if (choice === 'system') {
    const n = systemNode();
    if (!n) throw new Error('--node=system: no node on PATH outside node_modules/');
    return n;
  }
  return choice;
}

const opt = (argv: string[], name: string): string | undefined => {
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  if (eq) return eq.slice(name.length + 3);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

async function main(argv: string[]): Promise<number> {
  // run under the chosen Node (default: the shipped one): re-execute this script with it
  const node = resolveNode(opt(argv, 'node') ?? 'shipped');
  if (process.env.PODMETA_BENCH_CHILD !== '1' && node !== process.execPath) {
    const child = spawn(node, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), ...argv], { stdio: 'inherit', cwd: ROOT, env: { ...process.env, PODMETA_BENCH_CHILD: '1' } });
    return await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  }
  requireBuilt();
  const only = opt(argv, 'only')?.split(',');
  const quick = argv.includes('--quick');
  const want = (k: string): boolean => !only || only.includes(k);
  const log = (s: string): void => console.log(s);
  const t0 = Date.now();
  const r: BenchResults = { startedAt: new Date().toISOString(), durationS: 0, machine: machine() };
  // footprint first: it wants a quiet machine, and nothing of ours is running yet
  if (want('footprint')) {
    log(`footprint on ${process.version} (spawn → /readyz, idle RSS, idle CPU, warm RSS; agent vs bare node:http)`);
    r.footprint = await runFootprint({ runs: quick ? 3 : 5, cpuWindows: 1, log });
    const floorChoice = opt(argv, 'floor-node') ?? 'system';
    const floor = floorChoice === 'none' ? undefined : floorChoice === 'system' ? systemNode() : floorChoice;
    if (floor && spawnSync(floor, ['--version'], { encoding: 'utf8' }).stdout.trim() !== process.version) {
      log(`footprint on the floor reference ${floor}`);
      r.floorFootprint = await runFootprint({ node: floor, runs: 3, cpuWindows: 0, log });
    }
  }
  if (want('levers')) {
    log('levers (scripts/build.mjs with each footprint lever off, same run)');
    r.levers = await runLevers({ runs: 2, log });
  }
  if (want('http')) {
    log('http (autocannon in its own process; agent vs bare node:http, same bytes and headers)');
    r.http = await runHttpBench({ durationS: quick ? 4 : 5, rounds: 2, log });
  }
  if (want('propagation')) {
    log('propagation (kubelet ..data swap → SSE change)');
    r.propagation = await runVolumePropagation({ swaps: quick ? 60 : 250, log });
  }
  if (want('api')) {
    log('propagation (fake API server MODIFIED → SSE change)');
    r.apiPropagation = await runApiPropagation({ changes: quick ? 60 : 200, log });
  }
  if (want('fanout')) {
    r.fanout = [];
    for (const n of quick ? [1000] : [1000, 10_000]) {
      log(`fan-out (${n} SSE subscribers in worker processes; agent, then a bare node:http SSE server with the same bytes)`);
      r.fanout.push(await runFanout({ subscribers: n, log }));
    }
  }
  if (want('longpoll')) {
    log('long-poll (1000 waiting, one change)');
    r.longPoll = await runLongPoll({ requests: 1000, log });
  }
  if (want('bigdoc')) {
    log('big document (250 KB annotation: 1000 changes; 1000 subscribers that stopped reading)');
    r.bigDoc = await runBigDoc({ changes: quick ? 200 : 1000, log });
  }
  if (want('proxy')) r.proxy = await proxyFootprint(log);
  if (want('scale')) r.apiScale = await apiScale(log);
  r.durationS = Math.round((Date.now() - t0) / 1000);

  console.log('');
  console.log(`podmeta bench — ${r.machine.cpus} CPUs (${r.machine.cpuModel}), ${r.machine.memTotalGiB} GiB, node ${r.machine.node}, ${r.durationS} s`);
  printTable(rows(r));
  await mkdir(RESULTS_DIR, { recursive: true });
  const body = JSON.stringify(r, null, 2) + '\n';
  const file = join(RESULTS_DIR, `bench-${r.startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, body);
  await writeFile(join(RESULTS_DIR, 'latest.json'), body);
  console.log(`\nresults: ${file}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
