// The ambassador's filter as pure functions: path canonicalisation, Host parsing, every default rule, the
// kubectl-style knobs and the startup warnings.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { BUILTIN_PATH_RULES, canonicalPath, checkRequest, compileRules, hostOf, relaxedRules } from '../src/proxy/rules.js';
import { requestHeaders, responseHeaders } from '../src/proxy/upstream.js';
import type { ProxyConfig } from '../src/config.js';
import { forwardedHeader, forwardedRefusal } from '../src/http/guard.js';

type Knobs = Pick<ProxyConfig, 'acceptPaths' | 'rejectPaths' | 'rejectMethods' | 'acceptHosts'>;

function decide(target: string, { method = 'GET', headers = {}, knobs = {} }: { method?: string; headers?: IncomingHttpHeaders; knobs?: Knobs } = {}) {
  return checkRequest(compileRules(knobs), { method, target, headers: { host: '127.0.0.1:8001', ...headers } });
}

function refusedBy(target: string, opts?: Parameters<typeof decide>[1]): string {
  const d = decide(target, opts);
  assert.equal(d.allow, false, `${opts?.method ?? 'GET'} ${target} should be refused`);
  return d.allow ? '' : d.rule;
}

describe('canonicalPath', () => {
  test('plain paths pass unchanged, query split off', () => {
    assert.deepEqual(canonicalPath('/api/v1/namespaces/default/pods/web-0?watch=1&a=%2F'), {
      ok: true,
      path: '/api/v1/namespaces/default/pods/web-0',
      query: '?watch=1&a=%2F',
    });
    assert.deepEqual(canonicalPath('/'), { ok: true, path: '/', query: '' });
    assert.deepEqual(canonicalPath('/api/'), { ok: true, path: '/api/', query: '' });
    // harmless encodings are decoded for matching (the API server decodes them the same way)
    assert.deepEqual(canonicalPath('/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aview'), {
      ok: true,
      path: '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:view',
      query: '',
    });
  });

  test('normalisation tricks are refused, never rewritten', () => {
    for (const t of [
      'api/v1',
      'http://localhost/api/v1/secrets',
      '*',
      '//api/v1/secrets',
      '/api//v1/secrets',
      '/api/v1/./secrets',
      '/api/v1/pods/../secrets',
      '/api/v1/pods/..',
      '/api/v1/.',
      '/api/v1/namespaces%2Fdefault/secrets',
      '/api/v1/namespaces%2fdefault/secrets',
      '/api/v1/pods/%2e%2e/secrets',
      '/api/v1/pods/%2E./secrets',
      '/api/v1/pods/.%2e/secrets',
      '/api/v1/%2e/secrets',
      '/api/v1/namespaces%252Fdefault/secrets',
      '/api/v1/pods\\..\\secrets',
      '/api/v1/pods%5C..%5Csecrets',
      '/api/v1/pods/%00',
      '/api/v1/pods/%0a',
      '/api/v1/pods/%zz',
      '/api/v1/pods/%C0%AE%C0%AE',
      '/api/v1/pods/%',
    ]) {
      const c = canonicalPath(t);
      assert.equal(c.ok, false, `${t} should be refused`);
    }
  });

  test('property: an accepted path has no empty, "." or ".." segment and decodes without "/" inside segments', () => {
    const segment = fc.oneof(
      fc.constantFrom('', '.', '..', '%2e', '%2E%2e', '%2F', '%2f', '%25', '%5c', 'api', 'v1', 'secrets', 'a%20b', '%3A', 'x'),
      fc.string({ maxLength: 4 }).filter((s) => !/[/?]/.test(s)),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segs) => {
        const c = canonicalPath('/' + segs.join('/'));
        if (!c.ok) return;
        const parts = c.path.split('/').slice(1);
        parts.forEach((p, i) => {
          assert.ok(p !== '.' && p !== '..');
          assert.ok(p !== '' || i === parts.length - 1);
        });
        assert.equal(c.path.split('/').length, segs.length + 1);
      }),
    );
  });
});

