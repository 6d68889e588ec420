// Contract "PODMETA_API" default and "PODMETA_SA_DIR": with `auto` (the default) and in-cluster credentials
// mounted, the API server IS used — every other API test sets PODMETA_API=on. The namespace comes from the
// service-account dir's `namespace` file when neither env nor volume names it. Fake API server (TLS, tokens).
import test from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer, samplePod } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { FAST } from './support/api-harness.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';

test('contract "PODMETA_API=auto" (the default): in-cluster credentials present → the API enriches the document; the namespace is read from PODMETA_SA_DIR', async (t) => {
  const token = fakeJwt('team-a', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  const pod = samplePod({ namespace: 'team-a' });
  server.putPod(pod);
  const sa = await SaDir.create({ token, caPem: server.caPem, namespace: 'team-a' });
  t.after(() => sa.remove());
  const { podNamespace: _ns, ...files } = sampleFiles();
  const a = await startAgent(t, {
    env: { POD_NAME: pod.metadata.name },
    files: { ...files, podName: pod.metadata.name },
    // '' is unset: the default, auto
    config: { PODMETA_API: '', PODMETA_SA_DIR: sa.dir, KUBERNETES_SERVICE_HOST: server.host, KUBERNETES_SERVICE_PORT: String(server.port), PODMETA_NODE_LABELS: '' },
    agent: { apiTiming: FAST },
  });
  const doc = await eventually(async () => {
    const d = (await (await a.get('/metadata')).json()) as { pod: Record<string, unknown> };
    return d.pod.phase !== undefined ? d : undefined;
  }, 10_000, 'the document enriched from the API');
  assert.equal(doc.pod.phase, 'Running');
  assert.equal(doc.pod.namespace, 'team-a', 'from the API, found through the SA dir namespace');
  assert.deepEqual(doc.pod.workload, { kind: 'Deployment', name: 'web' });
  const st = (await (await a.get('/status')).json()) as { sources: Record<string, { state: string }> };
  assert.equal(st.sources.api!.state, 'ok');
  assert.ok(server.requests.some((r) => r.path.startsWith('/api/v1/namespaces/team-a/pods')), 'the pod was read in the SA namespace');
});
