/**
 * Coalesced reads of a watermark that many waiters poll (router sessions waiting for their
 * consistency mode, TX engine point reads waiting for ingestion). Concurrent callers share one
 * in-flight read, so N waiting statements cost one status call per poll interval instead of N.
 */

/** Shares one in-flight watermark read among concurrent callers. */
export class WatermarkWatcher {
  private inflight: Promise<number> | undefined;

  /**
   * @param read reads the current watermark (ms since epoch; -1 = none yet); may throw
   * @param pollMs pause between reads while someone waits (ms)
   */
  constructor(
    private readonly read: () => Promise<number>,
    private readonly pollMs = 5,
  ) {}

  /** The current watermark, from a read started now or one already in flight. @throws what `read` throws. */
  current(): Promise<number> {
    this.inflight ??= this.read().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Poll until the watermark reaches `ts` or `deadline` (a `performance.now()` value) passes.
   * A failing read counts as "not reached" and is retried until the deadline.
   * @returns the last watermark read (≥ ts when reached; -1 when no read succeeded).
   */
  async waitFor(ts: number, deadline: number): Promise<number> {
    let w = -1;
    for (;;) {
      // A read that hangs (an unresponsive tier) must not hold waiters past their deadline.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), Math.max(0, deadline - performance.now()));
      });
      try {
        const got = await Promise.race([this.current(), late]);
        if (got !== undefined) w = Math.max(w, got);
      } catch {
        // Unreachable tier: keep trying until the deadline; the caller names what was missing.
      } finally {
        clearTimeout(timer);
      }
      if (w >= ts || performance.now() >= deadline) return w;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}