describe('hostOf', () => {
  test('port removed, IPv6 brackets kept, lower-cased', () => {
    assert.equal(hostOf('localhost:8001'), 'localhost');
    assert.equal(hostOf('LocalHost'), 'localhost');
    assert.equal(hostOf('127.0.0.1'), '127.0.0.1');
    assert.equal(hostOf('[::1]:8001'), '[::1]');
    assert.equal(hostOf('[::1]'), '[::1]');
    assert.equal(hostOf('::1'), '::1');
    assert.equal(hostOf(undefined), '');
    assert.equal(hostOf('evil.example:80'), 'evil.example');
  });
});

describe('default rules', () => {
  test('reads of ordinary resources pass, with the decoded path', () => {
    for (const t of [
      '/api',
      '/apis',
      '/api/v1',
      '/version',
      '/api/v1/namespaces/default/pods/web-0',
      '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dweb-0',
      '/api/v1/namespaces/default/pods/web-0/log',
      '/api/v1/namespaces/secrets/pods', // a namespace named "secrets"
      '/api/v1/namespaces/proxy/configmaps', // a namespace named "proxy"
      '/api/v1/nodes/node-1',
      '/apis/apps/v1/namespaces/default/deployments/web',
    ]) {
      const d = decide(t);
      assert.equal(d.allow, true, `${t} should pass: ${d.allow ? '' : d.message}`);
    }
    assert.equal(decide('/api/v1/nodes', { method: 'HEAD' }).allow, true);
  });

  test('secrets, namespaced and cluster-wide, watch variants included', () => {
    for (const t of [
      '/api/v1/secrets',
      '/api/v1/secrets?watch=1',
      '/api/v1/secrets/',
      '/api/v1/namespaces/default/secrets',
      '/api/v1/namespaces/default/secrets?watch=true',
      '/api/v1/namespaces/default/secrets/db-password',
      '/api/v1/watch/secrets',
      '/api/v1/watch/namespaces/default/secrets',
      '/api/v1/watch/namespaces/default/secrets/db-password',
      '/api/v1/namespaces/default/%73ecrets', // encoded letter: decoded before matching
    ]) {
      assert.equal(refusedBy(t), 'secrets', t);
    }
  });

  test('exec, attach, portforward and proxy sub-resources', () => {
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/web-0/exec?command=sh'), 'exec');
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/web-0/attach'), 'attach');
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/web-0/portforward'), 'portforward');
    for (const t of [
      '/api/v1/namespaces/default/services/web/proxy',
      '/api/v1/namespaces/default/services/https:web:443/proxy/admin',
      '/api/v1/namespaces/default/pods/web-0/proxy/',
      '/api/v1/nodes/node-1/proxy/configz',
      '/api/v1/proxy/namespaces/default/services/web',
    ]) {
      assert.equal(refusedBy(t), 'proxy', t);
    }
  });

  test('only GET and HEAD; the message names the rule and the variable', () => {
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const d = decide('/api/v1/namespaces/default/pods/web-0', { method: m });
      assert.ok(!d.allow && d.rule === 'read-only', m);
      assert.ok(!d.allow && d.message.includes('PODMETA_PROXY_REJECT_METHODS') && d.message.includes('"read-only"'));
    }
  });

  test('the secrets message matches the documented wording', () => {
    const d = decide('/api/v1/secrets');
    assert.ok(!d.allow);
    assert.equal(d.message, 'secrets are not served through the proxy (rule "secrets"); set PODMETA_PROXY_REJECT_PATHS to override');
  });

  test('Host: loopback names only, port optional; forwarding, upgrade and impersonation headers', () => {
    for (const host of ['localhost', 'localhost:8001', '127.0.0.1', '127.0.0.1:8001', '[::1]', '[::1]:8001']) {
      assert.equal(decide('/api', { headers: { host } }).allow, true, host);
    }
    for (const host of ['evil.example', 'evil.example:8001', 'localhost.evil.example', '10.0.0.1:8001', '', '127.0.0.2']) {
      assert.equal(refusedBy('/api', { headers: { host } }), 'accept-hosts', host);
    }
    assert.equal(refusedBy('/api', { headers: { 'x-forwarded-for': '10.0.0.9' } }), 'x-forwarded-for');
    assert.equal(refusedBy('/api', { headers: { forwarded: 'for=10.0.0.9' } }), 'x-forwarded-for');
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/p/log', { headers: { upgrade: 'websocket', connection: 'Upgrade' } }), 'upgrade');
    assert.equal(refusedBy('/api/v1/pods', { headers: { 'impersonate-user': 'admin' } }), 'impersonation');
    assert.equal(refusedBy('/api/v1/pods', { headers: { 'impersonate-group': 'system:masters' } }), 'impersonation');
  });

  test('x-forwarded-for is the metadata port\'s rule (one function): the same requests are refused, each listener with its own message', () => {
    const cases: IncomingHttpHeaders[] = [{}, { 'x-forwarded-for': '' }, { 'x-forwarded-for': '10.0.0.9' }, { forwarded: '' }, { forwarded: 'for=10.0.0.9' }, { 'x-forwarded-host': 'a' }, { via: '1.1 proxy' }];
    for (const headers of cases) {
      const d = decide('/api', { headers });
      const shown = forwardedHeader(headers);
      assert.equal(d.allow, shown === undefined, JSON.stringify(headers));
      assert.equal(forwardedRefusal(headers) === undefined, shown === undefined, JSON.stringify(headers));
      if (!d.allow) {
        assert.equal(d.rule, 'x-forwarded-for');
        assert.match(d.message, new RegExp(`remove the ${shown} header`));
      }
    }
  });

  test('non-canonical targets are refused by their own rule before path rules', () => {
    for (const t of ['/api/v1//secrets', '/api/v1/pods/../secrets', '/api/v1/namespaces%2Fdefault%2Fsecrets', '/api/v1/%2e%2e/v1/secrets']) {
      assert.equal(refusedBy(t), 'canonical-path', t);
    }
  });

  test('property: however "secrets" paths are percent-encoded, they are never allowed', () => {
    const base = ['/api/v1/secrets', '/api/v1/namespaces/default/secrets/x', '/api/v1/watch/namespaces/kube-system/secrets'];
    fc.assert(
      fc.property(fc.constantFrom(...base), fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), (path, enc) => {
        const encoded = [...path]
          .map((ch, i) => (ch !== '/' && enc[i] ? `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch))
          .join('');
        const d = decide(encoded);
        assert.equal(d.allow, false, encoded);
      }),
    );
  });
});

describe('knobs (kubectl meaning; a set variable replaces its default)', () => {
  test('PODMETA_PROXY_ACCEPT_PATHS: a path must match one entry', () => {
    const knobs = { acceptPaths: ['^/api/v1/namespaces/default/pods'] };
    assert.equal(decide('/api/v1/namespaces/default/pods/web-0', { knobs }).allow, true);
    const d = decide('/api/v1/nodes', { knobs });
    assert.ok(!d.allow && d.rule === 'accept-paths' && d.message.includes('PODMETA_PROXY_ACCEPT_PATHS'));
    // built-in reject rules still apply
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/web-0/exec', { knobs }), 'exec');
  });

  test('PODMETA_PROXY_REJECT_PATHS replaces the built-in path rules', () => {
    const knobs = { rejectPaths: ['^/api/v1/nodes'] };
    const d = decide('/api/v1/nodes/n1', { knobs });
    assert.ok(!d.allow && d.rule === 'reject-paths' && d.message.includes('"^/api/v1/nodes"'));
    assert.equal(decide('/api/v1/namespaces/default/secrets', { knobs }).allow, true);
    // keeping the defaults means listing them
    const keep = { rejectPaths: [...BUILTIN_PATH_RULES.map((r) => r.source), '^/api/v1/nodes'] };
    assert.equal(refusedBy('/api/v1/namespaces/default/secrets', { knobs: keep }), 'reject-paths');
    // "^$" refuses nothing: every path open (still canonical-only)
    assert.equal(decide('/api/v1/namespaces/default/pods/p/exec', { knobs: { rejectPaths: ['^$'] } }).allow, true);
    assert.equal(refusedBy('/api/v1//secrets', { knobs: { rejectPaths: ['^$'] } }), 'canonical-path');
  });

  test('PODMETA_PROXY_REJECT_METHODS replaces read-only; "^$" opens every method', () => {
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(decide('/api/v1/namespaces/default/configmaps', { method: m, knobs: { rejectMethods: ['^$'] } }).allow, true, m);
    }
    const knobs = { rejectMethods: ['^DELETE$', '^PATCH$'] };
    assert.equal(decide('/api/v1/namespaces/default/configmaps', { method: 'POST', knobs }).allow, true);
    const d = decide('/api/v1/namespaces/default/configmaps/x', { method: 'DELETE', knobs });
    assert.ok(!d.allow && d.rule === 'reject-methods' && d.message.includes('"^DELETE$"'));
    // opening methods does not open paths or upgrades
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/p/exec', { method: 'POST', knobs }), 'exec');
    assert.equal(refusedBy('/api/v1/namespaces/default/pods/p/exec', { method: 'POST', knobs, headers: { upgrade: 'SPDY/3.1' } }), 'upgrade');
  });

  test('PODMETA_PROXY_ACCEPT_HOSTS replaces the loopback names', () => {
    const knobs = { acceptHosts: ['^podmeta\\.local$'] };
    assert.equal(decide('/api', { knobs, headers: { host: 'podmeta.local:8001' } }).allow, true);
    assert.equal(refusedBy('/api', { knobs, headers: { host: 'localhost:8001' } }), 'accept-hosts');
  });

  test('relaxedRules names what a configuration opens', () => {
    assert.deepEqual(relaxedRules({}), []);
    assert.deepEqual(relaxedRules({ rejectMethods: ['^POST$', '^PUT$', '^PATCH$', '^DELETE$'] }), []);
    const w = relaxedRules({ rejectMethods: ['^DELETE$'], rejectPaths: ['^/api/v1/namespaces/[^/]+/secrets', 'exec'] });
    assert.equal(w.length, 2);
    assert.match(w[0]!, /write methods \(POST, PUT, PATCH\)/);
    assert.match(w[1]!, /\(attach, portforward, proxy\)/);
    assert.deepEqual(relaxedRules({ rejectPaths: BUILTIN_PATH_RULES.map((r) => r.source) }), []);
    // a rule whose path is outside the accepted paths is not "dropped"
    assert.deepEqual(relaxedRules({ acceptPaths: ['^/api/v1/namespaces/default/pods/[^/]+$'], rejectPaths: ['^$'] }), []);
    assert.match(relaxedRules({ acceptHosts: ['^x$'] })[0]!, /PODMETA_PROXY_ACCEPT_HOSTS/);
  });
});

describe('header filtering', () => {
  test('credentials, Host, hop-by-hop and Proxy-* headers never go upstream', () => {
    const out = requestHeaders({
      host: 'localhost:8001',
      authorization: 'Bearer client-token',
      cookie: 'a=b',
      connection: 'keep-alive, x-private',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic x',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'x-private': 'named in Connection',
      expect: '100-continue',
      accept: 'application/json',
      'user-agent': 'kubectl/v1.32',
    });
    assert.deepEqual(out, { accept: 'application/json', 'user-agent': 'kubectl/v1.32' });
    assert.deepEqual(
      responseHeaders({ 'content-type': 'application/json', 'transfer-encoding': 'chunked', connection: 'close', 'proxy-authenticate': 'x', 'audit-id': '1' }),
      { 'content-type': 'application/json', 'audit-id': '1' },
    );
  });
});
