// CA rotation (issue 13 item 4) through the real agent: the fake API server switches to a certificate from a
// new CA; the agent's ca.crt still holds the old one, so the API source stops with TLSVerifyFailed and the
// proxy answers 502 — and the token never reaches the unverified server (its wire log and byte count stay
// flat). When kubelet swaps the new ca.crt in (`..data`), both recover on new connections by themselves.
// Also: a bundle that already holds both CAs (how clusters roll a CA) keeps everything working throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer, samplePod } from './support/fake-apiserver.js';
import { fakeJwt, SaDir } from './support/sa-dir.js';
import { FAST } from './support/api-harness.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { rotatedPki, testPki } from './support/certs.js';

const POD = 'web-5d9c7b8f4-x7k2p';

async function cluster(t: test.TestContext) {
  const token = fakeJwt('default', 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token] });
  t.after(() => server.close());
  server.putPod(samplePod());
  const sa = await SaDir.create({ token, caPem: (await testPki()).caPem, namespace: 'default' });
  t.after(() => sa.remove());
  const agent = await startAgent(t, {
    env: { POD_NAME: POD, POD_NAMESPACE: 'default', NODE_NAME: 'k8s-node1' },
    files: sampleFiles({ app: 'web' }),
    config: {
      PODMETA_API: 'on',
      PODMETA_SA_DIR: sa.dir,
      PODMETA_NODE_LABELS: '',
      PODMETA_PROXY_LISTEN: '127.0.0.1:0',
      KUBERNETES_SERVICE_HOST: server.host,
      KUBERNETES_SERVICE_PORT: String(server.port),
    },
    agent: { apiTiming: { ...FAST, tokenRefreshMs: 1000 } }, // ca.crt is re-read as often (at most once a second)
  });
  const api = async (): Promise<{ state: string; error?: { reason?: string; message: string; hint: string } }> =>
    ((await (await agent.get('/status')).json()) as { sources: { api: { state: string; error?: { reason?: string; message: string; hint: string } } } }).sources.api;
  await eventually(async () => (await api()).state === 'ok', 10_000, 'api ok');
  return { server, sa, agent, token, api };
}

test('rotated server certificate: TLSVerifyFailed, no token sent; the new ca.crt swapped in kubelet-style → recovered', { timeout: 30_000 }, async (t) => {
  const { server, sa, agent, token, api } = await cluster(t);
  const next = await rotatedPki();
  const before = { wire: server.wire.length, bytes: server.bytesIn, failures: server.tlsFailures };
  server.rotateCertificate(next); // new handshakes present the new certificate; open connections are cut

  const st = await eventually(async () => {
    const s = await api();
    return s.error?.reason === 'TLSVerifyFailed' ? s : undefined;
  }, 10_000, 'TLSVerifyFailed');
  assert.equal(st.state, 'error');
  assert.match(st.error!.hint, /ca\.crt|certificate/);
  const proxied = await fetch(`${agent.proxy}/api/v1/namespaces/default/pods/${POD}`);
  assert.equal(proxied.status, 502);
  assert.match(((await proxied.json()) as { message: string }).message, /did not verify against ca\.crt/);
  await eventually(() => server.tlsFailures - before.failures >= 3, 5000, 'several refused handshakes');
  assert.equal(server.wire.length, before.wire, 'not one request reached the unverified server');
  assert.equal(server.bytesIn, before.bytes, 'not one byte after a handshake');

  await sa.update({ 'ca.crt': next.caPem }); // kubelet's atomic ..data swap
  await eventually(async () => (await api()).state === 'ok', 10_000, 'api recovered');
  const after = server.wire.slice(before.wire);
  assert.ok(after.length > 0 && after.every((w) => w.token === token), 'requests resumed with the token, on verified connections');
  const ok = await fetch(`${agent.proxy}/api/v1/namespaces/default/pods/${POD}`);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { metadata: { name: string } }).metadata.name, POD);
  // the pod watch works again end to end
  server.modifyPod('default', POD, (p) => {
    p.metadata.labels = { ...p.metadata.labels, rotated: 'yes' };
  });
  await eventually(async () => ((await (await agent.get('/metadata/pod/labels')).json()) as Record<string, string>).rotated === 'yes', 10_000, 'watch delivers');
  assert.ok(agent.logs.some((l) => String(l.msg).includes('ca.crt changed')), 'the new trust is logged');
  assert.ok(!JSON.stringify(agent.logs).includes(token));
});

test('a bundle holding the old and the new CA (a rolling rotation) keeps working through the server switch', { timeout: 30_000 }, async (t) => {
  const { server, sa, agent, api } = await cluster(t);
  const next = await rotatedPki();
  await sa.update({ 'ca.crt': (await testPki()).caPem + next.caPem });
  await eventually(() => agent.logs.some((l) => String(l.msg).includes('ca.crt changed')), 10_000, 'the bundle re-read (periodic)');
  server.rotateCertificate(next);
  await eventually(async () => (await fetch(`${agent.proxy}/api/v1/namespaces/default/pods/${POD}`)).status === 200, 10_000, 'proxy through the new certificate');
  await eventually(async () => (await api()).state === 'ok' && server.watchCount > 0, 10_000, 'watch re-established');
  assert.equal(server.tlsFailures, 0, 'no handshake was refused');
});
