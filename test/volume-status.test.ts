// The one status reporter (src/status.ts) every source uses.
import test from 'node:test';
import assert from 'node:assert/strict';
import { StatusReporter } from '../src/status.js';
import { StatusReporter as ApiStatusReporter } from '../src/apiserver/status.js';
import type { SourceName, SourceStatus } from '../src/document.js';
import { createLogger } from '../src/log.js';

function reporter<S extends SourceName>(source: S) {
  let t = Date.parse('2026-12-01T00:00:00Z');
  const emitted: [SourceName, SourceStatus][] = [];
  const logs: { level: string; msg: string }[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void logs.push(JSON.parse(l) as { level: string; msg: string }) });
  const r = new StatusReporter(source, (s, st) => void emitted.push([s, st]), log, () => t);
  return { r, emitted, logs, tick: (ms: number) => void (t += ms) };
}

const BAD = { reason: 'BadFile', message: 'labels: malformed', hint: 'fix it' };

test('the source name is a parameter; the apiserver module re-exports the same reporter', () => {
  assert.equal(ApiStatusReporter, StatusReporter);
  for (const name of ['env', 'downward', 'api', 'node'] as const) {
    const x = reporter(name);
    x.r.set('ok');
    assert.equal(x.emitted[0]![0], name);
    assert.equal(x.logs[0]!.msg, `${name} source ok`);
  }
});

test('emits and logs only on change; `since` moves only when the state changes', () => {
  const x = reporter('downward');
  x.r.set('ok', undefined, { files: 3 });
  x.tick(1000);
  x.r.set('ok', undefined, { files: 3 });
  assert.equal(x.emitted.length, 1, 'same status: not emitted again');
  x.r.set('ok', undefined, { files: 4 });
  assert.equal(x.emitted.length, 2, 'detail changed: emitted');
  assert.equal(x.logs.length, 1, 'detail changed: not logged');
  assert.equal(x.emitted[1]![1].since, x.emitted[0]![1].since, 'same state: since kept');
  x.tick(1000);
  x.r.set('degraded', BAD, { files: 4 });
  x.r.set('degraded', BAD, { files: 5 });
  const degraded = x.emitted.filter(([, s]) => s.state === 'degraded');
  assert.equal(degraded.length, 2);
  assert.equal(degraded[0]![1].since, '2026-12-01T00:00:02.000Z');
  assert.equal(degraded[1]![1].since, '2026-12-01T00:00:02.000Z');
  assert.deepEqual(degraded[0]![1].error, { message: BAD.message, hint: BAD.hint, reason: BAD.reason });
  assert.deepEqual(
    x.logs.map((l) => [l.level, l.msg]),
    [
      ['info', 'downward source ok'],
      ['warn', 'downward source degraded: labels: malformed'],
    ],
  );
  x.r.set('degraded', { ...BAD, message: 'annotations: malformed' }, { files: 5 });
  assert.equal(x.logs.length, 3, 'a different error is logged');
  assert.equal(x.r.current, 'degraded');
});
