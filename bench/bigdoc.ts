// Memory with a big document (issue 9's budget): a 250 KB annotation in the downwardAPI volume, then
//   1. 1 000 label changes, one at a time (each seen on an SSE stream before the next): RSS after, settled;
//   2. 1 000 subscribers that connect and then never read (paused sockets), and 20 changes of the big
//      annotation itself (≈ 250 KB per event per subscriber): RSS at the peak and after;
//   3. on top of them, every other connection cap filled (metadata and probe listeners, each connection
//      pipelining 80 requests it never reads) and 10 more big changes: the worst case the caps allow.
// The agent runs with the image's Node flags (the Dockerfile's ENTRYPOINT: the V8 heap bounds).
// The agent bounds what it buffers for a client that does not read (it drops it); this prints what that
// bound costs. Compare with the container's memory limit in k8s/deployment.yaml.
//   tsx bench/bigdoc.ts

import { connect, type Socket } from 'node:net';
import { formatMap } from '../test/support/kubelet-volume.js';
import { sampleFiles } from '../test/support/samples.js';
import { httpGet, imageNodeFlags, MB, metricValue, openSseClient, round, sleep, spawnAgent } from './lib.js';

export interface BigDocResult {
  docKB: number;
  changes: number;
  idleRssMB: number;
  after1000ChangesMB: number;
  stalled: { subscribers: number; changes: number; peakRssMB: number; afterMB: number; openAfter: number };
  /** every connection cap filled at once (the documented worst case), on top of the stalled streams */
  caps?: { metadataConnections: number; probeConnections: number; pipelined: number; changes: number; peakRssMB: number; peakHeapMB: number; peakExternalMB: number; afterMB: number; aborted?: string };
}

const bigValue = (n: number, tag: string): string => `${tag}:` + 'x'.repeat(n);

