/**
 * A fault-injecting clock (issue 5 item 6) to put under any node in tests: the reading is
 * true time (the `source`, `Date.now` by default) plus a fixed offset, a drift that accumulates
 * since the clock was created or last re-based, and a uniform jitter; an outage makes `now()`
 * throw, as a node whose time source is gone. Faults can change while a test runs (`set`).
 * It reports the ε it was given (the node's belief), so tests can put the real error beyond the
 * bound and check what breaks.
 */
import type { Clock, TimeInterval } from '../clock.ts';
import { TierUnavailableError } from '../errors.ts';

/** Faults of a {@link FaultInjectingClock}. */
export interface ClockFaults {
  /** Constant error (ms; positive = the clock is ahead). */
  offsetMs?: number;
  /** Rate error (ppm; 1,000 ppm = 1 ms per second, positive = runs fast). */
  driftPpm?: number;
  /** Each reading moves by a uniform random amount in [−jitterMs, +jitterMs]. */
  jitterMs?: number;
  /** The time source is gone: `now()` throws (TierUnavailableError, 08006). */
  outage?: boolean;
}

/** A {@link Clock} with configurable offset, drift, jitter and outages. */
export class FaultInjectingClock implements Clock {
  private faults: Required<ClockFaults>;
  private driftBase: number;
  private driftAccum = 0;

  /**
   * @param epsMs the ε this clock reports (what the node believes its error is)
   * @param random uniform [0, 1) generator (inject a seeded one for reproducible jitter)
   */
  constructor(
    private readonly epsMs: number,
    faults: ClockFaults = {},
    private readonly source: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.faults = { offsetMs: 0, driftPpm: 0, jitterMs: 0, outage: false, ...faults };
    this.driftBase = source();
  }

  /** Change faults from now on; drift accumulated so far is kept. */
  set(faults: ClockFaults): void {
    const t = this.source();
    this.driftAccum += ((t - this.driftBase) * this.faults.driftPpm) / 1e6;
    this.driftBase = t;
    this.faults = { ...this.faults, ...faults };
  }

  /** The current error of a reading before jitter (ms): offset + accumulated drift. */
  errorMs(): number {
    return this.faults.offsetMs + this.driftAccum + ((this.source() - this.driftBase) * this.faults.driftPpm) / 1e6;
  }

  /** @throws TierUnavailableError during an outage. */
  now(): TimeInterval {
    if (this.faults.outage) throw new TierUnavailableError('clock source is in an outage (fault injected)');
    const jitter = this.faults.jitterMs === 0 ? 0 : (this.random() * 2 - 1) * this.faults.jitterMs;
    const t = this.source() + this.errorMs() + jitter;
    return { earliest: t - this.epsMs, latest: t + this.epsMs };
  }

  eps(): number {
    return this.epsMs;
  }

  /** False during an outage. */
  synchronized(): boolean {
    return !this.faults.outage;
  }
}
