// Request counts of the raw paths as plain integers (a labelled counter increment per request costs ~10 %
// of a static response), folded into podmeta_http_requests_total when /metrics is scraped.

import type { Metrics } from '../metrics.js';

const tallies = new WeakMap<Metrics, Map<string, Map<number, number>>>();

function tallyOf(metrics: Metrics): Map<string, Map<number, number>> {
  let t = tallies.get(metrics);
  if (!t) tallies.set(metrics, (t = new Map()));
  return t;
}

/** Count one answered request of the metadata listener (route → code → count: no string built per request). */
export function countRequest(metrics: Metrics, route: string, code: number): void {
  const t = tallyOf(metrics);
  let codes = t.get(route);
  if (!codes) t.set(route, (codes = new Map()));
  codes.set(code, (codes.get(code) ?? 0) + 1);
}

/** Move the counts into the Prometheus counter (before rendering /metrics). */
export function flushRequests(metrics: Metrics): void {
  const t = tallyOf(metrics);
  for (const [route, codes] of t) {
    for (const [code, n] of codes) metrics.httpRequests.inc({ server: 'metadata', route, code: String(code) }, n);
  }
  t.clear();
}
