// One status per source; emitted and logged only when it changes (never once per retry).

import type { SourceState, SourceStatus } from '../document.js';
import type { Logger } from '../log.js';
import type { StatusError } from './hints.js';

export class StatusReporter {
  private key: string | undefined;
  private state: SourceState | undefined;
  private since = '';

  constructor(
    private readonly source: 'api' | 'node',
    private readonly emit: (source: 'api' | 'node', status: SourceStatus) => void,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  get current(): SourceState | undefined {
    return this.state;
  }

  set(state: SourceState, error?: StatusError, detail?: Readonly<Record<string, unknown>>): void {
    const key = JSON.stringify([state, error?.reason, error?.message, error?.hint, detail]);
    if (key === this.key) return;
    this.key = key;
    if (state !== this.state) this.since = new Date(this.now()).toISOString();
    this.state = state;
    const status: SourceStatus = { state, since: this.since };
    if (error) status.error = { message: error.message, hint: error.hint, reason: error.reason };
    if (detail) status.detail = detail;
    const fields = { source: this.source, state, ...(error ? { reason: error.reason, error: error.message, hint: error.hint } : {}), ...(detail ?? {}) };
    if (state === 'ok' || state === 'disabled' || error?.reason === 'Starting') this.log.info(`${this.source} source ${state}`, fields);
    else this.log.warn(`${this.source} source ${state}: ${error?.message ?? ''}`, fields);
    this.emit(this.source, status);
  }
}

export const STARTING: StatusError = {
  reason: 'Starting',
  message: 'waiting for the first answer from the API server',
  hint: 'nothing to do; if this stays, the API server is slow to answer or unreachable',
};
