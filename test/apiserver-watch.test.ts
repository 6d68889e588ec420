// The pod list+watch against the fake API server: list→watch from the list RV, MODIFIED, resume from a
// bookmark's RV after a drop, 410 (event and HTTP) → relist, Retry-After, half-open and quiet watches,
// awkward chunking, DELETED, the label grace period.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, NS, POD } from './support/api-harness.js';
import { samplePod, waitFor } from './support/fake-apiserver.js';

const podWatches = (h: { server: { requestsOf(r: 'pods', v?: 'watch' | 'list'): { query: Record<string, string>; status: number; time: number; verb?: string }[] } }) =>
  h.server.requestsOf('pods', 'watch');

test('lists with resourceVersion=0, then watches from the list RV with bookmarks and a 300–600 s timeout', async (t) => {
  const h = await harness(t);
  const part = await h.waitPart('api', (p) => p?.pod?.name === POD);
  await h.server.waitFor(() => podWatches(h).length === 1, 'the watch');
  const [list, ...more] = h.server.requestsOf('pods', 'list');
  assert.equal(more.length, 0);
  assert.equal(list!.path, `/api/v1/namespaces/${NS}/pods`);
  assert.deepEqual(list!.query, { fieldSelector: `metadata.name=${POD}`, resourceVersion: '0' });
  const watch = podWatches(h)[0]!;
  const listRv = String(h.server.resourceVersion);
  assert.equal(watch.query.resourceVersion, listRv);
  assert.equal(watch.query.watch, '1');
  assert.equal(watch.query.allowWatchBookmarks, 'true');
  assert.equal(watch.query.fieldSelector, `metadata.name=${POD}`);
  const timeout = Number(watch.query.timeoutSeconds);
  assert.ok(timeout >= 300 && timeout <= 600, `timeoutSeconds ${timeout}`);
  assert.ok(h.server.requests.every((r) => r.auth === 'valid'));
  assert.deepEqual(part?.pod?.workload, { kind: 'Deployment', name: 'web' });
  assert.deepEqual(part?.node, { name: 'k8s-node1', hostIP: '10.10.10.149', hostIPs: ['10.10.10.149', 'fd00::149'] });
  const st = await h.waitStatus('api', (s) => s.state === 'ok');
  assert.equal(st.error, undefined);
  // the server logs a request before the client has read the answer: wait for the client's metric
  await waitFor(() => h.metrics.includes('request pod watch 200'), 'watch metric');
  assert.ok(h.metrics.includes('request pod list 200'));
});

test('a MODIFIED label change produces a new part; an unrelated change does not', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p?.pod?.labels?.app === 'web');
  await h.server.waitFor(() => h.server.watchCount >= 1, 'watch open');
  const before = h.parts.length;
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.tier = 'frontend';
  });
  const part = await h.waitPart('api', (p) => p?.pod?.labels?.tier === 'frontend');
  assert.equal(part?.pod?.labels?.app, 'web');
  const after = h.parts.length;
  h.server.modifyPod(NS, POD, (p) => {
    (p.status as { conditions: unknown[] }).conditions.push({ type: 'PodScheduled', status: 'True' });
  });
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.tier = 'backend';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.tier === 'backend');
  assert.equal(h.parts.length, after + 1, 'the condition-only change sent no part');
  assert.ok(after > before);
});

test('after a drop the watch resumes from the last BOOKMARK RV, without a relist', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => h.server.watchCount === 2, 'pod and node watches');
  // other objects change: the global RV moves on without events for our pod
  h.server.putPod(samplePod({ name: 'other-1' }));
  h.server.putPod(samplePod({ name: 'other-2' }));
  const bookmarkRv = String(h.server.resourceVersion);
  h.server.bookmark();
  await waitFor(() => h.metrics.filter((m) => m === 'event pod BOOKMARK').length === 1, 'bookmark seen');
  h.server.dropWatches();
  await h.server.waitFor(() => podWatches(h).length === 2, 're-watch');
  assert.equal(podWatches(h)[1]!.query.resourceVersion, bookmarkRv);
  assert.equal(h.server.requestsOf('pods', 'list').length, 1, 'no relist');
  assert.ok(h.metrics.includes('watchRestart pod'));
  // still live: a change after the resume arrives
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.after = 'drop';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.after === 'drop');
  assert.equal(h.statuses.filter((s) => s.source === 'api' && s.status.state !== 'ok' && s.status.error?.reason !== 'Starting').length, 0, 'a drop is not a failure');
});

