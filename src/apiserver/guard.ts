// The half-open guard: how long a watch stream may stay silent before it is presumed dead (a half-open TCP
// connection delivers nothing, forever). Pure; one instance per reflector, so what it learns survives
// re-watches. See ApiTiming.inactivityMs / assumedBookmarkGapMs for the policy:
//   fixed number      → that
//   'auto'            → the watch's own timeout + margin, tightened to 3 × the bookmark gap (never below the
//                       margin) once a gap between two bookmarks was observed; before that, 3 × the assumed
//                       cadence — unless that assumption already tore a watch down before any bookmark was
//                       seen (a server that sends none), then timeout + margin for good.

import type { ApiTiming } from './timing.js';

export class InactivityGuard {
  /** learned gap between two periodic bookmarks (ms) */
  private gapMs: number | undefined;
  /** the assumed cadence fired before any bookmark arrived: stop assuming */
  private assumedFailed = false;
  /** when the last bookmark of the current stream arrived */
  private lastBookmarkAt: number | undefined;

  constructor(private readonly t: Pick<ApiTiming, 'inactivityMs' | 'inactivityMarginMs' | 'assumedBookmarkGapMs'>) {}

  /** a new watch stream begins (bookmark gaps are measured within one stream) */
  streamStarted(): void {
    this.lastBookmarkAt = undefined;
  }

  /** the silence allowed for a watch with this `timeoutSeconds` */
  limitMs(timeoutS: number): number {
    const t = this.t;
    if (t.inactivityMs !== 'auto') return t.inactivityMs;
    const byTimeout = timeoutS * 1000 + t.inactivityMarginMs;
    const gap = this.gapMs ?? (this.assumedFailed ? undefined : t.assumedBookmarkGapMs);
    return gap === undefined ? byTimeout : Math.min(byTimeout, Math.max(3 * gap, t.inactivityMarginMs));
  }

  bookmark(now: number): void {
    if (this.lastBookmarkAt !== undefined) this.gapMs = now - this.lastBookmarkAt;
    this.lastBookmarkAt = now;
  }

  /** the guard tore a stream down */
  fired(): void {
    if (this.gapMs === undefined && this.lastBookmarkAt === undefined) this.assumedFailed = true;
  }
}
