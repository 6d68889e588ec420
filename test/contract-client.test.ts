// Contract "Client library": the default `timeoutMs` is 2000 — the one client promise without a test that
// would fail without it (the other client tests all pass their own timeout). A black-hole server (accepts,
// never answers) on loopback; the error names the deadline it waited for.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createClient, PodmetaError } from '../client/src/index.js';
import { blackHole } from './support/client-proxy.js';

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
