// Contract "Client library": the promises without a test that would fail without them — the default
// `timeoutMs` of 2000 (the other client tests all pass their own; a black-hole server on loopback, the error
// names the deadline it waited for) and `current` / `revision` being undefined before the first value.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createClient, PodmetaError } from '../client/src/index.js';
import { blackHole } from './support/client-proxy.js';
import { startAgent } from './support/agent.js';

test('contract "@podmeta/client": timeoutMs defaults to 2000 — get() ends with code 0, reason Timeout, after that deadline; isAvailable() is false, never throws', { timeout: 30_000 }, async (t) => {
  const url = await blackHole(t);
  const pm = createClient({ url });
  t.after(() => pm.close());
  const started = Date.now();
  const err = await pm.get('pod/name').then(
    () => assert.fail('a black hole never answers'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PodmetaError, String(err));
  assert.equal(err.code, 0);
  assert.equal(err.reason, 'Timeout');
  assert.match(err.message, /within 2000 ms/, err.message);
  assert.ok(Date.now() - started >= 1900, 'not before the default deadline (timers never fire early)');
  assert.equal(await pm.isAvailable(), false);
});

test('contract "@podmeta/client": watch().current and .revision are undefined before the first value, then the snapshot\'s; the first item is the snapshot', { timeout: 30_000 }, async (t) => {
  const hole = createClient({ url: await blackHole(t) });
  const waiting = hole.watch('pod/labels');
  assert.equal(waiting.current, undefined);
  assert.equal(waiting.revision, undefined);
  waiting.close();
  hole.close();

  const a = await startAgent(t);
  const pm = createClient({ url: a.base });
  t.after(() => pm.close());
  const w = pm.watch('pod/labels');
  t.after(() => w.close());
  for await (const { value, revision } of w) {
    assert.deepEqual(value, { foo: 'bar' });
    assert.equal(revision, a.agent.store.current.revision);
    assert.deepEqual(w.current, { foo: 'bar' });
    assert.equal(w.revision, revision);
    break;
  }
});