test('ERROR 410 inside a 200 stream → relist, then watch from the new list RV', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  h.server.putPod(samplePod({ name: 'other' })); // our RV is now behind
  h.server.compact();
  h.server.dropWatches();
  await h.server.waitFor(() => podWatches(h).length === 3, 'watch after relist');
  const seq = h.server.requestsOf('pods').map((r) => r.verb);
  assert.deepEqual(seq, ['list', 'watch', 'watch', 'list', 'watch']);
  const third = podWatches(h)[2]!;
  assert.ok(Number(third.query.resourceVersion) >= h.server.resourceVersion - 0);
  assert.ok(h.metrics.includes('event pod ERROR'));
  assert.ok(h.metrics.includes('relist pod'));
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.relisted = 'yes';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.relisted === 'yes');
});

test('plain HTTP 410 on the watch → relist', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  h.server.fail({ resource: 'pods', verb: 'watch' }, { status: 410, reason: 'Gone', message: 'too old resource version' });
  h.server.dropWatches();
  await h.server.waitFor(() => podWatches(h).length === 3, 'watch after relist');
  assert.deepEqual(
    h.server.requestsOf('pods').map((r) => `${r.verb} ${r.status}`),
    ['list 200', 'watch 200', 'watch 410', 'list 200', 'watch 200'],
  );
});

test('429 with Retry-After: no request before Retry-After has passed', async (t) => {
  const h = await harness(t, { timing: { backoffInitialMs: 1, backoffMaxMs: 5 } });
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  h.server.fail({ resource: 'pods', verb: 'watch' }, { status: 429, retryAfter: 1 });
  h.server.dropWatches();
  await h.server.waitFor(() => podWatches(h).length === 3, 'watch after Retry-After', 8000);
  const [, throttled, next] = podWatches(h);
  assert.equal(throttled!.status, 429);
  assert.equal(next!.status, 200);
  // backoff alone would retry within 5 ms; Retry-After says 1 s (allow 50 ms timer slack)
  assert.ok(next!.time - throttled!.time >= 950, `retried after ${next!.time - throttled!.time} ms`);
  assert.equal(h.server.requestsOf('pods', 'list').length, 1);
  const degraded = h.statuses.find((s) => s.source === 'api' && s.status.error?.reason === 'TooManyRequests');
  assert.ok(degraded, 'reported');
  assert.equal(degraded.status.state, 'degraded');
  await h.waitStatus('api', (s) => s.state === 'ok');
});

test('a half-open watch (headers, then silence) is detected and replaced', async (t) => {
  const h = await harness(t, { timing: { inactivityMs: 300 } });
  h.server.fail({ resource: 'pods', verb: 'watch' }, { halfOpen: true });
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 2, 'second watch', 8000);
  await h.waitStatus('api', (s) => s.state === 'ok');
  assert.ok(h.statuses.some((s) => s.source === 'api' && s.status.error?.reason === 'WatchSilent'));
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.alive = 'yes';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.alive === 'yes');
});

test('a quiet watch kept alive by bookmarks is not torn down (fixed guard)', async (t) => {
  const h = await harness(t, { server: { bookmarkIntervalMs: 60 }, timing: { inactivityMs: 1000 } });
  await h.waitPart('api', (p) => p !== undefined);
  const before = h.metrics.filter((m) => m === 'event pod BOOKMARK').length;
  await waitFor(() => h.metrics.filter((m) => m === 'event pod BOOKMARK').length >= before + 25, '25 bookmarks', 10_000);
  assert.equal(podWatches(h).length, 1, 'one watch for the whole time');
  assert.equal(h.server.requestsOf('pods', 'list').length, 1);
});

