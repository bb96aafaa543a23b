/** Version stamps: RFC 9562 UUIDv7 format, commit time in the first 48 bits, strictly increasing per generator, distinct across generators. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VersionGenerator, versionTimestamp } from './version.ts';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('stamps are UUIDv7, carry the commit time, and increase strictly (also within a millisecond and when time steps back)', () => {
  const g = new VersionGenerator();
  const t0 = Date.now();
  let prev = '';
  for (let i = 0; i < 50_000; i++) {
    const ts = t0 + Math.floor(i / 1000) - (i % 997 === 0 ? 5 : 0);
    const v = g.next(ts);
    assert.match(v, UUIDV7);
    assert.ok(v > prev, `${v} after ${prev}`);
    assert.ok(versionTimestamp(v) >= Math.min(ts, versionTimestamp(prev || v)));
    prev = v;
  }
  assert.equal(versionTimestamp(g.next(t0 + 10_000)), t0 + 10_000);
});

test('two generators stamping the same milliseconds never collide', () => {
  const a = new VersionGenerator();
  const b = new VersionGenerator();
  const seen = new Set<string>();
  const t0 = Date.now();
  for (let i = 0; i < 20_000; i++) {
    for (const g of [a, b]) {
      const v = g.next(t0 + (i >> 8));
      assert.ok(!seen.has(v), `duplicate ${v}`);
      seen.add(v);
    }
  }
});
