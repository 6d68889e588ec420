// A source's status has one owner (the store's map, src/status.ts SourceStatuses): the reporter writes into it
// and keeps nothing, /status and the podmeta_source_state gauge are read from it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { SourceStatuses, StatusReporter } from '../src/status.js';
import { Store } from '../src/store.js';
import { Metrics } from '../src/metrics.js';
import { createLogger } from '../src/log.js';

function logs() {
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger({ level: 'debug', write: (l) => void lines.push(JSON.parse(l) as { level: string; msg: string }) });
  return { log, lines };
}

const BAD = { reason: 'BadFile', message: 'labels: malformed', hint: 'fix it' };

test('the reporter writes into the store: the store holds the state, the reporter reads it back', () => {
  let t = Date.UTC(2026, 11, 1);
  const store = new Store({ now: () => new Date(t) });
  const { log, lines } = logs();
  const r = new StatusReporter('downward', store, log);
  assert.equal(r.current, undefined, 'nothing reported yet');
  assert.equal(store.statuses.downward.state, 'disabled', '/status shows an unreported source as disabled');
  assert.deepEqual(Object.keys(store.reportedStatuses), [], '… but it has not reported');
  t += 1000;
  r.set('degraded', BAD, { files: 2 });
  assert.deepEqual(store.statuses.downward, { state: 'degraded', since: '2026-12-01T00:00:01.000Z', error: { message: BAD.message, hint: BAD.hint, reason: BAD.reason }, detail: { files: 2 } });
  assert.equal(r.current, 'degraded');
  assert.ok(Object.isFrozen(store.statuses.downward) && Object.isFrozen(store.statuses.downward.error));
  // a second reporter on the same owner sees the same state: there is no copy in the reporter
  const again = new StatusReporter('downward', store, log);
  assert.equal(again.current, 'degraded');
  t += 1000;
  again.set('degraded', BAD, { files: 3 });
  assert.equal(store.statuses.downward.since, '2026-12-01T00:00:01.000Z', 'same state: since kept by the owner');
  assert.equal(lines.length, 1, 'same state and error: logged once, whichever reporter wrote');
  // a status written into the store directly is what the reporter then compares with
  store.setStatus('downward', { state: 'ok' });
  assert.equal(r.current, 'ok');
  r.set('ok');
  assert.equal(lines.length, 1, 'already ok in the owner: no new log line');
});

test('the first report is logged and emitted even when it repeats the default (disabled)', () => {
  const owner = new SourceStatuses(() => 0);
  const seen: string[] = [];
  owner.onChange((s, st) => void seen.push(`${s}:${st.state}`));
  const { log, lines } = logs();
  new StatusReporter('api', owner, log).set('disabled', undefined, { why: 'PODMETA_API=off' });
  assert.deepEqual(seen, ['api:disabled']);
  assert.deepEqual(lines.map((l) => l.msg), ['api source disabled']);
  assert.equal(owner.setStatus('api', { state: 'disabled', detail: { why: 'PODMETA_API=off' } }), undefined, 'unchanged: no change returned');
});

test('podmeta_source_state is rendered from the store at scrape time; errors count changes into non-ok', async () => {
  const store = new Store();
  const metrics = new Metrics({ defaultMetrics: false, sources: () => store.reportedStatuses });
  store.onStatus((s, st) => metrics.sourceChanged(s, st));
  const { log } = logs();
  new StatusReporter('env', store, log).set('ok');
  const downward = new StatusReporter('downward', store, log);
  downward.set('ok');
  let text = await metrics.registry.metrics();
  assert.match(text, /^podmeta_source_state\{source="downward",state="ok"\} 1$/m);
  assert.match(text, /^podmeta_source_state\{source="downward",state="missing"\} 0$/m);
  assert.doesNotMatch(text, /source="api"/, 'a source that has not reported has no series');
  // the owner changes without the metrics being told: the next scrape shows it
  store.setStatus('downward', { state: 'missing', error: { message: 'm', hint: 'h', reason: 'Missing' } });
  text = await metrics.registry.metrics();
  assert.match(text, /^podmeta_source_state\{source="downward",state="missing"\} 1$/m);
  assert.match(text, /^podmeta_source_state\{source="downward",state="ok"\} 0$/m);
  assert.match(text, /^podmeta_source_state\{source="env",state="ok"\} 1$/m);
  assert.ok(text.indexOf('source="env"') < text.indexOf('source="downward"'), 'series in the order the sources first reported');
  assert.match(text, /^podmeta_source_errors_total\{source="downward",reason="Missing"\} 1$/m);
  new StatusReporter('api', store, log).set('degraded', { reason: 'Starting', message: 'waiting', hint: '-' });
  text = await metrics.registry.metrics();
  assert.doesNotMatch(text, /podmeta_source_errors_total\{source="api"/, 'Starting is not an error');
});
