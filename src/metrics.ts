// Prometheus metrics: podmeta_* beside the standard process metrics. One registry per agent (tests run
// several agents in one process). Everything is rendered at scrape time (src/metrics/registry.ts): no timers.

import { Counter, Gauge, Histogram, Registry } from './metrics/registry.js';
import { registerStandardMetrics } from './metrics/process.js';
import type { SourceName, SourceState, SourceStatus } from './document.js';

const STATES: readonly SourceState[] = ['ok', 'disabled', 'missing', 'degraded', 'error'];

export class Metrics {
  readonly registry = new Registry();
  readonly revision = new Gauge({ name: 'podmeta_document_revision', help: 'Current revision of the metadata document', registers: [this.registry] });
  readonly changes = new Counter({ name: 'podmeta_document_changes_total', help: 'Changes of the document content', registers: [this.registry] });
  /** rendered at scrape time from the statuses' one owner (the store's map, see `sources` below) */
  readonly sourceState = new Gauge({
    name: 'podmeta_source_state',
    help: '1 for the current state of each source',
    labelNames: ['source', 'state'] as const,
    registers: [this.registry],
    collect: () => this.collectSourceStates(),
  });
  readonly sourceErrors = new Counter({
    name: 'podmeta_source_errors_total',
    help: 'Transitions of a source into a non-ok state, by reason',
    labelNames: ['source', 'reason'] as const,
    registers: [this.registry],
  });
  readonly volumeReads = new Counter({ name: 'podmeta_downward_reads_total', help: 'Reads of the downwardAPI volume', registers: [this.registry] });
  readonly sseSubscribers = new Gauge({ name: 'podmeta_sse_subscribers', help: 'Open event streams', registers: [this.registry] });
  readonly longPolls = new Gauge({ name: 'podmeta_longpoll_waiting', help: 'Long-poll requests waiting for a change', registers: [this.registry] });
  readonly lastChange = new Gauge({
    name: 'podmeta_document_last_change_timestamp_seconds',
    help: 'When the document last changed (unix time in seconds, millisecond resolution)',
    registers: [this.registry],
  });
  readonly sseFanout = new Histogram({
    name: 'podmeta_sse_fanout_seconds',
    help: 'Time to hand one document change to every subscriber (event streams, waiting long-polls)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  /** Hot-path tallies (plain integers: a labelled inc() per request costs ~10% of a static response),
   * folded into podmeta_http_requests_total when /metrics is scraped. */
  readonly fastTally = { ok: 0, notModified: 0 };
  readonly httpRequests = new Counter({
    name: 'podmeta_http_requests_total',
    help: 'HTTP requests by server, route and status code',
    labelNames: ['server', 'route', 'code'] as const,
    registers: [this.registry],
    collect: () => this.foldFastTally(),
  });
  readonly httpDuration = new Histogram({
    name: 'podmeta_http_request_duration_seconds',
    help: 'Time to first byte of the response (streams: until headers are sent; GET /metadata reads answered 200/304 from pre-rendered bytes are not timed)',
    labelNames: ['server', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'podmeta_api_requests_total',
    help: 'Requests to the Kubernetes API server',
    labelNames: ['resource', 'verb', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiWatchRestarts = new Counter({
    name: 'podmeta_api_watch_restarts_total',
    help: 'Watches (re)started',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly apiRelists = new Counter({ name: 'podmeta_api_relists_total', help: 'Lists (initial and after 410)', labelNames: ['resource'] as const, registers: [this.registry] });
  readonly apiEvents = new Counter({ name: 'podmeta_api_watch_events_total', help: 'Watch events by type', labelNames: ['resource', 'type'] as const, registers: [this.registry] });
  readonly proxyRequests = new Counter({
    name: 'podmeta_proxy_requests_total',
    help: 'Requests through the read-only API ambassador',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly proxyDuration = new Histogram({
    name: 'podmeta_proxy_request_duration_seconds',
    help: 'Time to response headers through the ambassador',
    labelNames: ['method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** the sources that have reported and their statuses (the store's map) */
  private readonly sources: () => Readonly<Partial<Record<SourceName, SourceStatus>>>;

  constructor({ defaultMetrics = true, sources = () => ({}) }: { defaultMetrics?: boolean; sources?: () => Readonly<Partial<Record<SourceName, SourceStatus>>> } = {}) {
    this.sources = sources;
    registerStandardMetrics(this.registry, { help: 'Build metadata of the running agent', processMetrics: defaultMetrics });
  }

  /**
   * Call from the store's FIRST subscriber: counts the change and times the fan-out to the subscribers
   * after it (the store calls them synchronously; the microtask runs once the last one has written).
   */
  documentChanged(revision: number): void {
    // hrtime and Date, not `performance`: touching that global loads perf_hooks (≈ 0.5 MB)
    const t0 = process.hrtime.bigint();
    this.revision.set(revision);
    this.changes.inc();
    this.lastChange.set(Date.now() / 1000);
    queueMicrotask(() => this.sseFanout.observe(Number(process.hrtime.bigint() - t0) / 1e9));
  }

  private foldFastTally(): void {
    const t = this.fastTally;
    if (t.ok > 0) this.httpRequests.inc({ server: 'metadata', route: 'metadata', code: '200' }, t.ok);
    if (t.notModified > 0) this.httpRequests.inc({ server: 'metadata', route: 'metadata', code: '304' }, t.notModified);
    t.ok = 0;
    t.notModified = 0;
  }

  private collectSourceStates(): void {
    for (const [source, st] of Object.entries(this.sources())) {
      for (const s of STATES) this.sourceState.set({ source, state: s }, s === st.state ? 1 : 0);
    }
  }

  /** Call on every change of a source's status: counts the changes into a non-ok state. */
  sourceChanged(source: SourceName, { state, error }: SourceStatus): void {
    // 'degraded' with reason Starting is the API source waiting for its first answer, not an error
    if (state !== 'ok' && state !== 'disabled' && error?.reason !== 'Starting') this.sourceErrors.inc({ source, reason: error?.reason ?? state });
  }
}