export async function runBigDoc({ changes = 1000, stalledSubscribers = 1000, stalledChanges = 20, capsPhase = true, capsChanges = 10, nodeArgs = imageNodeFlags(), log = (_s: string) => {} } = {}): Promise<BigDocResult> {
  const size = 250 * 1024;
  const files = (labels: Record<string, string>, tag = 'a'): ReturnType<typeof sampleFiles> =>
    sampleFiles(labels, { annotations: formatMap({ key1: 'value1', big: bigValue(size, tag) }) });
  const agent = await spawnAgent({ nodeArgs, files: files({ foo: 'bar' }), env: { PODMETA_MAX_STREAMS: String(stalledSubscribers + 100) } });
  const sockets: Socket[] = [];
  try {
    const doc = await httpGet(`${agent.base}/metadata`, { Metadata: 'true' });
    const docKB = round(doc.body.length / 1024, 0);
    await sleep(2000);
    const idle = agent.rss();
    const sse = await openSseClient(`${agent.base}/events?path=/pod/labels`);
    await sse.waitFor((e) => e.event === 'snapshot');
    let seen = 0;
    for (let i = 0; i < changes; i++) {
      await agent.volume.update(files({ foo: `v${i}` }));
      try {
        await sse.waitFor((e) => e.event === 'change' && e.data.includes(`"v${i}"`), 5000);
        seen++;
      } catch {
        // counted as not seen
      }
    }
    sse.close();
    await sleep(2000);
    const after = agent.rss();
    log(`  bigdoc: ${docKB} KB document; RSS idle ${round(idle / MB, 1)} MB, after ${seen}/${changes} changes ${round(after / MB, 1)} MB`);

    // subscribers that stop reading: connect, send the request, never read
    const req = `GET /events HTTP/1.1\r\nHost: ${agent.host}:${agent.port}\r\nMetadata: true\r\nAccept: text/event-stream\r\n\r\n`;
    for (let i = 0; i < stalledSubscribers; i++) {
      const s = connect({ host: agent.host, port: agent.port });
      s.on('error', () => {});
      s.pause();
      s.write(req);
      sockets.push(s);
    }
    await sleep(2000);
    let peak = agent.rss();
    for (let i = 0; i < stalledChanges; i++) {
      await agent.volume.update(files({ foo: 'stalled' }, `b${i}`));
      await sleep(100);
      peak = Math.max(peak, agent.rss());
    }
    await sleep(2000);
    peak = Math.max(peak, agent.rss());
    const afterStalled = agent.rss();
    const open = metricValue((await httpGet(`${agent.probe}/metrics`)).body.toString(), 'podmeta_sse_subscribers') ?? NaN;
    log(`  bigdoc: ${stalledSubscribers} stalled subscribers, ${stalledChanges} changes of the big annotation: RSS peak ${round(peak / MB, 1)} MB, after ${round(afterStalled / MB, 1)} MB; streams still open ${open}`);

    // 3. the worst case under the documented caps, all at once and on top of the stalled streams: the rest of
    //    PODMETA_MAX_CONNECTIONS (default 1280) pipelining 80 GET /metadata each (PODMETA_MAX_PIPELINE 16 in
    //    flight + 64 waiting) and never reading, PODMETA_PROBE_MAX_CONNECTIONS (128) doing the same with
    //    /metrics; then changes of the big annotation.
    let caps: BigDocResult['caps'];
    if (capsPhase) {
      const pipelined = 80;
      const metaConns = Math.max(0, 1280 - stalledSubscribers);
      const probeConns = 128;
      const [ph, pp] = [agent.probe.slice(7, agent.probe.lastIndexOf(':')), Number(agent.probe.slice(agent.probe.lastIndexOf(':') + 1))];
      const flood = (host: string, port: number, n: number, request: string): void => {
        for (let i = 0; i < n; i++) {
          const s = connect({ host, port });
          s.on('error', () => {});
          s.pause();
          s.write(request.repeat(pipelined));
          sockets.push(s);
        }
      };
      flood(agent.host, agent.port, metaConns, `GET /metadata HTTP/1.1\r\nHost: ${agent.host}:${agent.port}\r\nMetadata: true\r\n\r\n`);
      flood(ph, pp, probeConns - 1, `GET /metrics HTTP/1.1\r\nHost: ${ph}\r\n\r\n`); // one left for the heap scrape
      let peakCaps = 0;
      let peakHeap = 0;
      let peakExternal = 0;
      let aborted: string | undefined;
      const sample = async (): Promise<void> => {
        if (aborted) return;
        if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) {
          const fatal = agent.otherOutput.find((l) => /FATAL ERROR/.test(l))?.replace(/^stderr:\s*/, '');
          aborted = `exited ${agent.proc.exitCode ?? agent.proc.signalCode}${fatal ? `: ${fatal}` : ''}`;
          return;
        }
        peakCaps = Math.max(peakCaps, agent.rss());
        const text = (await httpGet(`${agent.probe}/metrics`).catch(() => undefined))?.body.toString();
        if (text) {
          peakHeap = Math.max(peakHeap, metricValue(text, 'nodejs_heap_size_total_bytes') ?? 0);
          peakExternal = Math.max(peakExternal, metricValue(text, 'nodejs_external_memory_bytes') ?? 0);
        }
      };
      await sleep(2000);
      await sample();
      for (let i = 0; i < capsChanges; i++) {
        await agent.volume.update(files({ foo: 'caps' }, `c${i}`));
        await sleep(300);
        await sample();
      }
      await sleep(2000);
      await sample();
      const afterCaps = aborted ? NaN : agent.rss();
      caps = {
        metadataConnections: metaConns + stalledSubscribers,
        probeConnections: probeConns,
        pipelined,
        changes: capsChanges,
        peakRssMB: round(peakCaps / MB, 1),
        peakHeapMB: round(peakHeap / MB, 1),
        peakExternalMB: round(peakExternal / MB, 1),
        afterMB: round(afterCaps / MB, 1),
        ...(aborted ? { aborted } : {}),
      };
      log(
        `  bigdoc: every cap at once (${caps.metadataConnections} metadata connections, ${probeConns} probe connections, ${pipelined} pipelined each, unread), ${capsChanges} big changes: ` +
          `RSS peak ${caps.peakRssMB} MB (V8 heap ${caps.peakHeapMB} MB, external ${caps.peakExternalMB} MB), after ${caps.afterMB} MB${aborted ? `; the agent ${aborted}` : ''}`,
      );
    }
    return {
      ...(caps ? { caps } : {}),
      docKB,
      changes: seen,
      idleRssMB: round(idle / MB, 1),
      after1000ChangesMB: round(after / MB, 1),
      stalled: { subscribers: stalledSubscribers, changes: stalledChanges, peakRssMB: round(peak / MB, 1), afterMB: round(afterStalled / MB, 1), openAfter: open },
    };
  } finally {
    for (const s of sockets) s.destroy();
    await agent.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runBigDoc({ log: console.log }), null, 2));
}
