/**
 * Backpressure of a bulk write on the change pipeline (docs/architecture.md, "Bulk writes and
 * the pipeline"). A COPY commits batch after batch on its TX engine faster than the relay,
 * ingestion's merge and the OLAP push carry them on. Left alone, a COPY of millions of rows
 * returns while most of its rows are still on their way: analytical reads, which include every
 * commit up to their read timestamp, then wait for the merge and load the unpushed rest into
 * DuckDB as the ingestion delta (seconds per 100k rows on a busy process).
 *
 * `PipelineBackpressure` keeps a statement's committed rows within a bound of each pipeline
 * stage's watermark (the ingestion watermark; the table's OLAP watermark): before the next batch
 * is written it waits until every stage is within its bound. The client sees slower
 * acknowledgements instead of a backlog, and the rows are readable soon after `COPY n`.
 *
 * The design's promise that writes are accepted while the bus, ingestion or a shard is down (the
 * outbox holds them) comes first: a stage whose watermark does not advance for `stallMs` is not
 * waited for again by this statement, and `stalls` says so.
 */
import type { WatermarkWatcher } from '@stratum/shared';

/**
 * A watermark a statement can wait for: `waitFor(ts, deadline)` resolves with the last watermark
 * read (≥ ts when reached) and never rejects, as `WatermarkWatcher` does.
 */
export type WatermarkSource = Pick<WatermarkWatcher, 'waitFor'>;

/** One pipeline stage the statement keeps pace with. */
export interface PipelineStage {
  /** Named in a stall notice, e.g. "ingestion watermark". */
  name: string;
  watermark: WatermarkSource;
  /** Most committed rows above this stage's watermark before `admit` waits; ≤ 0 = never wait for it. */
  maxRows: number;
}

/** A stage a statement stopped waiting for: its watermark did not move. */
export interface PipelineStall {
  stage: string;
  /** Rows of the statement above its watermark when the statement stopped waiting. */
  unmergedRows: number;
  /** The watermark it stayed at (ms since epoch; -1 = none read). */
  watermark: number;
  /** How long it did not advance (ms). */
  stalledMs: number;
}

/** A committed batch. */
interface Batch {
  /** Commit timestamp (ms since epoch). */
  ts: number;
  rows: number;
}

interface StageState extends PipelineStage {
  /** Batches above the stage's last watermark read, oldest first. */
  above: Batch[];
  rows: number;
  /** The highest watermark read, and when it was first read (`performance.now()`). */
  seen: number;
  seenAt: number;
  stall?: PipelineStall;
}

/**
 * Keeps one statement's committed rows within each stage's bound. Call `committed` after each
 * batch commits and `admit` before writing the next one.
 */
export class PipelineBackpressure {
  private readonly stages: StageState[];

  /**
   * @param stages the stages to keep pace with, in pipeline order (stages with maxRows ≤ 0 are ignored)
   * @param stallMs a stage whose watermark does not advance for this long (ms) is no longer waited for
   */
  constructor(
    stages: readonly PipelineStage[],
    private readonly stallMs = 10_000,
  ) {
    const now = performance.now();
    this.stages = stages.filter((s) => s.maxRows > 0).map((s) => ({ ...s, above: [], rows: 0, seen: -1, seenAt: now }));
  }

  /** Record a committed batch of `rows` rows with commit timestamp `commitTs` (ms; 0 = nothing written). */
  committed(commitTs: number, rows: number): void {
    if (commitTs <= 0 || rows <= 0) return;
    for (const st of this.stages) {
      if (st.stall) continue;
      st.above.push({ ts: commitTs, rows });
      st.rows += rows;
    }
  }

  /** Per stage name, rows recorded by `committed` that its last watermark read did not cover. */
  unmergedRows(): Record<string, number> {
    return Object.fromEntries(this.stages.map((s) => [s.name, s.rows]));
  }

  /** The stages this statement stopped waiting for, and why. */
  get stalls(): PipelineStall[] {
    return this.stages.flatMap((s) => (s.stall ? [s.stall] : []));
  }

  /**
   * Wait until every stage has at most its `maxRows` of the statement's rows above its watermark,
   * stage by stage in pipeline order; a stage whose watermark does not advance for `stallMs` is
   * given up (see `stalls`). Never throws.
   */
  async admit(): Promise<void> {
    for (const st of this.stages) await this.paceWith(st);
  }

  private async paceWith(st: StageState): Promise<void> {
    while (st.rows > st.maxRows && st.stall === undefined) {
      // The newest batch that must be below the watermark for at most maxRows to stay above it.
      let rest = st.rows;
      let need = 0;
      for (const b of st.above) {
        if (rest <= st.maxRows) break;
        rest -= b.rows;
        need = b.ts;
      }
      const w = await st.watermark.waitFor(need, performance.now() + this.stallMs);
      while (st.above.length > 0 && (st.above[0] as Batch).ts <= w) st.rows -= (st.above.shift() as Batch).rows;
      const now = performance.now();
      if (w > st.seen) {
        st.seen = w;
        st.seenAt = now;
      } else if (now - st.seenAt >= this.stallMs) {
        st.stall = { stage: st.name, unmergedRows: st.rows, watermark: w, stalledMs: Math.round(now - st.seenAt) };
        st.above.length = 0;
        st.rows = 0;
      }
    }
  }
}
