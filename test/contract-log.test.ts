// Contract "Security": the token never appears in a log line. Besides the end-to-end checks (contract.test.ts,
// apiserver-access.test.ts), the logger redacts fields named like secrets as a last line of defence — issue 10
// listed "token redaction in logs" as untested. Logs are JSON lines: {"level","time","msg",…}.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/log.js';

test('contract "Security" (logs): fields named like secrets are redacted at any depth, in child loggers too; each line is one JSON object', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void lines.push(l) });
  const secret = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl';
  log.info('request', { token: secret, headers: { Authorization: `Bearer ${secret}`, accept: 'application/json' }, nested: [{ password: secret }], clientSecret: secret });
  log.child({ serviceAccountToken: secret }).warn('child');
  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line each');
    assert.ok(!line.includes(secret) && !line.includes('c2VjcmV0LXBheWxvYWQ'), `no secret in ${line}`);
  }
  const first = JSON.parse(lines[0]!) as Record<string, any>;
  assert.equal(first.level, 'info');
  assert.equal(first.msg, 'request');
  assert.ok(!Number.isNaN(Date.parse(first.time)));
  assert.equal(first.token, '[redacted]');
  assert.equal(first.headers.Authorization, '[redacted]');
  assert.equal(first.headers.accept, 'application/json', 'other fields are kept');
  assert.equal(first.nested[0].password, '[redacted]');
  assert.equal(first.clientSecret, '[redacted]');
  assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>).serviceAccountToken, '[redacted]');
});
