/**
 * Clock interface (DESIGN §6, §8). `now()` returns an interval that contains true time;
 * ε = (latest − earliest) / 2. This issue ships the local clock with a configured ε; the
 * clock service's heartbeat protocol plugs in behind the same interface later.
 */

/** An uncertainty interval around true time, in ms since the epoch. */
export interface TimeInterval {
  earliest: number;
  latest: number;
}

/** A clock with an uncertainty bound. */
export interface Clock {
  /** Interval containing true time (ms). */
  now(): TimeInterval;
  /** Current uncertainty ε in ms. */
  eps(): number;
  /** False when ε exceeds the configured maximum (strict tables then refuse writes). */
  synchronized(): boolean;
  /** Why the clock is unsynchronized, for error messages ('' when synchronized). */
  unsynchronizedReason?(): string;
}

/** Sleep for `ms` milliseconds (injected where tests need to control time). */
export type Sleep = (ms: number) => Promise<void>;

/** Real sleep. */
export const sleep: Sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The machine's clock with a fixed, configured ε (ms). Source of time is `Date.now()` unless
 * `source` is given (tests inject skewed clocks).
 */
export class LocalClock implements Clock {
  constructor(
    private readonly epsMs: number,
    private readonly source: () => number = Date.now,
  ) {}
  now(): TimeInterval {
    const t = this.source();
    return { earliest: t - this.epsMs, latest: t + this.epsMs };
  }
  eps(): number {
    return this.epsMs;
  }
  synchronized(): boolean {
    return true;
  }
}
