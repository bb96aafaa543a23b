/** The fault-injecting clock: offset, drift, jitter bounds, outages, and faults changed at run time, against a controlled source. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultInjectingClock } from './clock.ts';

test('offset and drift move the reading; jitter stays within its bound; an outage throws and reports unsynchronized', () => {
  let t = 1_000_000;
  const src = () => t;
  const c = new FaultInjectingClock(2, { offsetMs: 30, driftPpm: 1000 }, src);
  const mid = (i: { earliest: number; latest: number }) => (i.earliest + i.latest) / 2;
  assert.equal(mid(c.now()), t + 30);
  assert.equal(c.now().latest - c.now().earliest, 4, 'reports the ε it was given');
  t += 10_000; // 10 s at 1,000 ppm = +10 ms
  assert.equal(mid(c.now()), t + 40);
  c.set({ driftPpm: 0, offsetMs: -5 }); // drift so far is kept
  t += 10_000;
  assert.equal(c.errorMs(), 5);
  c.set({ jitterMs: 3 });
  for (let i = 0; i < 1000; i++) {
    const d = mid(c.now()) - (t + 5);
    assert.ok(Math.abs(d) <= 3, `jitter ${d} within ±3 ms`);
  }
  c.set({ outage: true });
  assert.equal(c.synchronized(), false);
  assert.throws(
    () => c.now(),
    (e: { code?: string; message: string }) => e.code === '08006' && /outage/.test(e.message),
  );
  c.set({ outage: false });
  assert.equal(c.synchronized(), true);
});
