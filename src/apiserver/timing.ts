// Timings of the API source (client-go's reflector is the model, client-go tools/cache/reflector.go and util/wait backoff) and the
// backoff they drive. Everything is injectable so tests and the scale bench can run in compressed time.

export interface ApiTiming {
  /** re-read the service-account token this often (client-go: 60 s); also re-read after any 401 */
  tokenRefreshMs: number;
  /** exponential backoff, full jitter: delay = random() × min(cap, initial × 2^attempt) */
  backoffInitialMs: number;
  /** cap for transient failures (network, 5xx, 429, half-open, 410 loops) */
  backoffMaxMs: number;
  /** cap for failures a retry cannot fix soon (403, 401 after a re-read, 404, TLS): never hammer */
  backoffPersistentMaxMs: number;
  /** the attempt counter resets once the source has been healthy this long */
  backoffResetMs: number;
  /** a Retry-After larger than this is clamped (a broken header must not park the source for days) */
  maxRetryAfterMs: number;
  /** watch `timeoutSeconds` is drawn uniformly from [min, max] for every watch (spreads reconnects) */
  watchTimeoutMinS: number;
  watchTimeoutMaxS: number;
  /** a watch that ends sooner than this without any event counts as a failure (no hot loops) */
  quickFailMs: number;
  /**
   * Half-open guard: a watch that delivers no byte for this long is torn down and counted as a failure.
   * 'auto': the watch's own timeout + inactivityMarginMs, tightened to 3 × the bookmark interval once
   * periodic bookmarks have been observed (a real apiserver sends them about every minute). Any byte —
   * event or bookmark — resets it, so a healthy quiet watch is never torn down.
   */
  inactivityMs: number | 'auto';
  inactivityMarginMs: number;
  /**
   * 'auto' before any bookmark interval is learned: assume the apiserver's usual cadence (its watch cache
   * sends a bookmark about every minute), so a half-open stream is caught in ~3 minutes instead of the
   * 5–10 minute watch timeout. If that assumption ever tears a watch down before a bookmark was seen (a
   * server that sends none), the guard falls back to timeout + margin for the rest of the agent's life.
   */
  assumedBookmarkGapMs: number;
  /** list / get answer and watch response headers must arrive within this */
  requestTimeoutMs: number;
  /** pod labels/annotations are withdrawn from the 'api' part after the watch was unhealthy this long */
  labelGraceMs: number;
  /** node labels: one GET per interval when list/watch on nodes is forbidden but get is allowed */
  nodeGetIntervalMs: number;
  /** clock and randomness (tests, bench) */
  now: () => number;
  random: () => number;
}

export const DEFAULT_TIMING: Readonly<ApiTiming> = Object.freeze({
  tokenRefreshMs: 60_000,
  backoffInitialMs: 800,
  backoffMaxMs: 30_000,
  backoffPersistentMaxMs: 300_000,
  backoffResetMs: 120_000,
  maxRetryAfterMs: 600_000,
  watchTimeoutMinS: 300,
  watchTimeoutMaxS: 600,
  quickFailMs: 1_000,
  inactivityMs: 'auto',
  inactivityMarginMs: 30_000,
  assumedBookmarkGapMs: 60_000,
  requestTimeoutMs: 30_000,
  labelGraceMs: 10_000,
  nodeGetIntervalMs: 600_000,
  now: () => Date.now(),
  random: () => Math.random(),
});

export function resolveTiming(overrides: Partial<ApiTiming> | undefined): ApiTiming {
  return { ...DEFAULT_TIMING, ...overrides };
}

/** Exponential backoff with full jitter; the attempt counter resets after `backoffResetMs` of health. */
export class Backoff {
  private attempt = 0;
  private healthySince: number | undefined;

  constructor(private readonly t: ApiTiming) {}

  /** the source is working (a list answered, a watch is streaming) */
  healthy(): void {
    this.healthySince ??= this.t.now();
  }

  /** the delay before the next attempt after a failure */
  next(persistent = false): number {
    const now = this.t.now();
    if (this.healthySince !== undefined && now - this.healthySince >= this.t.backoffResetMs) this.attempt = 0;
    this.healthySince = undefined;
    const cap = persistent ? this.t.backoffPersistentMaxMs : this.t.backoffMaxMs;
    const ceiling = Math.min(cap, this.t.backoffInitialMs * 2 ** this.attempt);
    if (this.t.backoffInitialMs * 2 ** this.attempt < cap) this.attempt++;
    return Math.round(this.t.random() * ceiling);
  }
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
