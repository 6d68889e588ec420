// Unit tests of one watch stream's pure state machine (src/apiserver/watch-stream.ts) and of the half-open
// guard (src/apiserver/guard.ts): inputs in, actions out — no sockets, no timers.
import test from 'node:test';
import assert from 'node:assert/strict';
import { InactivityGuard } from '../src/apiserver/guard.js';
import { WatchStream, type StreamAction } from '../src/apiserver/watch-stream.js';

const TIMING = { inactivityMs: 'auto' as const, inactivityMarginMs: 30_000, assumedBookmarkGapMs: 60_000 };

function machine(over: { now?: () => number; guard?: InactivityGuard } = {}) {
  const guard = over.guard ?? new InactivityGuard(TIMING);
  return new WatchStream({ name: 'p1', rv: '100', timeoutS: 400, quickFailMs: 1000, lingerMs: 1000, guard, now: over.now ?? (() => 0) });
}

const line = (o: unknown): Buffer => Buffer.from(JSON.stringify(o) + '\n');
const pod = (name: string, rv: string, extra: Record<string, unknown> = {}) => ({ kind: 'Pod', metadata: { name, resourceVersion: rv, ...extra } });
const kinds = (acts: StreamAction[]) => acts.map((a) => (a.do === 'arm' || a.do === 'clear' ? `${a.do}:${a.timer}` : a.do));
const finish = (acts: StreamAction[]) => {
  const f = acts.find((a) => a.do === 'finish');
  assert.ok(f && f.do === 'finish', `a finish action in ${kinds(acts).join(',')}`);
  return f;
};

test('start arms the health and silence timers; a line split over chunks yields one object, healthy once, the new RV', () => {
  const m = machine();
  assert.deepEqual(m.start(), [
    { do: 'arm', timer: 'health', ms: 1000 },
    { do: 'arm', timer: 'silence', ms: 180_000 },
  ]);
  const bytes = line({ type: 'MODIFIED', object: pod('p1', '101', { labels: { é: '日本' } }) });
  const a1 = m.data(bytes.subarray(0, 20));
  assert.deepEqual(kinds(a1), ['arm:silence'], 'a partial line only re-arms the guard');
  const a2 = m.data(bytes.subarray(20));
  assert.deepEqual(kinds(a2), ['arm:silence', 'event', 'clear:health', 'healthy', 'object']);
  const obj = a2.find((a) => a.do === 'object');
  assert.ok(obj?.do === 'object' && obj.type === 'MODIFIED' && obj.object.metadata?.labels?.['é'] === '日本');
  const a3 = m.data(line({ type: 'MODIFIED', object: pod('p1', '102') }));
  assert.deepEqual(kinds(a3), ['arm:silence', 'event', 'object'], 'healthy is reported once per stream');
  const f = finish(m.end());
  assert.deepEqual(f.outcome, { rv: '102', received: 2, expired: false, healthy: true });
  assert.equal(f.abort, false);
  assert.equal(m.state, 'done');
});

test('BOOKMARKs and other names move the RV but hand no object on', () => {
  const m = machine();
  m.start();
  const acts = m.data(Buffer.concat([line({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '150' } } }), line({ type: 'ADDED', object: pod('other', '151') })]));
  assert.equal(acts.filter((a) => a.do === 'object').length, 0);
  assert.deepEqual(finish(m.closed()).outcome, { rv: '151', received: 2, expired: false, healthy: true });
});

test('ERROR 410: stop reading, let the server end the stream, then finish expired; later bytes are ignored', () => {
  const m = machine();
  m.start();
  const acts = m.data(Buffer.concat([line({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }), line({ type: 'ADDED', object: pod('p1', '999') })]));
  assert.deepEqual(kinds(acts), ['arm:silence', 'event', 'clear:health', 'clear:silence', 'drain', 'arm:linger']);
  assert.equal(m.state, 'draining');
  assert.deepEqual(m.data(line({ type: 'ADDED', object: pod('p1', '1000') })), []);
  const f = finish(m.end());
  assert.deepEqual(f.outcome, { rv: '100', received: 0, expired: true, healthy: false });
});

test('ERROR with another code: the outcome carries the Status as an error; the linger timer also finishes', () => {
  const m = machine();
  m.start();
  m.data(line({ type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd is sad' } }));
  const f = finish(m.timer('linger'));
  assert.equal(f.outcome.error?.info.httpCode, 500);
  assert.match(f.outcome.error?.message ?? '', /etcd is sad/);
  assert.deepEqual(m.end(), [], 'nothing after done');
});

test('an undecodable line or an over-long line ends the stream with BadWatchEvent', () => {
  const m = machine();
  m.start();
  const f = finish(m.data(Buffer.from('{"type":"ADDED",\n')));
  assert.equal(f.outcome.error?.info.reason, 'BadWatchEvent');
  assert.equal(f.abort, false);
});

test('end(): a whole last line without newline is used; a torn one is ignored', () => {
  const whole = machine();
  whole.start();
  whole.data(Buffer.from(JSON.stringify({ type: 'MODIFIED', object: pod('p1', '120') })));
  const w = whole.end();
  assert.ok(w.some((a) => a.do === 'object'));
  assert.equal(finish(w).outcome.rv, '120');
  const torn = machine();
  torn.start();
  torn.data(Buffer.from('{"type":"MODIFIED","object":{"metadata":{"name":"p1","resourceV'));
  const t = torn.end();
  assert.ok(!t.some((a) => a.do === 'object'));
  assert.deepEqual(finish(t).outcome, { rv: '100', received: 0, expired: false, healthy: false });
});

test('the health timer marks a quiet stream healthy; the silence timer aborts with WatchSilent', () => {
  const guard = new InactivityGuard(TIMING);
  const m = machine({ guard });
  m.start();
  assert.deepEqual(kinds(m.timer('health')), ['clear:health', 'healthy']);
  const f = finish(m.timer('silence'));
  assert.equal(f.abort, true);
  assert.equal(f.outcome.error?.info.reason, 'WatchSilent');
  assert.equal(f.outcome.healthy, true);
  assert.equal(guard.limitMs(400), 430_000, 'the assumed cadence failed before any bookmark: timeout + margin from now on');
});

test('guard: fixed value; auto assumes the cadence, learns the bookmark gap, never goes below the margin', () => {
  assert.equal(new InactivityGuard({ ...TIMING, inactivityMs: 5000 }).limitMs(400), 5000);
  const g = new InactivityGuard(TIMING);
  assert.equal(g.limitMs(400), 180_000, '3 × the assumed 60 s cadence');
  assert.equal(g.limitMs(30), 60_000, 'never beyond timeout + margin');
  g.streamStarted();
  g.bookmark(1_000);
  assert.equal(g.limitMs(400), 180_000, 'one bookmark teaches no gap');
  g.bookmark(21_000);
  assert.equal(g.limitMs(400), 60_000, '3 × 20 s');
  g.bookmark(22_000);
  assert.equal(g.limitMs(400), 30_000, 'floor: the margin');
  g.fired();
  assert.equal(g.limitMs(400), 30_000, 'a learned gap is kept when the guard fires');
  g.streamStarted();
  g.bookmark(100_000);
  assert.equal(g.limitMs(400), 30_000, 'a new stream keeps the learned gap until it measures its own');
});
