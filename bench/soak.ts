// `npm run soak`: mixed load against ONE built agent (child process, production timings) for a bounded time,
// then checks. Exits non-zero on any failure.
//
// Load, all at once:
//   - a kubelet-style writer changes the downwardAPI volume rapidly (bursts included), and the fake API
//     server's pod gets the same labels/annotations (as the real apiserver → kubelet chain would);
//   - the fake API server drops and ends watch streams, compacts its history (410 inside a 200 watch),
//     answers 410/429 (with Retry-After)/500, rotates the service-account token (old one revoked later);
//   - GET loops over the document, parts, text format, ETags, /status; long-poll loops;
//   - SSE: subscribers that stay the whole time (full document and ?path=), clients that resume with
//     Last-Event-ID after short disconnects, and clients that connect and leave;
//   - hostile clients: oversized headers, slowloris, garbage paths, bodies on GET, invalid percent-encoding,
//     huge query strings, non-HTTP garbage bytes, a TLS ClientHello, wrong methods, pipelining;
//   - the attacks of issue 9 in turn: connection floods on both listeners, pipelined /metrics and /events,
//     request smuggling through the ambassador proxy (the API server's wire log must never show it).
// Checks at the end:
//   - the document equals the last state written (labels, annotations — the excluded one absent —, cpu);
//   - every SSE client that stayed saw revisions +1 each (full stream) / increasing (path stream), patches
//     that apply to its snapshot (fast-json-patch), ending equal to the final GET; the resuming clients too;
//   - nothing answered 5xx; the agent never stopped serving; RSS growth after warm-up below a bound, and the
//     peak RSS below 0.8 × the shipped container memory limit (src/inject/template.ts);
//   - no `level: error` line in the agent's JSON logs and nothing on its stderr; SIGTERM → exit 0.
// The agent runs with the image's Node flags (the Dockerfile's ENTRYPOINT: the V8 heap bounds); every 5 s
// the summary gets RSS split by /proc/PID/smaps_rollup (anonymous / file-backed) and the agent's own V8 heap
// (used / committed, new space) and external memory from its /metrics.
//   node --import tsx bench/soak.ts [--seconds=90] [--rss-bound-mb=50] [--peak-share=0.8] [--chaos=drop,halfopen,...]
//        [--attacks=flood,metrics,events,smuggle] [--node-args=<flag,flag> (instead of the image's)] [--verbose]

import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import { deepStrictEqual } from 'node:assert/strict';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { FakeApiServer, samplePod, sampleNode } from '../test/support/fake-apiserver.js';
import { fakeJwt, SaDir } from '../test/support/sa-dir.js';
import { formatMap } from '../test/support/kubelet-volume.js';
import { HOSTILE, raw } from '../test/support/hostile.js';
import { sampleFiles } from '../test/support/samples.js';
import { readFileSync } from 'node:fs';
import { SIDECAR_RESOURCES } from '../src/inject/template.js';
import { MB, httpGet, imageNodeFlags, metricValue, openSseClient, round, sleep, spawnAgent, type AgentProcess, type SseClient } from './lib.js';

const POD = 'web-5d9c7b8f4-x7k2p';
const NS = 'default';
const UID = '1d591f87-4c1d-4a4e-9c2f-2b7d0a4e8f31';
const EXCLUDED = 'kubectl.kubernetes.io/last-applied-configuration';

const failures = new Map<string, { count: number; example: string }>();
function fail(kind: string, detail: string): void {
  const f = failures.get(kind);
  if (f) f.count++;
  else {
    failures.set(kind, { count: 1, example: detail });
    console.log(`  FAIL ${kind}: ${detail}`);
  }
}

const counters = new Map<string, number>();
const count = (k: string, n = 1): void => void counters.set(k, (counters.get(k) ?? 0) + n);
const pick = <T>(xs: readonly T[]): T => xs[randomInt(xs.length)]!;
const rnd = (a: number, b: number): number => a + Math.random() * (b - a);

// ---- the state being written ---------------------------------------------------------------------

const VALUES = ['v', 'multi\nline\nvalue\n', 'quote"d', 'back\\slash', 'tab\there', '日本語', '🚀 rocket', 'nbsp\u00a0x', 'ls\u2028x', 'bom\ufeff', '', 'x'.repeat(300)];
const LABEL_VALUES = ['v1', 'canary', 'stable', 'a.b-c_d', '', 'x'.repeat(63)];
const LABEL_KEYS = ['tier', 'track', 'app.kubernetes.io/version', 'example.com/slash', 'with~tilde', 'release'];
const ANNOTATION_KEYS = ['note', 'example.com/owner', 'checksum/config', 'a~b/c', 'prometheus.io/scrape'];

interface State {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cpuMilli: number;
  seq: number;
}

