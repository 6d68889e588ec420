// Request counts of the raw paths as plain integers (a labelled counter increment per request costs ~10 %
// of a static response), folded into podmeta_http_requests_total when /metrics is scraped.

import type { Metrics } from '../metrics.js';

const tallies = new WeakMap<Metrics, Map<string, number>>();

function tallyOf(metrics: Metrics): Map<string, number> {
  let t = tallies.get(metrics);
  if (!t) tallies.set(metrics, (t = new Map()));
  return t;
}

/** Count one answered request of the metadata listener. */
export function countRequest(metrics: Metrics, route: string, code: number): void {
  const t = tallyOf(metrics);
  const key = `${route} ${code}`;
  t.set(key, (t.get(key) ?? 0) + 1);
}

/** Move the counts into the Prometheus counter (before rendering /metrics). */
export function flushRequests(metrics: Metrics): void {
  const t = tallyOf(metrics);
  for (const [key, n] of t) {
    const sp = key.indexOf(' ');
    metrics.httpRequests.inc({ server: 'metadata', route: key.slice(0, sp), code: key.slice(sp + 1) }, n);
  }
  t.clear();
}
