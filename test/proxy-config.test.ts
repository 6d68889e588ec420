// The proxy's concurrency knobs in parseConfig: PODMETA_PROXY_MAX_REQUESTS / PODMETA_PROXY_MAX_WATCHES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/config.js';
import { DEFAULT_MAX_REQUESTS, DEFAULT_MAX_WATCHES } from '../src/proxy/index.js';

test('unset: the proxy uses its documented defaults (64 requests, 128 streams)', () => {
  const c = parseConfig({ PODMETA_PROXY_LISTEN: '127.0.0.1:8001' });
  assert.equal(c.proxy?.maxRequests, undefined);
  assert.equal(c.proxy?.maxWatches, undefined);
  assert.equal(DEFAULT_MAX_REQUESTS, 64);
  assert.equal(DEFAULT_MAX_WATCHES, 128);
});

test('set: whole numbers 1..256 are taken; empty = unset', () => {
  const c = parseConfig({ PODMETA_PROXY_LISTEN: '127.0.0.1:8001', PODMETA_PROXY_MAX_REQUESTS: '8', PODMETA_PROXY_MAX_WATCHES: ' 256 ' });
  assert.equal(c.proxy?.maxRequests, 8);
  assert.equal(c.proxy?.maxWatches, 256);
  assert.equal(parseConfig({ PODMETA_PROXY_LISTEN: '127.0.0.1:8001', PODMETA_PROXY_MAX_WATCHES: '' }).proxy?.maxWatches, undefined);
});

test('invalid values stop startup naming each variable', () => {
  for (const [v, why] of [
    ['0', /at least 1/],
    ['257', /at most 256/],
    ['many', /whole number/],
    ['-1', /whole number/],
  ] as const) {
    assert.throws(
      () => parseConfig({ PODMETA_PROXY_LISTEN: '127.0.0.1:8001', PODMETA_PROXY_MAX_REQUESTS: v, PODMETA_PROXY_MAX_WATCHES: v }),
      (err: Error) => err instanceof ConfigError && /PODMETA_PROXY_MAX_REQUESTS/.test(err.message) && /PODMETA_PROXY_MAX_WATCHES/.test(err.message) && why.test(err.message),
    );
  }
});
