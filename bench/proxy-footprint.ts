// Memory per proxied watch: podmeta's ambassador (node dist/main.js, PODMETA_PROXY_LISTEN) side by side with
// `kubectl proxy`, both in front of the same fake API server (TLS, bearer token, HTTP/2 and HTTP/1.1 by ALPN
// like kube-apiserver) in this process. For each: RSS once idle (after a short warm-up), then with N open
// watches (each on its own client connection, as informers do), per watch = (RSS with N − idle) / N. Also the
// TLS connections each opened upstream. Both multiplex over h2 (kubectl: client-go's Go transport; podmeta:
// its one transport). A third run puts podmeta in front of an HTTP/1.1-only server (the fallback: one
// upstream connection per watch — what every proxied watch cost before h2).
// Bounded: N watches once per run, a few seconds each.
//   $(node scripts/node-bin.mjs) --import tsx bench/proxy-footprint.ts [--n=200] [--no-h1]     (the shipped Node)
//   npm run build first (it measures dist/main.js). The agent and the floor's bare processes run with the image's node
//   flags (the Dockerfile's ENTRYPOINT, e.g. the V8 heap bounds); PODMETA_BENCH_NODE_ARGS='…' replaces them ('' = none).

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, samplePod } from '../test/support/fake-apiserver.js';
import { SaDir } from '../test/support/sa-dir.js';
import { imageNodeFlags, MB, round, rssBytes, sleep, spawnAgent, stats } from './lib.js';

const TOKEN = 'bench-proxy-token';

export interface ProxyFootprintSide {
  idleRssMB: number;
  withWatchesRssMB: number;
  perWatchKB: number;
  /** TLS connections open at the API server while the N watches were open */
  upstreamTlsConnections: number;
  /** the protocol of the upstream requests, from the fake server's wire log */
  upstreamProtocol: string;
}

/** the node flags of the agent and of the floor's bare processes */
const nodeArgs = (): string[] => (process.env.PODMETA_BENCH_NODE_ARGS === undefined ? imageNodeFlags() : process.env.PODMETA_BENCH_NODE_ARGS.split(/[ ,]+/).filter(Boolean));

export interface ProxyFootprintDetail {
  watches: number;
  node: string;
  /** node flags of the agent and of the floor's processes (the image's, by default) */
  nodeArgs: string[];
  podmeta: ProxyFootprintSide;
  kubectl: ProxyFootprintSide;
  /** podmeta in front of an HTTP/1.1-only server (undefined with h1: false) */
  podmetaHttp1?: ProxyFootprintSide;
  /** Node's own floor per proxied watch on this binary (bare node:http + bare node:http2, no podmeta code) */
  floor?: NodeFloor;
  /** podmeta per-watch / kubectl per-watch (≤ 1 meets issue 16's target) */
  ratio: number;
}

export interface NodeFloor {
  /** RSS per chunked response held open by a bare node:http server, one client connection each */
  serverResponseKB: number;
  /** RSS per open stream of a bare node:http2 client session (TLS, verified), one session */
  h2StreamKB: number;
  /** the sum: what any proxied watch costs a Node process built on node:http + node:http2 */
  perWatchKB: number;
}

/** bench/run.ts's rows: flat name → value; `ratio` is the verdict row (≤ 1). */
export type ProxyFootprintResult = Record<string, number | string>;

