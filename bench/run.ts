// `npm run bench`: every benchmark against its baseline or target, a table on stdout and the full results as
// JSON in bench/results/ (bench-<time>.json and latest.json). Bounded to a few minutes on 2 cores.
// Timings are only compared here, never asserted in `npm test`.
//   node --import tsx bench/run.ts [--only=http,propagation,api,fanout,longpoll,footprint,scale] [--quick]

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runApiScale } from './api-scale.js';
import { runFanout, runLongPoll, type FanoutResult, type LongPollResult } from './fanout.js';
import { runFootprint, type FootprintResult } from './footprint.js';
import { runHttpBench, type HttpBenchResult } from './http.js';
import { runApiPropagation, runVolumePropagation, type ApiPropagationResult, type PropagationResult } from './propagation.js';
import { machine, printTable, requireBuilt, RESULTS_DIR, round, type Row } from './lib.js';

export const TARGETS = {
  httpRatio: 0.9,
  volumeP99Ms: 50,
  fanout10kMs: 500,
  bytesPerSubscriber: 10 * 1024,
  rssOverBareMB: 15,
  readyMs: 300,
} as const;

export interface BenchResults {
  startedAt: string;
  durationS: number;
  machine: Record<string, string | number>;
  http?: HttpBenchResult;
  propagation?: PropagationResult;
  apiPropagation?: ApiPropagationResult;
  fanout?: FanoutResult[];
  longPoll?: LongPollResult;
  footprint?: FootprintResult;
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

const v = (met: boolean): Row['verdict'] => (met ? 'met' : 'MISSED');

export function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  if (r.http) {
    const h = r.http;
    out.push({
      metric: 'GET /metadata req/s, agent ÷ bare node:http',
      value: `${h.ratio} (${h.agent.rps} vs ${h.bare.rps} req/s, c=${h.connections})`,
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
    out.push({ metric: 'GET /metadata latency under saturation (agent)', value: `p50 ${h.agent.p50} ms, p99 ${h.agent.p99} ms (bare p50 ${h.bare.p50}, p99 ${h.bare.p99})`, target: '-', verdict: 'info' });
    out.push({
      metric: `GET /metadata latency at ${h.fixedRate.rate} req/s`,
      value: `agent p50 ${h.fixedRate.agent.p50} / p99 ${h.fixedRate.agent.p99} ms; bare ${h.fixedRate.bare.p50} / ${h.fixedRate.bare.p99} ms`,
      target: '-',
      verdict: 'info',
    });
    if (h.subPath) out.push({ metric: 'GET /metadata/pod/labels req/s (koa path)', value: `${h.subPath.rps} req/s, p99 ${h.subPath.p99} ms, ${h.subPath.cpuUsPerReq} CPU-µs/req`, target: '-', verdict: 'info' });
    const errors = h.agent.errors + h.agent.non2xx + h.bare.errors + h.bare.non2xx;
    if (errors > 0) out.push({ metric: 'HTTP errors/non-2xx during load', value: String(errors), target: '0', verdict: 'MISSED' });
  }
  if (r.propagation) {
    const p = r.propagation;
    out.push({
      metric: `volume ..data swap → SSE, p99 (${p.latency.n} swaps)`,
      value: `${p.latency.p99} ms (p50 ${p.latency.p50}, max ${p.latency.max}, lost ${p.lost})`,
      target: `≤ ${TARGETS.volumeP99Ms} ms`,
      verdict: v(p.latency.p99 <= TARGETS.volumeP99Ms && p.lost === 0),
    });
  }
  if (r.apiPropagation) {
    const p = r.apiPropagation;
    out.push({ metric: `API watch event → SSE, p99 (${p.latency.n} events)`, value: `${p.latency.p99} ms (p50 ${p.latency.p50}, max ${p.latency.max}, lost ${p.lost})`, target: '-', verdict: 'info' });
  }
  const kb = (b: number): string => `${round(b / 1024, 1)} KB`;
  const x = (r: number | undefined): string => (r === undefined ? '' : ` (×${r})`);
  for (const f of r.fanout ?? []) {
    const is10k = f.subscribers >= 10_000;
    const a = f.agent;
    const b = f.bare;
    out.push({
      metric: `fan-out ${f.subscribers} SSE: ..data rename → all clients received`,
      value: `${a.allMs} ms (p50 ${a.p50Ms}, ${a.connected}/${f.subscribers} connected, missing ${a.missing})`,
      target: is10k ? `≤ ${TARGETS.fanout10kMs} ms` : '-',
      verdict: is10k ? v(a.allMs <= TARGETS.fanout10kMs && a.missing === 0 && a.connected === f.subscribers) : 'info',
    });
    out.push({
      metric: `fan-out ${f.subscribers} SSE: ..data rename → agent wrote all`,
      value: `${a.lastWriteMs} ms (first write ${a.firstWriteMs}; agent ${a.cpuS} CPU-s, clients ${a.clientCpuS} CPU-s)`,
      target: is10k ? `≤ ${TARGETS.fanout10kMs} ms` : '-',
      verdict: is10k ? v(a.lastWriteMs <= TARGETS.fanout10kMs) : 'info',
    });
    if (b) {
      out.push({
        metric: `fan-out ${f.subscribers} SSE: first write → all received, agent vs bare`,
        value: `${a.deliveredMs} vs ${b.deliveredMs} ms${x(f.ratio?.deliveredMs)}; wrote all in ${a.writeSpanMs} vs ${b.writeSpanMs} ms${x(f.ratio?.writeSpanMs)}${b.missing ? `; bare missing ${b.missing}` : ''}`,
        target: '-',
        verdict: 'info',
      });
    }
    out.push({
      metric: `fan-out ${f.subscribers} SSE: RSS per subscriber, agent${b ? ' vs bare' : ''}`,
      value: `${kb(a.bytesPerSubscriber)}${b ? ` vs ${kb(b.bytesPerSubscriber)}${x(f.ratio?.rssPerSubscriber)}` : ''} (agent ${a.rssBeforeMB} → ${a.rssAfterMB} MB)`,
      target: `≤ ${TARGETS.bytesPerSubscriber / 1024} KB`,
      verdict: v(a.bytesPerSubscriber <= TARGETS.bytesPerSubscriber),
    });
    out.push({
      metric: `fan-out ${f.subscribers} SSE: V8 heap per subscriber, agent${b ? ' vs bare' : ''}`,
      value:
        `live (after full GC) ${kb(a.liveHeapPerSubscriber)}${b ? ` vs ${kb(b.liveHeapPerSubscriber)}${x(f.ratio?.liveHeapPerSubscriber)}` : ''}; ` +
        `heapUsed Δ, no GC ${kb(a.heapUsedPerSubscriber)}${b ? ` vs ${kb(b.heapUsedPerSubscriber)}` : ''}`,
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
  if (r.footprint) {
    const f = r.footprint;
    out.push({
      metric: 'idle RSS, agent − bare node http',
      value: `${f.rssOverBareMB} MB (${f.agentIdleRssMB.p50} vs ${f.bareIdleRssMB.p50} MB)`,
      target: `≤ ${TARGETS.rssOverBareMB} MB`,
      verdict: v(f.rssOverBareMB <= TARGETS.rssOverBareMB),
    });
    out.push({
      metric: 'start → /readyz 200 (built agent)',
      value: `${f.agentReadyMs.p50} ms (bare node ${f.bareReadyMs.p50} ms)`,
      target: `≤ ${TARGETS.readyMs} ms`,
      verdict: v(f.agentReadyMs.p50 <= TARGETS.readyMs),
    });
    for (const [flags, x] of Object.entries(f.variants ?? {})) {
      out.push({ metric: `  variant ${flags}`, value: `idle RSS ${x.idleRssMB} MB, ready ${x.readyMs} ms`, target: '-', verdict: 'info' });
    }
  }
  if (r.apiScale) {
    if ('error' in r.apiScale) out.push({ metric: 'API scale (runApiScale)', value: String(r.apiScale.error), target: '-', verdict: 'info' });
    else for (const [k, x] of Object.entries(r.apiScale)) out.push({ metric: `API scale: ${k}`, value: String(round(x, 2)), target: '-', verdict: 'info' });
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  requireBuilt();
  const only = argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const quick = argv.includes('--quick');
  const want = (k: string): boolean => !only || only.includes(k);
  const log = (s: string): void => console.log(s);
  const t0 = Date.now();
  const r: BenchResults = { startedAt: new Date().toISOString(), durationS: 0, machine: machine() };
  // footprint first: it wants a quiet machine, and nothing of ours is running yet
  if (want('footprint')) {
    log('footprint (spawn → /readyz, idle RSS; agent vs bare node)');
    r.footprint = await runFootprint({ runs: quick ? 3 : 5, log, variants: quick ? [] : [['--max-semi-space-size=1']] });
  }
  if (want('http')) {
    log('http (autocannon in its own process; agent vs bare node:http, same bytes and headers)');
    r.http = await runHttpBench({ durationS: quick ? 4 : 8, rounds: quick ? 1 : 2, log });
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
