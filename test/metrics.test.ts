// The Prometheus text writer (src/metrics/registry.ts) and podmeta's metric set: exact exposition text,
// escaping, histogram buckets, scrape-time hooks, and the fan-out timing hook.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Collected, Counter, Gauge, Histogram, Registry } from '../src/metrics/registry.js';
import { Metrics } from '../src/metrics.js';
import { Store } from '../src/store.js';

test('exposition text: HELP/TYPE per metric, series in first-use order, labels in label-name order, blank line between', async () => {
  const r = new Registry();
  const c = new Counter({ name: 'x_total', help: 'Things\\counted\nhere', labelNames: ['a', 'b'] as const, registers: [r] });
  const g = new Gauge({ name: 'y', help: 'A gauge', registers: [r] });
  c.inc({ b: 'q"uote', a: 'back\\slash\nnl' }, 2);
  c.inc({ a: '1' });
  c.inc({ a: '1' });
  g.set(-1.5);
  assert.equal(
    await r.metrics(),
    '# HELP x_total Things\\\\counted\\nhere\n# TYPE x_total counter\n' +
      'x_total{a="back\\\\slash\\nnl",b="q\\"uote"} 2\nx_total{a="1"} 2\n\n' +
      '# HELP y A gauge\n# TYPE y gauge\ny -1.5\n',
  );
  assert.equal(r.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('an unlabelled metric shows 0 before use; a labelled one shows no series', async () => {
  const r = new Registry();
  new Counter({ name: 'a_total', help: 'h', registers: [r] });
  new Counter({ name: 'b_total', help: 'h', labelNames: ['k'] as const, registers: [r] });
  assert.equal(await r.metrics(), '# HELP a_total h\n# TYPE a_total counter\na_total 0\n\n# HELP b_total h\n# TYPE b_total counter\n');
});

test('histogram: cumulative buckets with le first, +Inf, _sum and _count; get() in prom-client shape', async () => {
  const r = new Registry();
  const h = new Histogram({ name: 'd_seconds', help: 'h', labelNames: ['route'] as const, buckets: [0.5, 0.1, 1], registers: [r] });
  for (const v of [0.05, 0.1, 0.7, 3]) h.observe({ route: 'x' }, v);
  assert.equal(
    await r.metrics(),
    '# HELP d_seconds h\n# TYPE d_seconds histogram\n' +
      'd_seconds_bucket{le="0.1",route="x"} 2\nd_seconds_bucket{le="0.5",route="x"} 2\nd_seconds_bucket{le="1",route="x"} 3\n' +
      'd_seconds_bucket{le="+Inf",route="x"} 4\nd_seconds_sum{route="x"} 3.85\nd_seconds_count{route="x"} 4\n',
  );
  const { values } = await h.get();
  assert.deepEqual(values.find((v) => v.metricName === 'd_seconds_count'), { labels: { route: 'x' }, value: 4, metricName: 'd_seconds_count' });
});

test('misuse is an error: a counter never decreases; unknown label names and duplicate names are refused', () => {
  const r = new Registry();
  const c = new Counter({ name: 'c_total', help: 'h', labelNames: ['a'] as const, registers: [r] });
  assert.throws(() => c.inc({ a: 'x' }, -1), /only increases/);
  assert.throws(() => c.inc({ nope: 'x' } as never), /unknown label "nope"/);
  assert.throws(() => new Counter({ name: 'c_total', help: 'h', registers: [r] }), /already registered/);
  assert.throws(() => new Gauge({ name: 'bad-name', help: 'h' }), /invalid metric name/);
});

test('collect hooks and scrape-time series run on every scrape, not before', async () => {
  const r = new Registry();
  let folded = 0;
  let reads = 0;
  const c: Counter = new Counter({ name: 'f_total', help: 'h', registers: [r], collect: (): void => c.inc(++folded) });
  new Collected({ name: 'now_value', help: 'h', type: 'gauge', registers: [r], read: () => [{ labels: { k: 'v' }, value: ++reads }] });
  assert.equal(reads, 0);
  assert.match(await r.metrics(), /^f_total 1$[\s\S]*^now_value\{k="v"\} 1$/m);
  assert.match(await r.metrics(), /^f_total 3$[\s\S]*^now_value\{k="v"\} 2$/m);
});

test('documentChanged: revision, changes, last-change time, and one fan-out observation after the other subscribers ran', async () => {
  const store = new Store({ annotationsExclude: [] });
  const m = new Metrics({ defaultMetrics: false });
  store.subscribe((c) => m.documentChanged(c.revision));
  let busyUntil = 0;
  store.subscribe(() => {
    // a slow subscriber after the metrics one: its time is part of the fan-out
    const end = Date.now() + 20;
    while (Date.now() < end);
    busyUntil = Date.now();
  });
  const before = Date.now();
  store.setPart('env', { pod: { name: 'a' } });
  await new Promise((r) => setImmediate(r));
  const text = await m.registry.metrics();
  assert.match(text, /^podmeta_document_revision 1$/m);
  assert.match(text, /^podmeta_document_changes_total 1$/m);
  assert.match(text, /^podmeta_sse_fanout_seconds_count 1$/m);
  const sum = Number(/^podmeta_sse_fanout_seconds_sum (\S+)$/m.exec(text)?.[1]);
  assert.ok(sum >= 0.019, `the fan-out includes the slow subscriber (${sum} s)`);
  const at = Number(/^podmeta_document_last_change_timestamp_seconds (\S+)$/m.exec(text)?.[1]) * 1000;
  assert.ok(at >= before - 1 && at <= busyUntil, `change time ${at} within [${before}, ${busyUntil}]`);
});

test('the standard process metrics are there by default, with prom-client’s names', async () => {
  const text = await new Metrics().registry.metrics();
  for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'nodejs_active_resources_total', 'nodejs_version_info', 'nodejs_gc_duration_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^nodejs_heap_space_size_used_bytes\{space="old"\} \d+$/m);
  assert.doesNotMatch(text, /nodejs_eventloop_lag_p99_seconds/, 'the sampled lag percentiles need a 10 ms timer: left out');
  assert.equal(new Metrics({ defaultMetrics: false }).registry.getSingleMetric('process_cpu_seconds_total'), undefined);
});