/** Open one watch through the proxy at `port`; resolves once its 200 headers arrived. */
function openWatch(port: number, name: string): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: `/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3D${name}`, agent: false },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch ${name}: HTTP ${res.statusCode}`));
        res.resume();
        resolve(req);
      },
    );
    req.on('error', reject);
  });
}

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => res.resume().on('end', () => resolve())).on('error', reject);
  });
}

/** Median of a few RSS samples, MB. */
async function rssMB(pid: number): Promise<number> {
  const s: number[] = [];
  for (let i = 0; i < 5; i++) {
    s.push(rssBytes(pid) / MB);
    await sleep(200);
  }
  return stats(s).p50;
}

async function measure(pid: number, port: number, server: FakeApiServer, n: number): Promise<ProxyFootprintSide> {
  const wire0 = server.wire.length;
  // warm-up: discovery-sized requests and one watch opened and closed
  for (let i = 0; i < 20; i++) await get(port, '/api/v1/namespaces/default/pods/w-0');
  (await openWatch(port, 'w-warm')).destroy();
  await sleep(1500);
  const idle = await rssMB(pid);
  const base = server.watchCount;
  const reqs: http.ClientRequest[] = [];
  for (let i = 0; i < n; i += 20) {
    reqs.push(...(await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => openWatch(port, `w-${i + k}`)))));
  }
  while (server.watchCount < base + n) await sleep(50);
  await sleep(1500);
  const loaded = await rssMB(pid);
  const tls = server.openTlsConnections;
  for (const r of reqs) r.destroy();
  const versions = [...new Set(server.wire.slice(wire0).map((w) => (w.httpVersion === '2.0' ? 'h2' : `HTTP/${w.httpVersion}`)))].join('+');
  while (server.watchCount > base) await sleep(50);
  return { idleRssMB: round(idle), withWatchesRssMB: round(loaded), perWatchKB: round(((loaded - idle) * 1024) / n), upstreamTlsConnections: tls, upstreamProtocol: versions };
}

async function startKubectlProxy(server: FakeApiServer, dir: string): Promise<{ proc: ChildProcess; port: number }> {
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: server.url.origin, 'certificate-authority-data': Buffer.from(server.caPem).toString('base64') } }],
      users: [{ name: 'sa', user: { token: TOKEN } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'sa' } }],
      'current-context': 'fake',
    }),
  );
  const proc = spawn('kubectl', ['proxy', '--port=0', `--kubeconfig=${kubeconfig}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: dir } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kubectl proxy did not start: ${out}`)), 15_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Starting to serve on [^\s]*:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`kubectl proxy exited ${code}: ${out}`)));
  });
  return { proc, port };
}

async function measurePodmeta(server: FakeApiServer, n: number): Promise<ProxyFootprintSide> {
  const sa = await SaDir.create({ token: TOKEN, caPem: server.caPem });
  try {
    // (log level info: the "podmeta listening" line gives the proxy's port)
    const agent = await spawnAgent({
      nodeArgs: nodeArgs(),
      env: {
        PODMETA_API: 'on',
        PODMETA_SA_DIR: sa.dir,
        PODMETA_NODE_LABELS: '',
        KUBERNETES_SERVICE_HOST: server.host,
        KUBERNETES_SERVICE_PORT: server.port,
        PODMETA_PROXY_LISTEN: '127.0.0.1:0',
        PODMETA_PROXY_MAX_WATCHES: '256',
      },
    });
    try {
      const listening = agent.logs.find((l) => l.msg === 'podmeta listening')!;
      const port = Number(String(listening.proxy).split(':').pop());
      return await measure(agent.pid, port, server, n);
    } finally {
      await agent.stop();
    }
  } finally {
    await sa.remove();
  }
}

// ---- Node's floor: the same two primitives with no podmeta code around them, in a child process each -------

const FLOOR_SERVER = `
const http = require('node:http');
const n = Number(process.argv[1]);
const held = [];
const rss = () => process.memoryUsage().rss;
const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); res.write('{"type":"ADDED"}\\n'); held.push(res); });
server.listen(0, '127.0.0.1', async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const { port } = server.address();
  const clients = (k) => require('node:child_process').spawn(process.execPath, ['-e', "const http=require('node:http');for(let i=0;i<" + k + ";i++)http.get({host:'127.0.0.1',port:" + port + ",path:'/w'+i,agent:false},(r)=>r.resume());setInterval(()=>{},1000)"], { stdio: 'ignore' });
  // warm-up as the agent gets one (20 responses opened and closed), then idle
  const warm = clients(20);
  while (held.length < 20) await sleep(50);
  warm.kill();
  for (const r of held.splice(0)) r.end();
  await sleep(1500);
  const before = rss();
  const client = clients(n);
  while (held.length < n) await sleep(50);
  await sleep(1500);
  console.log(JSON.stringify({ kb: (rss() - before) / 1024 / n }));
  client.kill();
  process.exit(0);
});
`;

const FLOOR_H2 = `
const http2 = require('node:http2');
const [n, port, ca] = [Number(process.argv[1]), process.argv[2], process.env.FLOOR_CA];
const rss = () => process.memoryUsage().rss;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const session = http2.connect('https://127.0.0.1:' + port, { ca });
  await new Promise((r) => session.once('remoteSettings', r));
  const warm = session.request({ ':path': '/version' });
  warm.resume();
  await new Promise((r) => warm.once('end', r));
  await sleep(1000);
  const before = rss();
  const streams = [];
  for (let i = 0; i < n; i++) {
    const st = session.request({ ':path': '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dw-' + (i % 3), authorization: 'Bearer ' + process.env.FLOOR_TOKEN });
    st.on('data', () => {});
    streams.push(st);
  }
  await sleep(1500);
  console.log(JSON.stringify({ kb: (rss() - before) / 1024 / n }));
  process.exit(0);
})();
`;

async function childKB(script: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const proc = spawn(process.execPath, [...nodeArgs(), '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => proc.once('exit', resolve));
  return (JSON.parse(out.trim().split('\n').pop()!) as { kb: number }).kb;
}

/** The floor, measured on this Node binary against the same fake server (two runs each, the lower kept). */
async function measureFloor(server: FakeApiServer, n: number): Promise<NodeFloor> {
  const serverKB = Math.min(await childKB(FLOOR_SERVER, [String(n)]), await childKB(FLOOR_SERVER, [String(n)]));
  const h2 = (): Promise<number> => childKB(FLOOR_H2, [String(n), server.port], { FLOOR_CA: server.caPem, FLOOR_TOKEN: TOKEN });
  const h2KB = Math.min(await h2(), await h2());
  while (server.watchCount > 0) await sleep(50);
  return { serverResponseKB: round(serverKB), h2StreamKB: round(h2KB), perWatchKB: round(serverKB + h2KB) };
}

async function fakeServer(http2: boolean): Promise<FakeApiServer> {
  const server = await FakeApiServer.start({ tokens: [TOKEN], http2 });
  for (let i = 0; i < 3; i++) server.putPod(samplePod({ name: `w-${i}`, namespace: 'default' }));
  return server;
}

/** The measurements, nested (the CLI prints them); runProxyFootprint() flattens them for bench/run.ts. */
export async function measureProxyFootprint({ watches = 200, h1 = true, log = () => {} }: { watches?: number; h1?: boolean; log?: (s: string) => void } = {}): Promise<ProxyFootprintDetail> {
  const n = Math.min(watches, 256);
  const server = await fakeServer(true);
  const dir = await mkdtemp(join(tmpdir(), 'podmeta-bench-proxy-'));
  try {
    log(`  podmeta proxy, ${n} watches, h2-capable API server`);
    const podmeta = await measurePodmeta(server, n);
    await sleep(500);
    log(`  kubectl proxy, ${n} watches, the same server`);
    const kc = await startKubectlProxy(server, dir);
    let kubectl: ProxyFootprintSide;
    try {
      kubectl = await measure(kc.proc.pid!, kc.port, server, n);
    } finally {
      kc.proc.kill('SIGTERM');
    }
    log(`  Node's floor: a bare node:http server holding ${n} responses, a bare node:http2 client with ${n} streams`);
    const floor = await measureFloor(server, n);
    let podmetaHttp1: ProxyFootprintSide | undefined;
    if (h1) {
      log(`  podmeta proxy, ${n} watches, HTTP/1.1-only API server (the fallback)`);
      const old = await fakeServer(false);
      try {
        podmetaHttp1 = await measurePodmeta(old, n);
      } finally {
        await old.close();
      }
    }
    return { watches: n, node: process.version, nodeArgs: nodeArgs(), podmeta, kubectl, ...(podmetaHttp1 ? { podmetaHttp1 } : {}), floor, ratio: round(podmeta.perWatchKB / kubectl.perWatchKB, 2) };
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const side = (x: ProxyFootprintSide): string =>
  `${x.perWatchKB} KB/watch (idle ${x.idleRssMB} MB, ${x.withWatchesRssMB} MB with the watches; ${x.upstreamTlsConnections} upstream TLS connection(s), ${x.upstreamProtocol})`;