function initialState(): State {
  return {
    labels: { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'app.kubernetes.io/name': 'web' },
    annotations: {
      'kubernetes.io/config.seen': '2026-11-22T10:15:00.000000000Z',
      'kubernetes.io/config.source': 'api',
      [EXCLUDED]: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: POD }, spec: { pad: 'x'.repeat(4000) } }),
    },
    cpuMilli: 15,
    seq: 0,
  };
}

function mutate(s: State): void {
  s.seq++;
  s.labels.seq = String(s.seq);
  const r = Math.random();
  if (r < 0.3) s.labels[pick(LABEL_KEYS)] = pick(LABEL_VALUES);
  else if (r < 0.45) delete s.labels[pick(LABEL_KEYS)];
  else if (r < 0.75) s.annotations[pick(ANNOTATION_KEYS)] = pick(VALUES);
  else if (r < 0.85) delete s.annotations[pick(ANNOTATION_KEYS)];
  else if (r < 0.9) s.cpuMilli = pick([5, 15, 100, 250, 1000, 1500]);
}

function volumeFiles(s: State): Record<string, string> {
  return {
    ...sampleFiles(),
    podName: POD,
    podNamespace: NS,
    podUid: UID,
    labels: formatMap(s.labels),
    annotations: formatMap(s.annotations),
    containerCpuRequestMilliCores: String(s.cpuMilli),
  };
}

// ---- SSE consistency ------------------------------------------------------------------------------

interface Tracker {
  name: string;
  path: string | undefined;
  doc: unknown;
  revision: number;
  events: number;
  reconnects: number;
}

function applyEvent(t: Tracker, e: { event: string; data: string; id: string | undefined }): void {
  t.events++;
  if (e.data.includes(EXCLUDED)) fail('excluded annotation in an SSE event', `${t.name}: ${e.data.slice(0, 120)}`);
  if (e.event === 'snapshot') {
    const doc = JSON.parse(e.data) as unknown;
    t.doc = doc;
    const rev = Number(e.id?.split('.').at(-1));
    if (t.path === undefined && (doc as { revision?: number }).revision !== rev) fail('snapshot id/revision mismatch', `${t.name}: id ${e.id}`);
    t.revision = rev;
    return;
  }
  if (e.event !== 'change') return;
  const c = JSON.parse(e.data) as { revision: number; patch: Operation[] };
  if (t.doc === undefined) {
    fail('change before snapshot', t.name);
    return;
  }
  if (t.path === undefined ? c.revision !== t.revision + 1 : c.revision <= t.revision) {
    fail('revision sequence broken', `${t.name}: had ${t.revision}, got ${c.revision}`);
  }
  try {
    t.doc = jsonpatch.applyPatch(t.doc, c.patch, true, true).newDocument;
  } catch (err) {
    fail('patch does not apply', `${t.name} rev ${c.revision}: ${(err as Error).message}`);
  }
  if (t.path === undefined) (t.doc as { revision: number }).revision = c.revision;
  t.revision = c.revision;
}

async function stayer(base: string, name: string, path: string | undefined, stop: () => boolean): Promise<Tracker> {
  const t: Tracker = { name, path, doc: undefined, revision: 0, events: 0, reconnects: 0 };
  const sse = await openSseClient(`${base}/events${path ? `?path=${path}` : ''}`);
  let seen = 0;
  const drain = (): void => {
    while (seen < sse.events.length) applyEvent(t, sse.events[seen++]!);
    sse.events.splice(0, seen);
    seen = 0;
  };
  let closed = false;
  void sse.closed.then(() => (closed = true));
  (t as Tracker & { sse: SseClient; drain: () => void }).sse = sse;
  (t as Tracker & { drain: () => void }).drain = drain;
  while (!stop()) {
    drain();
    if (closed) {
      fail('a staying SSE stream was closed by the agent', name);
      break;
    }
    await sleep(50);
  }
  drain();
  return t;
}

/** Disconnects every 0.3–2 s and resumes with Last-Event-ID; keeps one document across reconnects. */
async function resumer(base: string, name: string, stop: () => boolean): Promise<Tracker> {
  const t: Tracker = { name, path: undefined, doc: undefined, revision: 0, events: 0, reconnects: 0 };
  let lastId: string | undefined;
  let final: SseClient | undefined;
  while (!stop()) {
    const sse = await openSseClient(`${base}/events`, { Metadata: 'true', ...(lastId ? { 'Last-Event-ID': lastId } : {}) });
    t.reconnects++;
    const until = Date.now() + rnd(300, 2000);
    while (Date.now() < until && !stop()) await sleep(50);
    const evs = sse.events.splice(0);
    for (const e of evs) {
      applyEvent(t, e);
      if (e.id) lastId = e.id;
    }
    if (stop()) final = sse;
    else {
      sse.close();
      // events that arrived between splice and close belong to this connection too
      await sleep(20);
      for (const e of sse.events.splice(0)) {
        applyEvent(t, e);
        if (e.id) lastId = e.id;
      }
    }
  }
  // always end on an open connection (resumed from the last id) so the final check sees every revision
  final ??= await openSseClient(`${base}/events`, { Metadata: 'true', ...(lastId ? { 'Last-Event-ID': lastId } : {}) });
  (t as Tracker & { sse?: SseClient }).sse = final;
  return t;
}

