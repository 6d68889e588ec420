import test from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError, parseListen } from '../src/config.js';

test('defaults are the contract defaults', () => {
  const c = parseConfig({});
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 9977 });
  assert.deepEqual(c.probeListen, { host: '0.0.0.0', port: 9978 });
  assert.equal(c.downwardDir, '/etc/podinfo');
  assert.equal(c.api, 'auto');
  assert.equal(c.saDir, '/var/run/secrets/kubernetes.io/serviceaccount');
  assert.deepEqual(c.nodeLabels, [
    'topology.kubernetes.io/zone',
    'topology.kubernetes.io/region',
    'node.kubernetes.io/instance-type',
    'kubernetes.io/arch',
    'kubernetes.io/os',
  ]);
  assert.equal(c.requireHeader, true);
  assert.deepEqual(c.annotationsExclude, ['kubectl.kubernetes.io/last-applied-configuration']);
  assert.equal(c.proxy, undefined, 'proxy off by default');
  assert.equal(c.logLevel, 'info');
});

test('every variable is read; empty = unset, except where "empty" means "none"', () => {
  const c = parseConfig({
    PODMETA_LISTEN: '[::1]:8080',
    PODMETA_PROBE_LISTEN: '',
    PODMETA_DOWNWARD_DIR: '/podinfo',
    PODMETA_API: 'off',
    PODMETA_SA_DIR: '/sa',
    PODMETA_NODE_LABELS: '',
    PODMETA_REQUIRE_HEADER: 'false',
    PODMETA_ANNOTATIONS_EXCLUDE: 'a, b* ,',
    PODMETA_PROXY_LISTEN: '127.0.0.1:8001',
    PODMETA_PROXY_REJECT_METHODS: '^$',
    PODMETA_LOG_LEVEL: 'debug',
    KUBERNETES_SERVICE_HOST: 'fd00::1',
    KUBERNETES_SERVICE_PORT: '443',
  });
  assert.deepEqual(c.listen, { host: '::1', port: 8080 });
  assert.deepEqual(c.probeListen, { host: '0.0.0.0', port: 9978 });
  assert.equal(c.api, 'off');
  assert.deepEqual(c.nodeLabels, [], 'empty PODMETA_NODE_LABELS = never read the Node');
  assert.equal(c.requireHeader, false, '"false" is false (no coerce.boolean trap)');
  assert.deepEqual(c.annotationsExclude, ['a', 'b*']);
  assert.deepEqual(c.proxy, { listen: { host: '127.0.0.1', port: 8001 }, rejectMethods: ['^$'] });
  assert.equal(c.serviceHost, 'fd00::1');
});

test('all problems are reported at once, each named', () => {
  assert.throws(
    () =>
      parseConfig({
        PODMETA_LISTEN: 'localhost',
        PODMETA_PROBE_LISTEN: '1.2.3.4:99999',
        PODMETA_API: 'yes',
        PODMETA_REQUIRE_HEADER: 'maybe',
        PODMETA_DOWNWARD_DIR: 'relative/dir',
        PODMETA_PROXY_ACCEPT_PATHS: '^/api/(',
        PODMETA_LOG_LEVEL: 'trace',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (const v of ['PODMETA_LISTEN', 'PODMETA_PROBE_LISTEN', 'PODMETA_API', 'PODMETA_REQUIRE_HEADER', 'PODMETA_DOWNWARD_DIR', 'PODMETA_PROXY_ACCEPT_PATHS', 'PODMETA_LOG_LEVEL']) {
        assert.match(err.message, new RegExp(`^  ${v}=`, 'm'), v);
      }
      assert.match(err.message, /7 problems/);
      assert.match(err.message, /out of range/);
      assert.match(err.message, /invalid regular expression/);
      assert.match(err.message, /PODMETA_API="yes": expected one of auto, on, off/);
      assert.match(err.message, /PODMETA_LOG_LEVEL="trace": expected one of debug, info, warn, error/);
      assert.match(err.message, /PODMETA_REQUIRE_HEADER="maybe": expected true or false/);
      assert.doesNotMatch(err.message, /Invalid input/, 'every message says what is expected');
      return true;
    },
  );
});

test('parseListen', () => {
  assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseListen('[fe80::1%eth0]:1'), { host: 'fe80::1%eth0', port: 1 });
  assert.equal(typeof parseListen(':80'), 'string');
  assert.equal(typeof parseListen('::1:80'), 'string', 'IPv6 needs brackets');
});

test('two listeners on one port are a configuration error naming both variables', () => {
  for (const [env, names] of [
    [{ PODMETA_LISTEN: '127.0.0.1:9000', PODMETA_PROBE_LISTEN: '0.0.0.0:9000' }, ['PODMETA_LISTEN', 'PODMETA_PROBE_LISTEN']],
    [{ PODMETA_LISTEN: '127.0.0.1:9978' }, ['PODMETA_LISTEN', 'PODMETA_PROBE_LISTEN']],
    [{ PODMETA_PROXY_LISTEN: '127.0.0.1:9977' }, ['PODMETA_LISTEN', 'PODMETA_PROXY_LISTEN']],
    [{ PODMETA_LISTEN: '[::1]:7000', PODMETA_PROBE_LISTEN: '[::]:7000' }, ['PODMETA_LISTEN', 'PODMETA_PROBE_LISTEN']],
  ] as const) {
    assert.throws(
      () => parseConfig(env),
      (err: unknown) => err instanceof ConfigError && names.every((n) => err.message.includes(n)) && /port/.test(err.message),
      JSON.stringify(env),
    );
  }
  // different hosts on one port do not overlap; port 0 (any free port) never clashes
  assert.doesNotThrow(() => parseConfig({ PODMETA_LISTEN: '127.0.0.1:9000', PODMETA_PROBE_LISTEN: '127.0.0.2:9000' }));
  assert.doesNotThrow(() => parseConfig({ PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0' }));
});

test('PODMETA_DEBOUNCE_MS accepts only what is honoured (0..60 ms)', () => {
  assert.equal(parseConfig({ PODMETA_DEBOUNCE_MS: '60' }).debounceMs, 60);
  assert.equal(parseConfig({ PODMETA_DEBOUNCE_MS: '0' }).debounceMs, 0);
  assert.throws(() => parseConfig({ PODMETA_DEBOUNCE_MS: '61' }), /PODMETA_DEBOUNCE_MS="61": expected at most 60/);
});
