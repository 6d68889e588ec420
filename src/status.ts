// Every source's status (env, downward, api, node) has ONE owner: a SourceStatuses map. In an agent that is
// the store's (src/store.ts); /status shows it and the podmeta_source_state gauge is rendered from it at
// scrape time. A source writes into it through a StatusReporter, which holds no state of its own: the owner
// keeps `since` (the time of the last change of state) and tells the reporter what changed, and the reporter
// logs only when the state or the error changed — never once per retry or per re-read.

import type { SourceName, SourceState, SourceStatus } from './document.js';
import { deepEqual, deepFreeze } from './jsonpatch.js';
import type { Logger } from './log.js';

/** Why a source is not ok: a message that says what is wrong and a hint that says how to fix it. */
export interface StatusError {
  message: string;
  hint: string;
  reason: string;
}

/** What a source says about itself; the owner adds `since`. */
export type StatusReport = Omit<SourceStatus, 'since'>;

/** A change the owner accepted: the status before (undefined: the source's first report) and after. */
export interface StatusChange {
  readonly previous: SourceStatus | undefined;
  readonly status: SourceStatus;
}

/** Where a reporter writes: returns the change, or undefined when the status is the one already held. */
export interface StatusSink {
  setStatus(source: SourceName, report: StatusReport): StatusChange | undefined;
  /** the status held for the source (undefined: it has not reported) */
  statusOf(source: SourceName): SourceStatus | undefined;
}

export type StatusMap = Readonly<Record<SourceName, SourceStatus>>;

const SOURCES: readonly SourceName[] = ['env', 'downward', 'api', 'node'];

/** The owner of the sources' statuses. */
export class SourceStatuses implements StatusSink {
  private readonly byReport: Partial<Record<SourceName, SourceStatus>> = {};
  private readonly subscribers = new Set<(source: SourceName, status: SourceStatus) => void>();
  private readonly initial: SourceStatus;

  constructor(private readonly now: () => number = Date.now) {
    this.initial = Object.freeze({ state: 'disabled', since: new Date(now()).toISOString() });
  }

  setStatus(source: SourceName, report: StatusReport): StatusChange | undefined {
    const previous = this.byReport[source];
    const since = previous && previous.state === report.state ? previous.since : new Date(this.now()).toISOString();
    const status: SourceStatus = { state: report.state, since };
    if (report.error) {
      const { message, hint, reason } = report.error;
      status.error = reason === undefined ? { message, hint } : { message, hint, reason };
    }
    if (report.detail) status.detail = report.detail;
    if (previous && deepEqual(previous, status)) return undefined;
    this.byReport[source] = deepFreeze(status);
    for (const fn of this.subscribers) fn(source, status);
    return { previous, status };
  }

  statusOf(source: SourceName): SourceStatus | undefined {
    return this.byReport[source];
  }

  /** What each source reported last, in the order they first reported (sources that never did are absent). */
  get reported(): Readonly<Partial<Record<SourceName, SourceStatus>>> {
    return this.byReport;
  }

  /** Every source; one that has not reported is `disabled` since the owner was made (the /status view). */
  get all(): StatusMap {
    return Object.fromEntries(SOURCES.map((s) => [s, this.byReport[s] ?? this.initial])) as Record<SourceName, SourceStatus>;
  }

  onChange(fn: (source: SourceName, status: SourceStatus) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }
}

/** A source's handle on its status. Given a callback instead of an owner (a source run on its own, as in
 * tests), it reports to a private SourceStatuses that calls the callback on every change. */
export class StatusReporter<S extends SourceName = SourceName> {
  private readonly sink: StatusSink;

  constructor(
    readonly source: S,
    sink: StatusSink | ((source: S, status: SourceStatus) => void),
    private readonly log: Logger,
    now: () => number = Date.now,
  ) {
    if (typeof sink === 'function') {
      const own = new SourceStatuses(now);
      own.onChange((s, st) => sink(s as S, st));
      this.sink = own;
    } else this.sink = sink;
  }

  get current(): SourceState | undefined {
    return this.sink.statusOf(this.source)?.state;
  }

  /** Report the source's state. `detail` changes are emitted but not logged. */
  set(state: SourceState, error?: StatusError, detail?: Readonly<Record<string, unknown>>): void {
    const report: StatusReport = { state };
    if (error) report.error = error;
    if (detail) report.detail = detail;
    const change = this.sink.setStatus(this.source, report);
    if (!change) return;
    const { previous } = change;
    if (previous && previous.state === state && deepEqual(previous.error, change.status.error)) return;
    const fields = { source: this.source, state, ...(error ? { reason: error.reason, error: error.message, hint: error.hint } : {}), ...(detail ?? {}) };
    if (state === 'ok' || state === 'disabled' || error?.reason === 'Starting') this.log.info(`${this.source} source ${state}`, fields);
    else this.log.warn(`${this.source} source ${state}: ${error?.message ?? ''}`, fields);
  }
}