/** A Kubernetes memory quantity with a binary suffix ("160Mi") in bytes. */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`soak: cannot read the memory quantity ${q}`);
  return Number(m[1]) * 1024 ** (['Ki', 'Mi', 'Gi'].indexOf(m[2]!) + 1);
}

// ---- where the memory is ---------------------------------------------------------------------------

interface MemSample {
  s: number;
  /** VmRSS, and its anonymous / file-backed parts (smaps_rollup) */
  rss: number;
  anon: number;
  file: number;
  /** V8: heap used / committed, new space committed, external (Buffers and ArrayBuffers included) */
  heapUsed: number;
  heapTotal: number;
  newSpace: number;
  external: number;
}

function smaps(pid: number): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('Rss'), anon: kb('Anonymous'), file: kb('Rss') - kb('Anonymous') };
}

/** RSS split by smaps_rollup and the agent's own nodejs_* metrics (scraped on the probe port). */
async function memSample(a: AgentProcess, t0: number): Promise<MemSample | undefined> {
  try {
    const m = smaps(a.pid);
    const text = (await httpGet(`${a.probe}/metrics`)).body.toString();
    const v = (series: string): number => metricValue(text, series) ?? NaN;
    return {
      s: Math.round((Date.now() - t0) / 1000),
      ...m,
      heapUsed: v('nodejs_heap_size_used_bytes'),
      heapTotal: v('nodejs_heap_size_total_bytes'),
      newSpace: v('nodejs_heap_space_size_total_bytes{space="new"}'),
      external: v('nodejs_external_memory_bytes'),
    };
  } catch {
    return undefined; // exited (reported elsewhere) or the probe refused (a flood in progress)
  }
}

const mb = (x: number): number => round(x / MB, 1);
const fmtMem = (m: MemSample): string =>
  `${m.s}s rss ${mb(m.rss)} (anon ${mb(m.anon)} file ${mb(m.file)}) heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} new ${mb(m.newSpace)} ext ${mb(m.external)}`;

