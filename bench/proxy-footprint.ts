// Memory per proxied watch: podmeta's ambassador (node dist/main.js, PODMETA_PROXY_LISTEN) side by side with
// `kubectl proxy`, both in front of the same fake API server (TLS, bearer token) in this process. For each:
// RSS once idle (after a short warm-up), then with N open watches (each on its own client connection, as
// informers do), per watch = (RSS with N − idle) / N. Also the TLS connections each opened upstream.
// Bounded: N watches once per proxy, a few seconds each.
//   $(node scripts/node-bin.mjs) --import tsx bench/proxy-footprint.ts [--n=300]     (the shipped Node)
//   npm run build first (it measures dist/main.js).

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, samplePod } from '../test/support/fake-apiserver.js';
import { SaDir } from '../test/support/sa-dir.js';
import { MB, round, rssBytes, sleep, spawnAgent, stats } from './lib.js';

const TOKEN = 'bench-proxy-token';

export interface ProxyFootprintSide {
  idleRssMB: number;
  withWatchesRssMB: number;
  perWatchKB: number;
  upstreamTlsConnections: number;
}

export interface ProxyFootprintResult {
  watches: number;
  node: string;
  podmeta: ProxyFootprintSide;
  kubectl: ProxyFootprintSide;
  /** podmeta per-watch / kubectl per-watch (≤ 1 meets issue 16's target) */
  ratio: number;
}

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
  // warm-up: discovery-sized requests and one watch opened and closed
  for (let i = 0; i < 20; i++) await get(port, '/api/v1/namespaces/default/pods/w-0');
  (await openWatch(port, 'w-warm')).destroy();
  await sleep(1500);
  const idle = await rssMB(pid);
  const tls0 = server.tlsConnections;
  const base = server.watchCount;
  const reqs: http.ClientRequest[] = [];
  for (let i = 0; i < n; i += 20) {
    reqs.push(...(await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => openWatch(port, `w-${i + k}`)))));
  }
  while (server.watchCount < base + n) await sleep(50);
  await sleep(1500);
  const loaded = await rssMB(pid);
  const tls = server.tlsConnections - tls0;
  for (const r of reqs) r.destroy();
  return { idleRssMB: round(idle), withWatchesRssMB: round(loaded), perWatchKB: round(((loaded - idle) * 1024) / n), upstreamTlsConnections: tls };
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

export async function runProxyFootprint({ watches = 300 }: { watches?: number } = {}): Promise<ProxyFootprintResult> {
  const server = await FakeApiServer.start({ tokens: [TOKEN] });
  const dir = await mkdtemp(join(tmpdir(), 'podmeta-bench-proxy-'));
  const sa = await SaDir.create({ token: TOKEN, caPem: server.caPem });
  for (let i = 0; i < 3; i++) server.putPod(samplePod({ name: `w-${i}`, namespace: 'default' }));
  try {
    // (log level info: the "podmeta listening" line gives the proxy's port)
    const agent = await spawnAgent({
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
    let podmeta: ProxyFootprintSide;
    try {
      const listening = agent.logs.find((l) => l.msg === 'podmeta listening')!;
      const port = Number(String(listening.proxy).split(':').pop());
      podmeta = await measure(agent.pid, port, server, Math.min(watches, 256));
    } finally {
      await agent.stop();
    }
    await sleep(500);
    const kc = await startKubectlProxy(server, dir);
    let kubectl: ProxyFootprintSide;
    try {
      kubectl = await measure(kc.proc.pid!, kc.port, server, Math.min(watches, 256));
    } finally {
      kc.proc.kill('SIGTERM');
    }
    return { watches: Math.min(watches, 256), node: process.version, podmeta, kubectl, ratio: round(podmeta.perWatchKB / kubectl.perWatchKB, 2) };
  } finally {
    await server.close();
    await sa.remove();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(/^--n=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--n=')) ?? '')?.[1] ?? 256);
  const r = await runProxyFootprint({ watches: n });
  console.log(JSON.stringify(r, null, 2));
  console.log(
    `per proxied watch: podmeta ${r.podmeta.perWatchKB} KB vs kubectl proxy ${r.kubectl.perWatchKB} KB → ratio ${r.ratio} (target ≤ 1); ` +
      `idle RSS ${r.podmeta.idleRssMB} vs ${r.kubectl.idleRssMB} MB; upstream TLS connections ${r.podmeta.upstreamTlsConnections} vs ${r.kubectl.upstreamTlsConnections} (node ${r.node})`,
  );
}
