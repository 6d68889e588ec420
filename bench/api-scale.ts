// Scale check of the API source: N agents (each its own ApiSource, https.Agent and watches) against one
// fake API server for a simulated hour in compressed time, with disruptions:
//   minute 20  every watch stream dropped (apiserver restart / load-balancer reset)
//   minute 30  history compacted + streams dropped → re-watches get ERROR 410 → one relist each
//   minute 40  every watch stream dropped again
//   every 5 simulated minutes, 10 % of the pods change a label (MODIFIED events)
// Every duration on both sides is multiplied by `timeScale` (watch timeoutSeconds on the server side,
// backoff / bookmark / guard timings on the client side), so the request counts per simulated hour are the
// ones a real cluster would see; they are then extrapolated to 10 000 pods.
// The quiet window (minutes 5–19) shows the steady state: no list, no get — only watch renewals.
// Every agent runs with the default PODMETA_NODE_LABELS. Run twice: pods without topology labels (the Node is
// watched too) and pods carrying topology.kubernetes.io/zone + /region (Kubernetes ≥ 1.35, KEP-4742: the
// Node is never read).
//
//   tsx bench/api-scale.ts [agents] [simulatedMinutes]

import { pathToFileURL } from 'node:url';
import { createApiSource, type ApiSource } from '../src/apiserver/index.js';
import type { ApiTiming } from '../src/apiserver/timing.js';
import { createLogger } from '../src/log.js';
import { FakeApiServer, samplePod, sampleNode, type RequestRecord } from '../test/support/fake-apiserver.js';
import { fakeJwt, SaDir } from '../test/support/sa-dir.js';

export interface ApiScaleOptions {
  agents?: number;
  simulatedMinutes?: number;
  /** real ms per simulated ms (default 1/120: one simulated hour takes 30 s) */
  timeScale?: number;
  nodes?: number;
  /** the pods carry the topology labels (zone, region) that Kubernetes ≥ 1.35 copies from the Node */
  topology?: boolean;
  print?: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const count = (rs: readonly RequestRecord[], verb: string, resource?: string): number =>
  rs.filter((r) => r.verb === verb && (resource === undefined || r.resource === resource)).length;

export async function runApiScale(opts: ApiScaleOptions = {}): Promise<Record<string, number>> {
  const { agents = 300, simulatedMinutes = 60, timeScale = 1 / 120, nodes = 20, topology = false, print = () => {} } = opts;
  const S = timeScale;
  const minute = 60_000 * S; // real ms per simulated minute
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token], timeScale: S, bookmarkIntervalMs: 60_000 * S });
  const sa = await SaDir.create({ token, caPem: server.caPem });
  for (let n = 0; n < nodes; n++) server.putNode(sampleNode(`node-${n}`));
  const zoneOf = (n: number) => ({ zone: `eu-west-1${'abc'[n % 3]}`, region: 'eu-west-1' });
  for (let i = 0; i < agents; i++) {
    server.putPod(samplePod({ name: `pod-${i}`, nodeName: `node-${i % nodes}`, ...(topology ? { topology: zoneOf(i % nodes) } : {}) }));
  }
  const watchesPerAgent = topology ? 1 : 2;

  const timing: Partial<ApiTiming> = {
    tokenRefreshMs: 60_000 * S,
    backoffInitialMs: 800 * S,
    backoffMaxMs: 30_000 * S,
    backoffPersistentMaxMs: 300_000 * S,
    backoffResetMs: 120_000 * S,
    quickFailMs: 1_000 * S,
    inactivityMs: 'auto',
    inactivityMarginMs: 30_000 * S,
    labelGraceMs: 10_000 * S,
    requestTimeoutMs: 30_000,
  };
  let logLines = 0;
  let parts = 0;
  const log = createLogger({ level: 'info', write: () => void logLines++ });
  const sources: ApiSource[] = [];
  const rss0 = process.memoryUsage().rss;
  const tStart = Date.now();
  for (let i = 0; i < agents; i++) {
    const src = createApiSource({
      mode: 'on',
      saDir: sa.dir,
      serviceHost: server.host,
      servicePort: server.port,
      podName: `pod-${i}`,
      nodeLabels: ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'kubernetes.io/arch', 'kubernetes.io/os'],
      nodeLabelsDefault: true,
      log,
      onPart: () => void parts++,
      onStatus: () => {},
      timing,
    });
    sources.push(src);
    await src.start();
  }
  await server.waitFor(() => server.watchCount === watchesPerAgent * agents, `${watchesPerAgent * agents} watches`, 60_000);
  const rssPerAgent = (process.memoryUsage().rss - rss0) / agents;
  const startup = { lists: count(server.requests, 'list'), watches: count(server.requests, 'watch'), ms: Date.now() - tStart };
  print(`${agents} agents watching (${server.watchCount} streams) after ${startup.ms} ms: ${startup.lists} lists, ${startup.watches} watches`);
  // the simulated hour starts now (startup is reported separately)
  const t0 = Date.now();

  const at = (m: number): number => t0 + m * minute;
  const disruptions = { drops: 0, compactions: 0 };
  // real ms until every agent's pod and node watch is open again after a disruption (from the request log)
  const disruptedAt: { at: number; relist: boolean }[] = [];
  const recovered = (relist: boolean): void => void disruptedAt.push({ at: Date.now(), relist });
  for (let m = 1; m <= simulatedMinutes; m++) {
    await sleep(Math.max(0, at(m) - Date.now()));
    if (m % 5 === 0) {
      for (let i = 0; i < agents; i += 10) {
        server.modifyPod('default', `pod-${(i + m) % agents}`, (p) => {
          p.metadata.labels!['revision'] = String(m);
        });
      }
    }
    if (m === 20 || m === 40) {
      server.dropWatches();
      disruptions.drops++;
      recovered(false);
    }
    if (m === 30) {
      server.putPod(samplePod({ name: 'unrelated' }));
      server.compact();
      server.dropWatches();
      disruptions.compactions++;
      recovered(true);
    }
    if (m % 10 === 0) print(`simulated minute ${m}: ${server.watchCount} open watches, ${server.requests.length} requests so far`);
  }
  const tEnd = Date.now();
  // settle (bounded): every agent's watches open again, so each 410 relist has happened (under CPU load a
  // relist can take longer than the simulated minutes left)
  await server.waitFor(() => server.watchCount === watchesPerAgent * agents, 'every watch open again', 30_000).catch(() => undefined);
  const recoveryMs = disruptedAt.map(({ at: since, relist }) => recoveryTime(server.requests, since, relist));
  const stopStart = Date.now();
  await Promise.all(sources.map((s) => s.stop()));
  const stopMs = Date.now() - stopStart;
  await server.close();
  await sa.remove();

  const hours = simulatedMinutes / 60;
  const inRange = (from: number, to: number) => server.requests.filter((r) => r.time >= from && r.time < to);
  const all = inRange(t0, tEnd);
  const quiet = inRange(at(5), at(Math.min(19, simulatedMinutes)));
  const quietHours = (Math.min(19, simulatedMinutes) - 5) / 60;
  const perAgentHour = (n: number, h = hours) => round(n / agents / h);
  const steadyWatches = quietHours > 0 ? count(quiet, 'watch') / agents / quietHours : 0;
  const result: Record<string, number> = {
    agents,
    simulatedMinutes,
    timeScale: S,
    topologyLabelsOnPods: topology ? 1 : 0,
    'requests/agent/h': perAgentHour(all.length),
    'node.requests/agent/h': perAgentHour(all.filter((r) => r.resource === 'nodes').length),
    'node.requests/agent (whole run)': round(server.requests.filter((r) => r.resource === 'nodes').length / agents),
    'lists/agent/h': perAgentHour(count(all, 'list')),
    'watches/agent/h': perAgentHour(count(all, 'watch')),
    'gets/agent/h': perAgentHour(count(all, 'get')),
    'pod.watches/agent/h': perAgentHour(count(all, 'watch', 'pods')),
    'node.watches/agent/h': perAgentHour(count(all, 'watch', 'nodes')),
    'non-200/agent/h': perAgentHour(all.filter((r) => r.status !== 200).length),
    'steady.lists/agent/h': quietHours > 0 ? round(count(quiet, 'list') / agents / quietHours) : 0,
    'steady.gets/agent/h': quietHours > 0 ? round(count(quiet, 'get') / agents / quietHours) : 0,
    'steady.watches/agent/h': round(steadyWatches),
    'steady.requests/s@10k pods': round((steadyWatches * 10_000) / 3600),
    'startup.lists/agent': round(startup.lists / agents),
    'startup.watches/agent': round(startup.watches / agents),
    'lists/agent after a drop (min 20–30)': round(count(inRange(at(20), at(30)), 'list') / agents),
    // to the end (after the settle): nothing after minute 30 causes a list but the 410
    'lists/agent after the 410 (min 30–end)': round(count(inRange(at(30), Infinity), 'list') / agents),
    'recovery after drop, real ms': Math.max(recoveryMs[0] ?? 0, recoveryMs[2] ?? 0),
    'recovery after 410, real ms': recoveryMs[1] ?? 0,
    drops: disruptions.drops,
    compactions: disruptions.compactions,
    'log lines/agent': round(logLines / agents),
    'parts/agent': round(parts / agents),
    'rss KiB/agent': Math.round(rssPerAgent / 1024),
    'stop ms (all agents)': stopMs,
    'real seconds': round((tEnd - t0) / 1000),
  };
  return result;
}

