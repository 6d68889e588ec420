// Change propagation, end to end, against the built agent in its own process:
//   volume: kubelet-style `..data` swap (rename, step 4 of AtomicWriter) → SSE `change` event received;
//   api:    a pod MODIFIED event written by the fake API server → SSE `change` event received.
// One change at a time (the next starts after the previous arrived, plus a small random gap), so each
// sample is one swap's latency and never a coalesced burst.
// Then a burst: kubelet updates back to back (no gap); the last write must win, with no more reads or
// revisions than updates. Reads and revisions come from the agent's own /metrics.
//   tsx bench/propagation.ts

import { FakeApiServer, samplePod, sampleNode } from '../test/support/fake-apiserver.js';
import { fakeJwt, SaDir } from '../test/support/sa-dir.js';
import { formatMap } from '../test/support/kubelet-volume.js';
import { sampleFiles } from '../test/support/samples.js';
import { nowMs, openSseClient, sleep, spawnAgent, stats, round, type Stats } from './lib.js';

export interface PropagationResult {
  swaps: number;
  lost: number;
  /** ms from the `..data` rename to the SSE event */
  latency: Stats;
  /** the agent's PODMETA_DEBOUNCE_MS during the run (it applies only to events other than the `..data` rename) */
  debounceMs: number;
  /** full volume reads and document revisions during the paced swaps (one each per swap is the target) */
  reads: number;
  revisions: number;
  /** back-to-back updates: reads and revisions they caused, and whether the last write was served */
  burst: { updates: number; reads: number; revisions: number; lastWins: boolean };
}

async function counters(probe: string): Promise<{ reads: number; revision: number }> {
  const text = await (await fetch(`${probe}/metrics`)).text();
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { reads: num('podmeta_downward_reads_total'), revision: num('podmeta_document_revision') };
}

export interface ApiPropagationResult {
  changes: number;
  lost: number;
  /** ms from the fake API server's MODIFIED event to the SSE event */
  latency: Stats;
}

const rnd = (a: number, b: number): number => a + Math.random() * (b - a);

function roundStats(s: Stats): Stats {
  return { n: s.n, min: round(s.min, 2), p50: round(s.p50, 2), p90: round(s.p90, 2), p99: round(s.p99, 2), max: round(s.max, 2), mean: round(s.mean, 2) };
}

export async function runVolumePropagation({ swaps = 250, debounceMs, log = (_s: string) => {} }: { swaps?: number; debounceMs?: number; log?: (s: string) => void } = {}): Promise<PropagationResult> {
  const agent = await spawnAgent(debounceMs !== undefined ? { env: { PODMETA_DEBOUNCE_MS: String(debounceMs) } } : {});
  const sse = await openSseClient(`${agent.base}/events?path=/pod/labels`);
  try {
    await sse.waitFor((e) => e.event === 'snapshot');
    const samples: number[] = [];
    let lost = 0;
    await sleep(100);
    const c0 = await counters(agent.probe);
    for (let i = 1; i <= swaps; i++) {
      let t0 = 0;
      const value = `v${i}`;
      const changed = sse.waitFor((e) => e.event === 'change' && e.data.includes(`"${value}"`), 2000);
      await agent.volume.update(sampleFiles({ foo: 'bar', seq: value }), {
        onStep: (step) => {
          if (step === 'renamed-data') t0 = nowMs();
        },
      });
      try {
        const ev = await changed;
        samples.push(ev.at - t0);
      } catch {
        lost++;
      }
      if (i % 50 === 0) log(`  propagation(volume): ${i}/${swaps}, p50 so far ${round(stats(samples).p50, 1)} ms`);
      await sleep(rnd(5, 25));
    }
    await sleep(100);
    const c1 = await counters(agent.probe);
    // burst: back to back, then the last value must be what is served
    const updates = 20;
    for (let i = 1; i <= updates; i++) await agent.volume.update(sampleFiles({ foo: 'bar', seq: `burst${i}` }));
    await sleep(300);
    const c2 = await counters(agent.probe);
    const labels = (await (await fetch(`${agent.base}/metadata/pod/labels`, { headers: { Metadata: 'true' } })).json()) as Record<string, string>;
    return {
      swaps,
      lost,
      latency: roundStats(stats(samples)),
      debounceMs: debounceMs ?? 15,
      reads: c1.reads - c0.reads,
      revisions: c1.revision - c0.revision,
      burst: { updates, reads: c2.reads - c1.reads, revisions: c2.revision - c1.revision, lastWins: labels.seq === `burst${updates}` },
    };
  } finally {
    sse.close();
    await agent.stop();
  }
}

export async function runApiPropagation({ changes = 200, log = (_s: string) => {} }: { changes?: number; log?: (s: string) => void } = {}): Promise<ApiPropagationResult> {
  const POD = 'web-5d9c7b8f4-x7k2p';
  const NS = 'default';
  const token = fakeJwt(NS, 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  server.putPod(samplePod({ name: POD, namespace: NS }));
  server.putNode(sampleNode());
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: NS });
  const agent = await spawnAgent({
    env: {
      POD_NAME: POD,
      POD_NAMESPACE: NS,
      PODMETA_API: 'on',
      PODMETA_SA_DIR: sa.dir,
      KUBERNETES_SERVICE_HOST: server.host,
      KUBERNETES_SERVICE_PORT: server.port,
    },
    files: { ...sampleFiles(), podName: POD, labels: formatMap({ app: 'web' }) },
  });
  const sse = await openSseClient(`${agent.base}/events?path=/pod/labels`);
  try {
    // the API's labels take over once its watch is healthy
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await fetch(`${agent.base}/metadata/pod/labels`, { headers: { Metadata: 'true' } });
      const labels = (await r.json()) as Record<string, string>;
      if (labels['pod-template-hash'] === '5d9c7b8f4') break;
      if (Date.now() > deadline) throw new Error(`the agent never served the API's labels: ${JSON.stringify(labels)}`);
      await sleep(50);
    }
    await sleep(200);
    const samples: number[] = [];
    let lost = 0;
    for (let i = 1; i <= changes; i++) {
      const value = `a${i}`;
      const changed = sse.waitFor((e) => e.event === 'change' && e.data.includes(`"${value}"`), 2000);
      const t0 = nowMs();
      server.modifyPod(NS, POD, (p) => {
        (p.metadata as { labels: Record<string, string> }).labels.seq = value;
      });
      try {
        const ev = await changed;
        samples.push(ev.at - t0);
      } catch {
        lost++;
      }
      if (i % 50 === 0) log(`  propagation(api): ${i}/${changes}, p50 so far ${round(stats(samples).p50, 1)} ms`);
      await sleep(rnd(2, 10));
    }
    return { changes, lost, latency: roundStats(stats(samples)) };
  } finally {
    sse.close();
    await agent.stop();
    await server.close();
    await sa.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runVolumePropagation({ log: console.log }), null, 2));
  console.log(JSON.stringify(await runApiPropagation({ log: console.log }), null, 2));
}
