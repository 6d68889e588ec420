// One status reporter for every source (env, downward, api, node): a source says what state it is in and
// why; the reporter keeps `since` (the time of the last change of state), emits only when something
// changed and logs only when the state or the error changed — never once per retry or per re-read.

import type { SourceName, SourceState, SourceStatus } from './document.js';
import type { Logger } from './log.js';

/** Why a source is not ok: a message that says what is wrong and a hint that says how to fix it. */
export interface StatusError {
  message: string;
  hint: string;
  reason: string;
}

export class StatusReporter<S extends SourceName = SourceName> {
  private key: string | undefined;
  private logKey: string | undefined;
  private state: SourceState | undefined;
  private since = '';
  private readonly emit: (status: SourceStatus) => void;

  constructor(
    readonly source: S,
    emit: (source: S, status: SourceStatus) => void,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.emit = (status) => emit(source, status);
  }

  get current(): SourceState | undefined {
    return this.state;
  }

  /** Report the source's state. `detail` changes are emitted but not logged. */
  set(state: SourceState, error?: StatusError, detail?: Readonly<Record<string, unknown>>): void {
    const logKey = JSON.stringify([state, error?.reason, error?.message, error?.hint]);
    const key = JSON.stringify([logKey, detail]);
    if (key === this.key) return;
    this.key = key;
    if (state !== this.state) this.since = new Date(this.now()).toISOString();
    this.state = state;
    const status: SourceStatus = { state, since: this.since };
    if (error) status.error = { message: error.message, hint: error.hint, reason: error.reason };
    if (detail) status.detail = detail;
    if (logKey !== this.logKey) {
      this.logKey = logKey;
      const fields = { source: this.source, state, ...(error ? { reason: error.reason, error: error.message, hint: error.hint } : {}), ...(detail ?? {}) };
      if (state === 'ok' || state === 'disabled' || error?.reason === 'Starting') this.log.info(`${this.source} source ${state}`, fields);
      else this.log.warn(`${this.source} source ${state}: ${error?.message ?? ''}`, fields);
    }
    this.emit(status);
  }
}