/** ms from `since` until the last selector (pod or node of one agent) had a watch open again; with
 * `relist`, the watch has to come after that selector's relist. */
function recoveryTime(requests: readonly RequestRecord[], since: number, relist: boolean): number {
  const listed = new Set<string>();
  const back = new Map<string, number>();
  for (const r of requests) {
    if (r.time < since) continue;
    const sel = `${r.resource} ${r.query['fieldSelector'] ?? ''}`;
    if (r.verb === 'list') listed.add(sel);
    if (r.verb === 'watch' && r.status === 200 && !back.has(sel) && (!relist || listed.has(sel))) back.set(sel, r.time - since);
  }
  return Math.max(0, ...back.values());
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const agents = Number(process.argv[2] ?? 300);
  const minutes = Number(process.argv[3] ?? 60);
  const runs = [];
  for (const topology of [false, true]) {
    console.log(`--- pods ${topology ? 'WITH' : 'without'} topology labels (default PODMETA_NODE_LABELS)`);
    runs.push(await runApiScale({ agents, simulatedMinutes: minutes, topology, print: (l) => console.log(l) }));
  }
  console.log('');
  console.log(`${'metric'.padEnd(38)} ${'no topology'.padStart(12)} ${'topology'.padStart(12)}`);
  for (const k of Object.keys(runs[0]!)) console.log(`${k.padEnd(38)} ${String(runs[0]![k]).padStart(12)} ${String(runs[1]![k]).padStart(12)}`);
  console.log('');
  console.log('reference: @kubernetes/client-node 2.0.1 renews a quiet watch every 30 s = 120 watches/h per resource;');
  console.log('           a 10 s GET poller = 360 gets/h. Steady state here: watch renewals only (timeoutSeconds 300–600).');
}