/** For bench/run.ts: one row per measure; `ratio` (podmeta / kubectl proxy per watch) is the target row (≤ 1). */
export async function runProxyFootprint(o: { watches?: number; h1?: boolean; log?: (s: string) => void } = {}): Promise<ProxyFootprintResult> {
  const r = await measureProxyFootprint(o);
  const rows: ProxyFootprintResult = {
    [`podmeta, ${r.watches} watches over h2 (node ${r.nodeArgs.join(' ') || 'without flags'})`]: side(r.podmeta),
    [`kubectl proxy, ${r.watches} watches, same server`]: side(r.kubectl),
  };
  if (r.podmetaHttp1) rows[`podmeta, ${r.watches} watches, HTTP/1.1-only server`] = side(r.podmetaHttp1);
  if (r.floor) {
    rows[`Node's floor per proxied watch (bare node:http + node:http2, same binary)`] =
      `${r.floor.perWatchKB} KB (held response ${r.floor.serverResponseKB} KB + h2 stream ${r.floor.h2StreamKB} KB); podmeta ÷ floor ${round(r.podmeta.perWatchKB / r.floor.perWatchKB, 2)}`;
  }
  rows.ratio = r.ratio;
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(/^--n=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--n=')) ?? '')?.[1] ?? 200);
  const r = await measureProxyFootprint({ watches: n, h1: !process.argv.includes('--no-h1'), log: (l) => console.error(l) });
  console.log(JSON.stringify(r, null, 2));
  console.log(
    `per proxied watch: podmeta ${r.podmeta.perWatchKB} KB vs kubectl proxy ${r.kubectl.perWatchKB} KB → ratio ${r.ratio} (target ≤ 1); ` +
      `idle RSS ${r.podmeta.idleRssMB} vs ${r.kubectl.idleRssMB} MB; upstream TLS connections ${r.podmeta.upstreamTlsConnections} (${r.podmeta.upstreamProtocol}) vs ${r.kubectl.upstreamTlsConnections} (${r.kubectl.upstreamProtocol})` +
      (r.podmetaHttp1 ? `; podmeta on an HTTP/1.1-only server: ${r.podmetaHttp1.perWatchKB} KB/watch, ${r.podmetaHttp1.upstreamTlsConnections} connections` : '') +
      (r.floor ? `; Node's floor ${r.floor.perWatchKB} KB/watch (held response ${r.floor.serverResponseKB} + h2 stream ${r.floor.h2StreamKB})` : '') +
      ` (node ${r.node} ${r.nodeArgs.join(' ')})`,
  );
}