// ---- main ---------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const attackKinds = (argv.find((a) => a.startsWith('--attacks='))?.slice(10) ?? 'flood,metrics,events,smuggle').split(',');
  const seconds = Math.min(300, Math.max(20, Number(argv.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 90)));
  const rssBoundMB = Number(argv.find((a) => a.startsWith('--rss-bound-mb='))?.slice(15) ?? 50);
  const ALL_CHAOS = ['drop', 'end', 'compact', '429', '500', '410', 'rotate', 'bookmark', 'halfopen'] as const;
  const chaosArg = argv.find((a) => a.startsWith('--chaos='))?.slice(8);
  const chaosKinds = chaosArg === undefined ? [...ALL_CHAOS] : ALL_CHAOS.filter((k) => chaosArg.split(',').includes(k));
  const verbose = argv.includes('--verbose');
  // extra Node/V8 flags for the agent (to measure one against the image's ENTRYPOINT flags)
  // (default: the image's, from the Dockerfile's ENTRYPOINT — the soak measures what ships)
  const nodeArgsArg = argv.find((a) => a.startsWith('--node-args='))?.slice(12);
  const nodeArgs = nodeArgsArg === undefined ? imageNodeFlags() : nodeArgsArg.split(/[ ,]+/).filter(Boolean);
  // the absolute bound: the peak RSS stays below the shipped container limit with a margin
  const limitBytes = quantityBytes(SIDECAR_RESOURCES.limits.memory);
  const peakShare = Number(argv.find((a) => a.startsWith('--peak-share='))?.slice(13) ?? 0.8);
  const warmupS = Math.min(15, Math.round(seconds / 6));
  const t0 = Date.now();
  const at = (s: number): number => t0 + s * 1000;
  const loadEnd = at(seconds - 12);
  const chaosEnd = at(seconds - 20);
  console.log(
    `soak: ${seconds} s (warm-up ${warmupS} s, chaos until ${seconds - 20} s, writes until ${seconds - 12} s), RSS growth bound ${rssBoundMB} MB, ` +
      `peak bound ${round((limitBytes * peakShare) / MB, 1)} MB (${peakShare} × the ${SIDECAR_RESOURCES.limits.memory} limit); node ${nodeArgs.join(' ') || '(no flags)'}`,
  );

  let token = fakeJwt(NS, 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token], bookmarkIntervalMs: 5000 });
  const state = initialState();
  const pod = samplePod({ name: POD, namespace: NS, labels: { ...state.labels }, annotations: { ...state.annotations } });
  server.putPod(pod);
  server.putNode(sampleNode());
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: NS });
  let agent: AgentProcess | undefined;
  const slowloris = new Set<ReturnType<typeof connect>>();
  // loop switches, hoisted so that a harness error still stops every loop and timer (the process must exit)
  let loadStop = false;
  let tracking = false;
  let rssTimer: NodeJS.Timeout | undefined;
  try {
    agent = await spawnAgent({
      nodeArgs,
      env: {
        POD_NAME: POD,
        POD_NAMESPACE: NS,
        POD_UID: UID,
        SERVICE_ACCOUNT: 'podmeta',
        PODMETA_API: 'on',
        PODMETA_SA_DIR: sa.dir,
        KUBERNETES_SERVICE_HOST: server.host,
        KUBERNETES_SERVICE_PORT: server.port,
        PODMETA_MAX_STREAMS: '2000',
        PODMETA_LOG_LEVEL: verbose ? 'debug' : 'info',
        PODMETA_PROXY_LISTEN: '127.0.0.1:0',
      },
      files: volumeFiles(state),
    });
    const a = agent;
    const base = a.base;
    const H = { Metadata: 'true' };
    const stopLoad = (): boolean => loadStop;
    const stopTracking = (): boolean => tracking;

    // RSS samples
    const rss: { s: number; mb: number }[] = [];
    const mem: MemSample[] = [];
    rssTimer = setInterval(() => {
      try {
        rss.push({ s: Math.round((Date.now() - t0) / 1000), mb: round(a.rss() / MB, 1) });
      } catch {
        /* exited: reported below */
      }
      void memSample(a, t0).then((m) => {
        if (!m) return;
        mem.push(m);
        if (verbose) console.log(`  mem ${fmtMem(m)}`);
      });
    }, 5000);

    // 1. the kubelet writer (volume + API object together)
    const writer = (async () => {
      while (Date.now() < loadEnd) {
        const burst = Math.random() < 0.1 ? randomInt(2, 6) : 1;
        for (let i = 0; i < burst; i++) {
          mutate(state);
          try {
            server.modifyPod(NS, POD, (p) => {
              p.metadata.labels = { ...state.labels };
              p.metadata.annotations = { ...state.annotations };
            });
          } catch (err) {
            fail('fake API server modifyPod', (err as Error).message);
          }
          if (await a.volume.update(volumeFiles(state))) count('volume writes');
        }
        await sleep(rnd(20, 150));
      }
    })();

    // 2. API chaos
    let halfOpenAt: number | undefined;
    const chaos = (async () => {
      await sleep(3000);
      while (Date.now() < chaosEnd) {
        if (chaosKinds.length === 0) {
          await sleep(1000);
          continue;
        }
        let action = pick(chaosKinds);
        // A half-open watch is detected only by the agent's inactivity guard: max(3 × the learned bookmark gap,
        // 30 s) — or, before a gap was learned, 3 × an assumed 60 s cadence = 180 s (see BENCHMARKS.md).
        // Meanwhile the API's stale labels win. So it is injected once, after a quiet 12 s in which the agent
        // learns the fake server's 5 s bookmark cadence, early enough to be detected before the final check.
        if (action === 'halfopen') action = 'drop';
        if (chaosKinds.includes('halfopen') && halfOpenAt === undefined && seconds >= 60 && Date.now() > t0 + seconds * 250) {
          if (verbose) console.log(`  t=${round((Date.now() - t0) / 1000, 1)} s quiet 12 s (bookmark cadence), then half-open`);
          // the cadence is learned on one open watch: wait until the pods watch has been open (one 200, nothing
          // after it) for 12 s — a quiet that starts while the source backs off after a 429/500 learns nothing
          const settled = (): boolean => {
            const last = server.requestsOf('pods').at(-1);
            return last !== undefined && last.verb === 'watch' && last.status === 200 && Date.now() - last.time >= 12_000;
          };
          const quietUntil = Date.now() + 30_000;
          while (!settled() && Date.now() < quietUntil) await sleep(250);
          action = 'halfopen';
          halfOpenAt = Date.now();
        }
        count(`chaos ${action}`);
        if (verbose) console.log(`  t=${round((Date.now() - t0) / 1000, 1)} s chaos ${action}`);
        switch (action) {
          case 'drop':
            server.dropWatches();
            break;
          case 'end':
            server.endWatches();
            break;
          case 'compact':
            server.compact();
            server.dropWatches();
            break;
          case '429':
            server.fail({ resource: 'pods' }, { status: 429, retryAfter: 1 }, 2);
            server.dropWatches();
            break;
          case '500':
            server.fail({ resource: 'pods', verb: 'list' }, { status: 500 }, 1);
            server.fail({ resource: 'pods', verb: 'watch' }, { status: 500 }, 1);
            server.dropWatches();
            break;
          case '410':
            server.fail({ resource: 'pods', verb: 'watch' }, { status: 410 }, 1);
            server.endWatches();
            break;
          case 'rotate': {
            const next = fakeJwt(NS, 'podmeta');
            const old = token;
            server.setTokens([old, next]);
            await sa.rotateToken(next);
            token = next;
            // the old token is revoked a little later (expiry): a client that did not re-read gets 401
            setTimeout(() => server.setTokens(token === next ? [next] : [token]), 4000).unref();
            break;
          }
          case 'bookmark':
            server.bookmark();
            break;
          case 'halfopen':
            server.fail({ resource: 'pods', verb: 'watch' }, { halfOpen: true }, 1);
            server.dropWatches();
            break;
        }
        await sleep(rnd(1000, 3000));
      }
      server.clearFaults();
      server.setTokens([token]);
    })();

    // 3. GET loops
    const getPaths: { path: string; headers?: Record<string, string>; allowed: number[] }[] = [
      { path: '/metadata', allowed: [200] },
      { path: '/metadata/pod/labels', allowed: [200] },
      { path: '/metadata/pod/labels/app', allowed: [200] },
      { path: '/metadata/pod/labels/seq?format=text', allowed: [200, 404] },
      { path: '/metadata/pod/annotations', allowed: [200] },
      { path: '/metadata/pod/annotations?format=text', allowed: [200] },
      { path: '/metadata/pod/name', headers: { Accept: 'text/plain' }, allowed: [200] },
      { path: '/metadata/resources', allowed: [200] },
      { path: '/metadata/pod/annotations/' + encodeURIComponent(EXCLUDED), allowed: [404] },
      { path: '/metadata/nope', allowed: [404] },
      { path: '/status', allowed: [200] },
      { path: '/metadata/pod/containers/main', allowed: [200, 404] },
    ];
    const getLoop = async (): Promise<void> => {
      let etag = '';
      while (!stopLoad()) {
        const g = pick(getPaths);
        const cond = g.path === '/metadata' && etag && Math.random() < 0.3;
        try {
          const r = await fetch(base + g.path, { headers: { ...H, ...g.headers, ...(cond ? { 'If-None-Match': etag } : {}) } });
          const body = await r.text();
          count(`GET ${r.status}`);
          const allowed = cond ? [200, 304] : g.allowed;
          if (!allowed.includes(r.status)) fail(`GET ${g.path} unexpected status`, `${r.status}: ${body.slice(0, 200)}`);
          if (r.status >= 500) fail('5xx answer', `${g.path}: ${r.status} ${body.slice(0, 200)}`);
          if (body.includes(EXCLUDED) && g.path !== '/metadata/pod/annotations/' + encodeURIComponent(EXCLUDED)) fail('excluded annotation served', g.path);
          if (g.path === '/metadata' && r.status === 200) etag = r.headers.get('etag') ?? '';
          if (!r.headers.get('etag') && r.status < 300 && g.path !== '/status') fail('no ETag', g.path);
        } catch (err) {
          fail('GET failed (agent not serving?)', `${g.path}: ${(err as Error).message}`);
          await sleep(100);
        }
        await sleep(rnd(0, 8));
      }
    };
    const gets = [getLoop(), getLoop(), getLoop()];

    // 4. long-poll loops
    const longPollLoop = async (): Promise<void> => {
      let etag = '';
      const path = pick(['/metadata', '/metadata/pod/labels', '/metadata/pod/annotations/note']);
      while (!stopLoad()) {
        try {
          const r = await fetch(`${base}${path}?wait=true&timeout=${randomInt(1, 4)}`, { headers: { ...H, ...(etag ? { 'If-None-Match': etag } : {}) } });
          await r.arrayBuffer();
          count(`long-poll ${r.status}`);
          const tag = r.headers.get('etag') ?? '';
          if (r.status === 200 && etag && tag === etag) fail('long-poll 200 with the same ETag', path);
          if (r.status === 304 && tag !== etag) fail('long-poll 304 with a different ETag', path);
          if (![200, 304, 404].includes(r.status)) fail('long-poll unexpected status', `${path}: ${r.status}`);
          etag = r.status === 404 ? '' : tag;
          if (r.status === 404) await sleep(200);
        } catch (err) {
          fail('long-poll failed', (err as Error).message);
          await sleep(100);
        }
      }
    };
    const polls = Array.from({ length: 20 }, () => longPollLoop());

    // 5. SSE: stayers, resumers, churn
    await sleep(500);
    const stayers = [
      stayer(base, 'stayer-full-1', undefined, stopTracking),
      stayer(base, 'stayer-full-2', undefined, stopTracking),
      stayer(base, 'stayer-labels', '/pod/labels', stopTracking),
      stayer(base, 'stayer-annotations', '/pod/annotations', stopTracking),
    ];
    const resumers = [resumer(base, 'resumer-1', stopLoad), resumer(base, 'resumer-2', stopLoad)];
    const churn = (async () => {
      const open = new Set<Promise<void>>();
      while (!stopLoad()) {
        if (open.size < 20) {
          const p = (async () => {
            try {
              const sse = await openSseClient(`${base}/events${Math.random() < 0.3 ? '?path=/pod/labels' : ''}`);
              await sleep(rnd(50, 2000));
              if (!sse.events.some((e) => e.event === 'snapshot')) count('churn: left before its snapshot arrived');
              sse.close();
              count('SSE churn');
            } catch (err) {
              fail('SSE connect failed', (err as Error).message);
            }
          })();
          open.add(p);
          void p.then(() => open.delete(p));
        }
        await sleep(rnd(50, 300));
      }
      await Promise.all(open);
    })();

    // 6. hostile clients and slowloris
    const hostileStats = new Map<string, number>();
    const hostile = (async () => {
      while (!stopLoad()) {
        const h = pick(HOSTILE);
        const r = await raw(a.host, a.port, h.data());
        hostileStats.set(h.name, (hostileStats.get(h.name) ?? 0) + 1);
        count('hostile requests');
        if (r.statuses.some((s) => s >= 500)) fail('5xx answer to a hostile client', `${h.name}: ${r.statuses.join(',')} ${r.body.slice(0, 200)}`);
        else if (!h.ok(r)) fail(`hostile "${h.name}" answered unexpectedly`, `statuses ${JSON.stringify(r.statuses)} closed=${r.closed} body=${r.body.slice(0, 200)}`);
        if (r.status !== undefined && r.status >= 400 && r.body && !r.body.trimStart().startsWith('{')) fail('error body is not JSON', `${h.name}: ${r.body.slice(0, 100)}`);
        await sleep(rnd(20, 120));
      }
    })();
    // 7. the attacks of issue 9, in turn, against the same agent under the same load: a connection flood on
    //    both listeners (the probes and the metadata API must keep answering), 2 000 pipelined GET /metrics on
    //    one probe connection, 200 pipelined GET /events on one connection (one stream slot at most), and a
    //    chunked GET body smuggling a /secrets request through the proxy (the API server must never parse it).
    const proxyAddr = String(a.logs.find((l) => l.msg === 'podmeta listening')?.proxy ?? '');
    const [probeHost, probePort] = [a.probe.slice(7, a.probe.lastIndexOf(':')), Number(a.probe.slice(a.probe.lastIndexOf(':') + 1))];
    const attacks = (async () => {
      const held: ReturnType<typeof connect>[] = [];
      const open = (host: string, port: number, n: number): void => {
        for (let i = 0; i < n; i++) {
          const s = connect({ host, port });
          s.on('error', () => {});
          held.push(s);
        }
      };
      const kinds = ['flood', 'metrics', 'events', 'smuggle'].filter((k) => attackKinds.includes(k));
      for (let round = 0; !stopLoad() && kinds.length > 0; round++) {
        const kind = ['flood', 'metrics', 'events', 'smuggle'].indexOf(kinds[round % kinds.length]!);
        if (kind === 0) {
          open(a.host, a.port, 600);
          open(probeHost, probePort, 200);
          await sleep(1500);
          const live = await httpGet(`${a.probe}/livez`).catch((e: Error) => ({ status: 0, body: e.message }));
          const meta = await httpGet(`${base}/metadata/pod/name?format=text`, H).catch((e: Error) => ({ status: 0, body: e.message }));
          if (live.status !== 200) fail('probe starved by a connection flood', `/livez ${live.status}`);
          if (meta.status !== 200) fail('metadata API starved by a connection flood', `${meta.status}`);
          for (const s of held.splice(0)) s.destroy();
          count('attack: connection flood');
        } else if (kind === 1) {
          const r = await raw(probeHost, probePort, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(2000), 15_000);
          if (r.statuses.some((x) => x >= 500 && x !== 503)) fail('pipelined /metrics answered 5xx (other than a 503 refusal)', r.statuses.filter((x) => x >= 500).slice(0, 5).join(','));
          count('attack: pipelined /metrics');
        } else if (kind === 2) {
          const r = await raw(a.host, a.port, 'GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n'.repeat(200), 2000);
          if (r.statuses.filter((x) => x === 200).length > 1) fail('one connection held more than one event stream', `${r.statuses.filter((x) => x === 200).length} streams`);
          count('attack: pipelined /events');
        } else if (proxyAddr) {
          const [ph, pp] = [proxyAddr.slice(0, proxyAddr.lastIndexOf(':')), Number(proxyAddr.slice(proxyAddr.lastIndexOf(':') + 1))];
          const smuggled = 'GET /api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: localhost\r\n\r\n';
          const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
          const r = await raw(ph, pp, `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}${smuggled}`);
          if (r.statuses[0] !== 400 || r.statuses.length !== 1) fail('proxy smuggling: a chunked GET was not refused alone', JSON.stringify(r.statuses));
          count('attack: proxy smuggling');
        }
        await sleep(500);
      }
      for (const s of held.splice(0)) s.destroy();
    })();
    let slowClosed = 0;
    const slowlorisLoop = (async () => {
      while (!stopLoad()) {
        while (slowloris.size < 10) {
          const s = connect({ host: a.host, port: a.port });
          s.on('error', () => {});
          s.on('connect', () => s.write('GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n'));
          s.on('close', () => {
            if (slowloris.delete(s)) slowClosed++;
          });
          slowloris.add(s);
        }
        for (const s of slowloris) if (s.writable) s.write(`X-${randomInt(1000)}: ${randomInt(1000)}\r\n`);
        await sleep(1000);
      }
    })();

    // warm-up, then the RSS baseline
    await sleep(warmupS * 1000);
    const rssWarm = a.rss();
    console.log(`  warm-up done: RSS ${round(rssWarm / MB, 1)} MB`);
    let lastReport = Date.now();
    while (Date.now() < loadEnd) {
      await sleep(1000);
      if (a.proc.exitCode !== null || a.proc.signalCode !== null) {
        fail('agent exited during the soak', String(a.proc.exitCode ?? a.proc.signalCode));
        break;
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        console.log(`  t=${Math.round((Date.now() - t0) / 1000)} s: RSS ${round(a.rss() / MB, 1)} MB, ${counters.get('volume writes') ?? 0} volume writes, ${counters.get('GET 200') ?? 0} GET 200, ${counters.get('hostile requests') ?? 0} hostile`);
      }
    }
    await writer;
    await chaos;
    // the last state written (writer stopped)
    loadStop = true;
    for (const s of slowloris) s.destroy();
    await Promise.all([...gets, ...polls, churn, hostile, slowlorisLoop, attacks]);
    const parsedSecrets = server.wire.filter((w) => w.url.includes('/secrets') || (w.method !== 'GET' && w.method !== 'HEAD'));
    if (parsedSecrets.length > 0) fail('the API server parsed a smuggled request', JSON.stringify(parsedSecrets.slice(0, 3)));
    if (!proxyAddr) fail('soak harness: the proxy listener was not found in the agent log', '');
    const resumed = await Promise.all(resumers);
    const expected = JSON.parse(JSON.stringify(state)) as State;
    delete expected.annotations[EXCLUDED];

    // convergence: the document equals the last state written
    const deadline = Date.now() + 30_000;
    let doc: { revision: number; pod: { labels?: Record<string, string>; annotations?: Record<string, string> }; resources: { requests?: { cpuMillicores?: number } } } | undefined;
    let converged = false;
    while (Date.now() < deadline) {
      const r = await fetch(`${base}/metadata`, { headers: H });
      doc = (await r.json()) as typeof doc;
      try {
        deepStrictEqual(doc!.pod.labels, expected.labels);
        deepStrictEqual(doc!.pod.annotations ?? {}, expected.annotations);
        deepStrictEqual(doc!.resources.requests?.cpuMillicores, expected.cpuMilli);
        converged = true;
        break;
      } catch {
        await sleep(250);
      }
    }
    const convergeS = round((Date.now() - (deadline - 30_000)) / 1000, 1);
    if (!converged) {
      const status = (await (await fetch(`${base}/status`, { headers: H })).json()) as unknown;
      console.log(`  /status: ${JSON.stringify(status)}`);
      console.log(`  fake API server requests (last 25): ${JSON.stringify(server.requests.slice(-25).map((r) => [round((r.time - t0) / 1000, 1), `${r.resource ?? r.path} ${r.verb ?? ""}`, r.status, r.auth]))}`);
      console.log(`  open watches on the fake API server: ${server.watchCount}`);
      fail(
        'document does not equal the last state written',
        JSON.stringify({ labels: doc?.pod.labels, expectedLabels: expected.labels, annotations: doc?.pod.annotations, expectedAnnotations: expected.annotations, cpu: doc?.resources.requests?.cpuMillicores, expectedCpu: expected.cpuMilli }).slice(0, 2000),
      );
    } else console.log(`  converged to the last state written ${convergeS} s after the load stopped (revision ${doc!.revision})`);

    // SSE clients against the final GET (retry while a late revision is still in flight)
    await sleep(500);
    tracking = true;
    const trackers = await Promise.all(stayers);
    let finalRevision = 0;
    for (let attempt = 1; attempt <= 4; attempt++) {
      const finalFull = (await (await fetch(`${base}/metadata`, { headers: H })).json()) as { revision: number };
      const finalLabels = (await (await fetch(`${base}/metadata/pod/labels`, { headers: H })).json()) as unknown;
      const finalAnn = (await (await fetch(`${base}/metadata/pod/annotations`, { headers: H })).json()) as unknown;
      finalRevision = finalFull.revision;
      const problems: string[] = [];
      for (const t of [...trackers, ...resumed]) {
        const sse = (t as Tracker & { sse?: SseClient }).sse;
        if (sse) for (const e of sse.events.splice(0)) applyEvent(t, e);
        const want = t.path === '/pod/labels' ? finalLabels : t.path === '/pod/annotations' ? finalAnn : finalFull;
        try {
          deepStrictEqual(t.doc, want);
        } catch (err) {
          problems.push(`${t.name} (rev ${t.revision} vs ${finalFull.revision}): ${(err as Error).message.slice(0, 600)}`);
        }
      }
      if (problems.length === 0) break;
      // a late revision may still be in flight to a stream: look again
      if (attempt === 4) for (const p of problems) fail('SSE client document differs from the final GET', p);
      else await sleep(1000);
    }
    for (const t of [...trackers, ...resumed]) (t as Tracker & { sse?: SseClient }).sse?.close();
    clearInterval(rssTimer);
    const rssEnd = a.rss();
    const growthMB = round((rssEnd - rssWarm) / MB, 1);
    if (growthMB > rssBoundMB) fail('RSS growth after warm-up over the bound', `${growthMB} MB > ${rssBoundMB} MB`);
    const peakMB = Math.max(rssEnd / MB, ...rss.map((r) => r.mb), ...mem.map((m) => m.rss / MB));
    if (peakMB * MB > limitBytes * peakShare) {
      fail('RSS peak too close to the container limit', `${round(peakMB, 1)} MB > ${peakShare} × ${SIDECAR_RESOURCES.limits.memory} (${round((limitBytes * peakShare) / MB, 1)} MB)`);
    }

    // shutdown and logs
    const code = await a.stop();
    if (code !== 0) fail('agent did not exit 0 on SIGTERM', String(code));
    const errors = a.logs.filter((l) => l.level === 'error');
    for (const e of errors) fail('error in the agent log', JSON.stringify(e).slice(0, 500));
    for (const line of a.otherOutput) fail('unexpected agent output (stderr / non-JSON stdout)', line.slice(0, 300));
    const apiStates = a.logs.filter((l) => typeof l.msg === 'string' && /^(api|node) source /.test(l.msg)).map((l) => String(l.msg).split(':')[0]);
    const stateCounts: Record<string, number> = {};
    for (const s of apiStates) stateCounts[s!] = (stateCounts[s!] ?? 0) + 1;

    // summary
    console.log('');
    console.log(`soak summary (${round((Date.now() - t0) / 1000, 0)} s)`);
    console.log(`  revisions: ${finalRevision}; volume writes: ${counters.get('volume writes') ?? 0}; API requests: ${server.requests.length}`);
    console.log(`  SSE: ${trackers.map((t) => `${t.name} ${t.events} events`).join(', ')}; ${resumed.map((t) => `${t.name} ${t.reconnects} reconnects/${t.events} events`).join(', ')}; churn ${counters.get('SSE churn') ?? 0}`);
    console.log(`  requests: ${[...counters].filter(([k]) => k.startsWith('GET') || k.startsWith('long-poll')).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    console.log(`  hostile: ${counters.get('hostile requests') ?? 0} (${hostileStats.size} kinds); slowloris sockets closed by the agent: ${slowClosed}`);
    console.log(`  issue-9 attacks: ${[...counters].filter(([k]) => k.startsWith('attack:')).map(([k, v]) => `${k.slice(8)} ${v}`).join(', ')}; API requests parsed: ${server.wire.length}`);
    console.log(`  chaos: ${[...counters].filter(([k]) => k.startsWith('chaos')).map(([k, v]) => `${k.slice(6)} ${v}`).join(', ')}`);
    console.log(`  agent API/node source transitions logged: ${JSON.stringify(stateCounts)}`);
    console.log(`  RSS: warm ${round(rssWarm / MB, 1)} MB → end ${round(rssEnd / MB, 1)} MB (growth ${growthMB} MB, bound ${rssBoundMB}; peak ${round(peakMB, 1)} MB, bound ${round((limitBytes * peakShare) / MB, 1)}); samples ${rss.map((r) => `${r.s}s:${r.mb}`).join(' ')}`);
    for (const m of mem) console.log(`  mem ${fmtMem(m)}`);
    console.log(`  agent log lines: ${a.logs.length} (${errors.length} at level error)`);
    if (verbose || failures.size > 0) {
      for (const l of a.logs.filter((x) => x.source === 'api' || x.source === 'node').slice(-40)) console.log(`    agent: ${JSON.stringify(l).slice(0, 300)}`);
    }
  } catch (err) {
    fail('soak harness error', (err as Error).stack ?? String(err));
  } finally {
    loadStop = true;
    tracking = true;
    clearInterval(rssTimer);
    for (const s of slowloris) s.destroy();
    await agent?.stop();
    await server.close();
    await sa.remove();
  }
  if (failures.size > 0) {
    console.log(`\nSOAK FAILED (${failures.size} kinds of failure):`);
    for (const [k, f] of failures) console.log(`  - ${k} ×${f.count}: ${f.example}`);
    return 1;
  }
  console.log('\nSOAK PASSED');
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
