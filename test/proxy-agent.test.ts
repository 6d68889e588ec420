// The ambassador wired into a real agent: config from env (PODMETA_PROXY_*), the real in-cluster Transport
// (token and ca.crt read from a service-account dir), metrics on the probe port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { startAgent } from './support/agent.js';
import { testPki, type TestPki } from './support/certs.js';

const TOKEN = 'agent-sa-token-0b9d8c7e';

describe('proxy in the agent', () => {
  test('PODMETA_API=off: the proxy answers 503 and counts it', async (t) => {
    const a = await startAgent(t, { config: { PODMETA_PROXY_LISTEN: '127.0.0.1:0' } });
    assert.ok(a.proxy);
    const r = await fetch(`${a.proxy}/api/v1/namespaces/default/pods`);
    assert.equal(r.status, 503);
    const body = (await r.json()) as { reason: string; message: string };
    assert.equal(body.reason, 'ServiceUnavailable');
    const metrics = await (await fetch(`${a.probe}/metrics`)).text();
    assert.match(metrics, /podmeta_proxy_requests_total\{method="GET",code="503"\} 1/);
  });

  describe('in cluster (service-account dir + TLS upstream)', () => {
    let pki: TestPki;
    let root: string;
    let seen: { url: string; headers: IncomingHttpHeaders }[];
    let server: https.Server;
    let port: number;

    before(async () => {
      pki = await testPki();
      root = await mkdtemp(join(tmpdir(), 'podmeta-proxy-sa-'));
      await writeFile(join(root, 'token'), TOKEN);
      await writeFile(join(root, 'ca.crt'), pki.caPem);
      await writeFile(join(root, 'namespace'), 'default');
      seen = [];
      server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
        seen.push({ url: req.url ?? '', headers: req.headers });
        const body = req.url === '/api/v1/namespaces/default/configmaps/cm' ? '{"kind":"ConfigMap"}' : '{"kind":"Status","code":404}';
        res.writeHead(body.includes('ConfigMap') ? 200 : 404, { 'Content-Type': 'application/json' });
        res.end(body);
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(root, { recursive: true, force: true });
    });

    test('a GET goes through with the token read from the SA dir; env knobs apply', async (t) => {
      const a = await startAgent(t, {
        config: {
          PODMETA_API: 'auto',
          PODMETA_SA_DIR: root,
          PODMETA_NODE_LABELS: '',
          KUBERNETES_SERVICE_HOST: '127.0.0.1',
          KUBERNETES_SERVICE_PORT: String(port),
          PODMETA_PROXY_LISTEN: '127.0.0.1:0',
          PODMETA_PROXY_REJECT_METHODS: '^DELETE$',
        },
      });
      const r = await fetch(`${a.proxy}/api/v1/namespaces/default/configmaps/cm`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), '{"kind":"ConfigMap"}');
      const hit = seen.find((s) => s.url === '/api/v1/namespaces/default/configmaps/cm');
      assert.ok(hit);
      assert.equal(hit.headers.authorization, `Bearer ${TOKEN}`);
      const del = await fetch(`${a.proxy}/api/v1/namespaces/default/configmaps/cm`, { method: 'DELETE' });
      assert.equal(del.status, 403);
      assert.match(((await del.json()) as { message: string }).message, /rule "reject-methods"/);
      assert.ok(a.logs.some((l) => l.level === 'warn' && String(l.msg).includes('write methods (POST, PUT, PATCH)')));
      assert.ok(!JSON.stringify(a.logs).includes(TOKEN));
    });
  });
});
