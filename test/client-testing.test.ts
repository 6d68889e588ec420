// @podmeta/client/testing: a real in-process agent on a temporary kubelet-style volume; setLabels /
// setAnnotations resolve once the agent serves the new values, and a watch sees them as changes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { startPodmeta, type AgentModule } from '../client/src/testing.js';

test('the kit\'s idea of the agent module is the real agent module', async () => {
  const m: AgentModule = await import('../client/src/agent-bundle.js');
  assert.equal(typeof m.Agent, 'function');
});

test('startPodmeta(): a real agent; setLabels changes the volume the way kubelet does; the app sees it', async (t) => {
  const pod = await startPodmeta({ labels: { app: 'web', track: 'stable' }, annotations: { owner: 'team-a' }, env: { NODE_NAME: 'node-7' }, keepAliveMs: 200, retryMs: 20 });
  t.after(() => pod.stop());
  assert.match(pod.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const pm = pod.client;
  assert.deepEqual(await pm.get('pod/labels'), { app: 'web', track: 'stable' });
  assert.equal(await pm.get('pod/name'), 'test-pod');
  assert.equal(await pm.get('node/name'), 'node-7');
  assert.equal(await pm.get('pod/annotations/owner'), 'team-a');
  assert.match(await readlink(join(pod.dir, '..data')), /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$/, 'a kubelet-style ..data link');
  const w = pm.watch('pod/labels');
  await w.ready;
  await pod.setLabels({ app: 'web', track: 'canary' });
  assert.deepEqual(await pm.get('pod/labels'), { app: 'web', track: 'canary' }, 'served when setLabels resolves');
  const seen: unknown[] = [];
  for await (const { value } of w) {
    seen.push(value);
    if ((value as Record<string, string>).track === 'canary') break;
  }
  assert.deepEqual(seen.at(-1), { app: 'web', track: 'canary' });
  await pod.setAnnotations({});
  assert.deepEqual((await pm.get()).pod.annotations ?? {}, {});
  await pod.stop();
  assert.equal(await pm.isAvailable(), false, 'stopped');
});