test("'auto' guard: learns the bookmark interval; quiet-with-bookmarks survives, silence is detected", async (t) => {
  const h = await harness(t, { timing: { inactivityMs: 'auto', inactivityMarginMs: 600 } });
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => h.server.watchCount === 2, 'watches');
  for (let i = 0; i < 15; i++) {
    h.server.bookmark();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(podWatches(h).length, 1, 'not torn down while bookmarks flow');
  // silence: the learned guard (max(3 × gap, margin)) fires long before the 300–600 s watch timeout
  await h.server.waitFor(() => podWatches(h).length === 2, 'silent watch replaced', 8000);
  assert.equal(podWatches(h)[1]!.query.resourceVersion, podWatches(h)[0]!.query.resourceVersion);
});

test('watch lines split at awkward byte boundaries (mid-line, mid-UTF-8) decode right', async (t) => {
  const h = await harness(t, {
    server: {
      // cut every line after 1, 2, 3 bytes, in the middle, and inside every multi-byte character
      splitWatchLines: (line) => {
        const cuts = new Set([1, 2, 3, Math.floor(line.length / 2)]);
        for (let i = 0; i < line.length; i++) if (line[i]! >= 0xc0) cuts.add(i + 1);
        return [...cuts].sort((a, b) => a - b);
      },
    },
  });
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  const labels = { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'example.com/städte': 'zürich-日本-🚀', emoji: '👩‍💻x' };
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels = labels;
    p.metadata.annotations = { note: 'multi\nline\nvalue\n', nbsp: 'a\u00a0b\u2028c' };
  });
  const part = await h.waitPart('api', (p) => p?.pod?.labels?.emoji !== undefined);
  assert.deepEqual(part?.pod?.labels, labels);
  assert.deepEqual(part?.pod?.annotations, { note: 'multi\nline\nvalue\n', nbsp: 'a\u00a0b\u2028c' });
  assert.equal(podWatches(h).length, 1, 'no watch restart');
});

test('DELETED keeps the last part with pod.deleted=true and reports degraded', async (t) => {
  const h = await harness(t);
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  h.server.deletePod(NS, POD);
  const part = await h.waitPart('api', (p) => p?.pod?.deleted === true);
  assert.equal(part?.pod?.name, POD);
  assert.equal(part?.pod?.labels?.app, 'web');
  const st = await h.waitStatus('api', (s) => s.state === 'degraded');
  assert.equal(st.error?.reason, 'PodDeleted');
  assert.match(st.error!.message, /deleted/);
});

test('labels/annotations leave the part after the grace period of trouble and come back on recovery', async (t) => {
  const h = await harness(t, { timing: { labelGraceMs: 150 } });
  await h.waitPart('api', (p) => p?.pod?.labels !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 1, 'watch');
  h.server.fail({ resource: 'pods', verb: 'watch' }, { status: 503, reason: 'ServiceUnavailable' }, 1_000_000);
  h.server.dropWatches();
  const stripped = await h.waitPart('api', (p) => p !== undefined && p.pod?.labels === undefined, 'labels withdrawn');
  assert.equal(stripped?.pod?.annotations, undefined);
  assert.equal(stripped?.pod?.name, POD, 'the rest stays');
  assert.equal(h.lastStatus('api')?.state, 'degraded');
  h.server.clearFaults();
  const back = await h.waitPart('api', (p) => p?.pod?.labels !== undefined, 'labels back');
  assert.equal(back?.pod?.labels?.app, 'web');
  await h.waitStatus('api', (s) => s.state === 'ok');
});

