/**
 * Clock interface (docs/architecture.md, "Clocks and commit-wait"). `now()` returns an interval
 * that contains true time; ε = (latest − earliest) / 2 is the uncertainty between the clocks that
 * stamp commits and choose read timestamps: the local clock with a configured ε, the clock
 * client of a distributed node (ε from the clock service), and {@link OneClock}, the embedded
 * form's single clock (ε = 0).
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

/**
 * The embedded form's clock (docs/architecture.md, "Clocks and commit-wait"): one clock stamps
 * every commit and chooses every read timestamp, so the uncertainty *between* the two is 0 and
 * commit-wait costs nothing (k × 0). The source's own error against true time orders nothing, so
 * it is not reported as ε, and the clock never calls itself unsynchronized.
 *
 * Readings are monotonic: a source stepping back (NTP, a clock client adjusting its offset)
 * holds the reading at the last value until the source passes it again, so a read timestamp
 * chosen after an acknowledgement is never below that commit's timestamp.
 */
export class OneClock implements Clock {
  private last = Number.NEGATIVE_INFINITY;
  /**
   * @param source the node's clock (its midpoint is used; default the machine's `Date.now()`).
   * @param shared the last reading of every thread of the process, in µs, in a
   *   SharedArrayBuffer ({@link OneClock.sharedCell}): readings are monotonic across threads too.
   */
  constructor(
    private readonly source: Clock = new LocalClock(0),
    private readonly shared?: BigInt64Array,
  ) {}

  /** A cell for {@link OneClock}'s `shared` (pass it to the other threads). */
  static sharedCell(): BigInt64Array {
    return new BigInt64Array(new SharedArrayBuffer(8));
  }

  now(): TimeInterval {
    const n = this.source.now();
    let t = Math.max((n.earliest + n.latest) / 2, this.last);
    const cell = this.shared;
    if (cell) {
      const us = BigInt(Math.round(t * 1000));
      for (;;) {
        const seen = Atomics.load(cell, 0);
        if (seen >= us) {
          t = Math.max(t, Number(seen) / 1000);
          break;
        }
        if (Atomics.compareExchange(cell, 0, seen, us) === seen) break;
      }
    }
    this.last = t;
    return { earliest: t, latest: t };
  }
  eps(): number {
    return 0;
  }
  synchronized(): boolean {
    return true;
  }
}
