// The probe listener: livez/healthz, readyz (+verbose, 503 while draining), Prometheus metrics.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, sampleFiles, eventually } from './support/agent.js';

test('livez, healthz and readyz?verbose', async (t) => {
  const a = await startAgent(t);
  for (const p of ['/livez', '/healthz', '/readyz']) {
    const r = await fetch(a.probe + p);
    assert.equal(r.status, 200, p);
    assert.equal(await r.text(), 'ok');
  }
  const v = await fetch(a.probe + '/readyz?verbose');
  assert.equal(await v.text(), '[+]env ok\n[+]downward ok\n[+]shutdown ok\nreadyz check passed\n');
  const meta = await fetch(a.probe + '/metadata');
  assert.equal(meta.status, 404, 'the probe port serves no metadata');
  await meta.arrayBuffer();
});

test('a missing volume still makes the agent ready (read once = reported missing)', async (t) => {
  const a = await startAgent(t, { files: null });
  assert.equal((await fetch(a.probe + '/readyz')).status, 200);
  const st = (await (await a.get('/status')).json()) as any;
  assert.equal(st.sources.downward.state, 'missing');
  assert.match(st.sources.downward.error.hint, /downwardAPI volume/);
});

test('/readyz turns 503 while draining', async (t) => {
  const a = await startAgent(t, { agent: { drainDelayMs: 400 } });
  const stopping = a.agent.shutdown();
  const r = await fetch(a.probe + '/readyz?verbose');
  assert.equal(r.status, 503);
  assert.match(await r.text(), /\[-\]shutdown failed\nreadyz check failed/);
  assert.equal((await fetch(a.probe + '/livez')).status, 200, 'still live while draining');
  await stopping;
});

test('/metrics: podmeta_* metrics in Prometheus text format', async (t) => {
  const a = await startAgent(t);
  await (await a.get('/metadata')).arrayBuffer();
  await (await a.get('/metadata/pod/name')).arrayBuffer();
  await (await fetch(a.base + '/metadata')).arrayBuffer(); // 403
  await a.volume!.update(sampleFiles({ foo: 'm' }));
  await eventually(() => a.agent.store.current.revision === 2);
  const r = await fetch(a.probe + '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /^podmeta_document_revision 2$/m);
  assert.match(text, /^podmeta_document_changes_total 2$/m);
  assert.match(text, /^podmeta_source_state\{source="downward",state="ok"\} 1$/m);
  assert.match(text, /^podmeta_http_requests_total\{server="metadata",route="metadata",code="200"\} 1$/m);
  assert.match(text, /^podmeta_http_requests_total\{server="metadata",route="metadata_path",code="200"\} 1$/m);
  assert.match(text, /^podmeta_http_requests_total\{server="metadata",route="metadata",code="403"\} 1$/m);
  assert.match(text, /^podmeta_build_info\{version="[^"]+",revision="[^"]+",nodejs="v\d+/m);
  assert.match(text, /^podmeta_http_request_duration_seconds_bucket\{/m);
});