test("'auto' guard before any bookmark: a half-open stream is caught at 3 × the assumed cadence, not the watch timeout; then it stops assuming", async (t) => {
  // watch timeouts stay 300–600 s (FAST does not shorten them); only the assumed bookmark cadence is small
  const h = await harness(t, { timing: { inactivityMs: 'auto', inactivityMarginMs: 100, assumedBookmarkGapMs: 100 } });
  h.server.fail({ resource: 'pods', verb: 'watch' }, { halfOpen: true });
  await h.waitPart('api', (p) => p !== undefined);
  await h.server.waitFor(() => podWatches(h).length === 2, 'half-open watch replaced', 8000);
  assert.ok(h.statuses.some((s) => s.source === 'api' && s.status.error?.reason === 'WatchSilent'));
  // a server that sends no bookmarks: the assumption failed once, so the quiet second watch is left alone
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(podWatches(h).length, 2, 'no more teardowns of a quiet watch');
  h.server.modifyPod(NS, POD, (p) => {
    p.metadata.labels!.alive = 'yes';
  });
  await h.waitPart('api', (p) => p?.pod?.labels?.alive === 'yes');
});

test('fake API server: watch-list streaming as the real server serves it (initial ADDED, annotated bookmark, live events) and its refusal', async (t) => {
  const https = await import('node:https');
  const { LineDecoder } = await import('../src/apiserver/lines.js');
  const { FakeApiServer, samplePod } = await import('./support/fake-apiserver.js');
  const open = (server: { url: URL; caPem: string }, query: string) =>
    new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = https.get(new URL(`/api/v1/namespaces/default/pods?${query}`, server.url), { ca: server.caPem, headers: { Authorization: 'Bearer test-token' } }, resolve);
      req.on('error', reject);
    });
  const server = await FakeApiServer.start();
  t.after(() => server.close());
  server.putPod(samplePod());
  const q = 'watch=1&fieldSelector=metadata.name%3Dweb-5d9c7b8f4-x7k2p&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true';
  const res = await open(server, q);
  t.after(() => res.destroy());
  assert.equal(res.statusCode, 200);
  const events: any[] = [];
  const decoder = new LineDecoder();
  res.on('data', (c: Buffer) => events.push(...decoder.push(c).map((l) => JSON.parse(l))));
  await waitFor(() => events.length >= 2, 'initial events');
  assert.equal(events[0].type, 'ADDED');
  assert.equal(events[0].object.metadata.name, 'web-5d9c7b8f4-x7k2p');
  assert.equal(events[1].type, 'BOOKMARK');
  assert.equal(events[1].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  assert.equal(events[1].object.metadata.resourceVersion, String(server.resourceVersion));
  server.modifyPod('default', 'web-5d9c7b8f4-x7k2p', (p) => void (p.metadata.labels!['x'] = 'y'));
  await waitFor(() => events.length >= 3, 'a live event');
  assert.equal(events[2].type, 'MODIFIED');

  for (const [query, message] of [
    [q.replace('&resourceVersionMatch=NotOlderThan', ''), /requires setting resourceVersionMatch to NotOlderThan/],
    [q.replace('&allowWatchBookmarks=true', ''), /requires setting allowWatchBookmarks to true/],
    ['watch=1&resourceVersionMatch=NotOlderThan', /resourceVersionMatch is forbidden for watch unless sendInitialEvents/],
  ] as const) {
    const r = await open(server, query);
    assert.equal(r.statusCode, 422, query);
    let body = '';
    for await (const c of r) body += c;
    assert.match(JSON.parse(body).message, message);
  }
  const old = await FakeApiServer.start({ watchList: false });
  t.after(() => old.close());
  const refused = await open(old, q);
  assert.equal(refused.statusCode, 422);
  let body = '';
  for await (const c of refused) body += c;
  assert.deepEqual([JSON.parse(body).reason, JSON.parse(body).code], ['Invalid', 422]);
  assert.match(JSON.parse(body).message, /WatchList feature gate/);
});
