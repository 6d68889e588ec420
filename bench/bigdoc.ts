// Memory with a big document (issue 9's budget): a 250 KB annotation in the downwardAPI volume, then
//   1. 1 000 label changes, one at a time (each seen on an SSE stream before the next): RSS after, settled;
//   2. 1 000 subscribers that connect and then never read (paused sockets), and 20 changes of the big
//      annotation itself (≈ 250 KB per event per subscriber): RSS at the peak and after.
// The agent bounds what it buffers for a client that does not read (it drops it); this prints what that
// bound costs. Compare with the container's memory limit in k8s/deployment.yaml.
//   tsx bench/bigdoc.ts

import { connect, type Socket } from 'node:net';
import { formatMap } from '../test/support/kubelet-volume.js';
import { sampleFiles } from '../test/support/samples.js';
import { httpGet, MB, metricValue, openSseClient, round, sleep, spawnAgent } from './lib.js';

export interface BigDocResult {
  docKB: number;
  changes: number;
  idleRssMB: number;
  after1000ChangesMB: number;
  stalled: { subscribers: number; changes: number; peakRssMB: number; afterMB: number; openAfter: number };
}

const bigValue = (n: number, tag: string): string => `${tag}:` + 'x'.repeat(n);

export async function runBigDoc({ changes = 1000, stalledSubscribers = 1000, stalledChanges = 20, log = (_s: string) => {} } = {}): Promise<BigDocResult> {
  const size = 250 * 1024;
  const files = (labels: Record<string, string>, tag = 'a'): ReturnType<typeof sampleFiles> =>
    sampleFiles(labels, { annotations: formatMap({ key1: 'value1', big: bigValue(size, tag) }) });
  const agent = await spawnAgent({ files: files({ foo: 'bar' }), env: { PODMETA_MAX_STREAMS: String(stalledSubscribers + 100) } });
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
    return {
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
