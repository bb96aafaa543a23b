/**
 * Property test of rows.ts `KeyTable` against a `Map` keyed by the bytes' latin1 string: any mix
 * of sets and gets, with real hashes and with hashes that all collide (every lookup probes),
 * through growth from the smallest table.
 *
 * Replay a failure: STRATUM_FC_SEED=<seed> STRATUM_FC_PATH=<path> node --import tsx --test services/ingestion/src/rows.test.ts
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { KeyTable, keyHash } from './rows.ts';

const params = (): fc.Parameters<unknown> => {
  const p: fc.Parameters<unknown> = { numRuns: Number(process.env.STRATUM_FC_RUNS ?? 300) };
  if (process.env.STRATUM_FC_SEED) p.seed = Number(process.env.STRATUM_FC_SEED);
  if (process.env.STRATUM_FC_PATH) p.path = process.env.STRATUM_FC_PATH;
  return p;
};

/** Keys from a small alphabet and lengths, so that many share prefixes or are equal. */
const key = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4, min: 0, max: 2 }), fc.uint8Array({ minLength: 1, maxLength: 40 }));
const op = fc.record({ set: fc.boolean(), key, value: fc.nat() });

describe('ingestion rows.ts: KeyTable', () => {
  for (const [name, hash] of [
    ['FNV-1a hashes', (k: Uint8Array) => keyHash(k, 0, k.length)],
    ['hashes that all collide', () => 7],
  ] as const) {
    test(`finds what was set, by the key's bytes (${name})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(1, 16, 1024), (ops, capacity) => {
          const t = new KeyTable<{ value: number }>(capacity);
          const m = new Map<string, number>();
          for (const o of ops) {
            // A fresh copy each time: equal bytes, another array.
            const k = Uint8Array.from(o.key);
            const s = Buffer.from(k).toString('latin1');
            if (o.set) {
              t.set(k, 0, k.length, hash(k), { value: o.value });
              m.set(s, o.value);
            } else assert.equal(t.get(k, 0, k.length, hash(k))?.value, m.get(s));
            assert.equal(t.size, m.size);
          }
          for (const [s, v] of m) {
            // Inside a larger buffer, at an offset.
            const k = Buffer.from(`..${s}.`, 'latin1');
            assert.equal(t.get(k, 2, k.length - 1, hash(k.subarray(2, k.length - 1)))?.value, v);
          }
        }),
        params(),
      );
    });
  }

  test('keeps its own copy of the keys (the caller may reuse its buffer)', () => {
    const t = new KeyTable<string>(16);
    const k = Buffer.from('abc');
    t.set(k, 0, 3, keyHash(k, 0, 3), 'first');
    k.write('xyz');
    const abc = Buffer.from('abc');
    assert.equal(t.get(abc, 0, 3, keyHash(abc, 0, 3)), 'first');
    assert.equal(t.get(k, 0, 3, keyHash(k, 0, 3)), undefined);
  });
});
