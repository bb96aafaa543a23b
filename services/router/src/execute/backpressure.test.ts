/**
 * PipelineBackpressure over the router's real WatermarkWatcher, with a watermark the test moves:
 * `admit` returns only once the watermark leaves at most `maxRows` rows above it, stage by stage,
 * and gives a stage up (reporting it) when its watermark stops advancing. The whole path, with a
 * stopped bus, is in cli/src/faults.nats.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WatermarkWatcher } from '@stratum/shared';
import { PipelineBackpressure } from './backpressure.ts';

/** A watermark the test sets; `reads` counts how often the watcher read it. */
function movable(start = -1) {
  const m = { value: start, reads: 0 };
  const watcher = new WatermarkWatcher(async () => {
    m.reads++;
    return m.value;
  }, 1);
  return { m, watcher };
}

describe('PipelineBackpressure', () => {
  test('admit waits until at most maxRows committed rows are above the watermark', async () => {
    const { m, watcher } = movable(0);
    const pace = new PipelineBackpressure([{ name: 'ingestion watermark', watermark: watcher, maxRows: 10 }], 60_000);
    for (let ts = 1; ts <= 5; ts++) pace.committed(ts, 5); // 25 rows at ts 1..5
    // 25 > 10: batches up to ts 3 must be merged (10 rows stay above).
    const seen: number[] = [];
    const ticker = setInterval(() => {
      if (m.value < 5) m.value++;
    }, 2);
    try {
      const done = pace.admit().then(() => seen.push(m.value));
      await done;
    } finally {
      clearInterval(ticker);
    }
    assert.ok((seen[0] ?? -1) >= 3, `admit returned at watermark ${seen[0]}, before ts 3 was merged`);
    assert.ok((pace.unmergedRows()['ingestion watermark'] as number) <= 10);
    assert.deepEqual(pace.stalls, []);
  });

  test('admit returns at once when the rows above the watermark are within the bound', async () => {
    const { m, watcher } = movable(0);
    const pace = new PipelineBackpressure([{ name: 'ingestion watermark', watermark: watcher, maxRows: 10 }], 60_000);
    pace.committed(7, 10);
    await pace.admit();
    assert.equal(m.reads, 0, 'the watermark was read although nothing had to wait');
  });

  test('a watermark that stops advancing is given up, reported, and not waited for again', async () => {
    const { m, watcher } = movable(100);
    const stages = [
      { name: 'ingestion watermark', watermark: watcher, maxRows: 5 },
      { name: 'OLAP watermark', watermark: movable(1000).watcher, maxRows: 5 },
    ];
    const pace = new PipelineBackpressure(stages, 50);
    pace.committed(200, 8);
    pace.committed(201, 8);
    await pace.admit();
    assert.equal(pace.stalls.length, 1);
    const st = pace.stalls[0];
    assert.equal(st?.stage, 'ingestion watermark');
    assert.equal(st?.watermark, 100);
    assert.equal(st?.unmergedRows, 16);
    assert.ok((st?.stalledMs ?? 0) >= 50);
    // Given up: later batches never wait for it.
    const readsBefore = m.reads;
    pace.committed(202, 100);
    await pace.admit();
    assert.equal(m.reads, readsBefore);
    // The OLAP watermark (1000) covered everything: never stalled.
    assert.equal(pace.unmergedRows()['OLAP watermark'], 0);
  });

  test('maxRows 0 never waits', async () => {
    const { m, watcher } = movable(-1);
    const pace = new PipelineBackpressure([{ name: 'ingestion watermark', watermark: watcher, maxRows: 0 }]);
    pace.committed(5, 1_000_000);
    await pace.admit();
    assert.equal(m.reads, 0);
    assert.deepEqual(pace.stalls, []);
  });
});
