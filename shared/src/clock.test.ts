/**
 * OneClock, the embedded form's clock (docs/architecture.md, "Clocks and commit-wait"): ε = 0,
 * always synchronized, and readings that never step back when the source does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Clock, LocalClock, OneClock } from './clock.ts';

test('OneClock: ε 0 and synchronized whatever the source reports', () => {
  const c = new OneClock(new LocalClock(250));
  assert.equal(c.eps(), 0);
  assert.equal(c.synchronized(), true);
  const n = c.now();
  assert.equal(n.earliest, n.latest, 'a point, not an interval');
  assert.ok(Math.abs(n.latest - Date.now()) < 1000, 'the source midpoint');
});

test('OneClock: a source stepping back is held at the last reading until it passes it again', () => {
  let t = 1_000;
  const source: Clock = { now: () => ({ earliest: t - 5, latest: t + 5 }), eps: () => 5, synchronized: () => false };
  const c = new OneClock(source);
  const seen: number[] = [];
  for (const step of [1_000, 1_010, 990, 1_005, 1_011, 1_020]) {
    t = step;
    seen.push(c.now().latest);
  }
  assert.deepEqual(seen, [1_000, 1_010, 1_010, 1_010, 1_011, 1_020]);
});

test('OneClock: clocks sharing a cell never read below each other', () => {
  const cell = OneClock.sharedCell();
  let a = 2_000;
  let b = 1_000;
  const ca = new OneClock({ now: () => ({ earliest: a, latest: a }), eps: () => 0, synchronized: () => true }, cell);
  const cb = new OneClock({ now: () => ({ earliest: b, latest: b }), eps: () => 0, synchronized: () => true }, cell);
  assert.equal(ca.now().latest, 2_000);
  assert.equal(cb.now().latest, 2_000, 'b is behind a: held at a’s reading');
  b = 2_500;
  assert.equal(cb.now().latest, 2_500);
  a = 2_100;
  assert.equal(ca.now().latest, 2_500, 'and the other way round');
});
