/**
 * Property test of the index-value encoding (keys.ts `sortable`): for every indexable type, the
 * byte order of two encoded values is PostgreSQL's btree order of the values (types.ts
 * `compareValues`, itself checked against PostgreSQL 15 by h-types' differential test), equal
 * encodings mean equal values, and NULL sorts last. Also through LMDB: encoded values written as
 * index keys come back in `compareValues` order.
 *
 * Replay a failure: STRATUM_FC_SEED=<seed> STRATUM_FC_PATH=<path> node --import tsx --test services/ingestion/src/keys.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { compareValues, type SqlType, type Value } from '@stratum/shared';
import fc from 'fast-check';
import { type Key as LmdbKey, open } from 'lmdb';
import { compareSortable, KeyArena, NULL_SORTABLE, orderedWriteKey, rowKey, sortable, sortableBigint, toBufferKey } from './keys.ts';

const params = (): fc.Parameters<unknown> => {
  const p: fc.Parameters<unknown> = { numRuns: Number(process.env.STRATUM_FC_RUNS ?? 300) };
  if (process.env.STRATUM_FC_SEED) p.seed = Number(process.env.STRATUM_FC_SEED);
  if (process.env.STRATUM_FC_PATH) p.path = process.env.STRATUM_FC_PATH;
  return p;
};

const int8 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const numeric = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.nat({ max: 12 })).map(([d, s]) => decimalText(d, s)),
  },
  { weight: 1, arbitrary: fc.constantFrom('NaN', 'Infinity', '-Infinity', '0', '0.000', '-0.0', '1e5', '1.5E-3') },
);
const interval = fc
  .tuple(fc.integer({ min: -1200, max: 1200 }), fc.integer({ min: -400, max: 400 }), fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }))
  .map(([months, days, us]) => isoInterval(months, days, us));
const text = fc.string({ unit: 'grapheme', maxLength: 8 });

const ARBS: [SqlType, fc.Arbitrary<Value>][] = [
  ['smallint', fc.integer({ min: -32768, max: 32767 })],
  ['integer', fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })],
  ['bigint', int8],
  ['timestamptz', int8],
  ['date', fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })],
  ['time', fc.integer({ min: 0, max: 86_400_000_000 })],
  ['double', fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity))],
  ['real', fc.float().map((f) => Math.fround(f))],
  ['numeric', numeric],
  ['interval', interval],
  ['text', text],
  ['varchar', text],
  // Control characters in long strings (ordered-binary escapes them below 64 characters only).
  ['text', fc.string({ unit: fc.constantFrom('a', 'b', '\u0001', '\u0004', '\u0005', '\u0006', '\u0007'), maxLength: 80 })],
  ['text[]', fc.array(fc.string({ unit: fc.constantFrom('a', '\u0001', '\u0005'), maxLength: 70 }), { maxLength: 3 })],
  ['char', fc.string({ maxLength: 4 }).map((s) => s.padEnd(4, ' '))],
  ['uuid', fc.uuid()],
  ['boolean', fc.boolean()],
  ['bytea', fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b))],
  ['integer[]', fc.array(fc.option(fc.integer({ min: -5, max: 5 }), { nil: null }), { maxLength: 4 })],
  ['text[]', fc.array(fc.option(fc.string({ maxLength: 3 }), { nil: null }), { maxLength: 3 })],
  ['numeric[]', fc.array(fc.option(numeric, { nil: null }), { maxLength: 3 })],
];

function decimalText(d: bigint, scale: number): string {
  const neg = d < 0n;
  const s = (neg ? -d : d).toString().padStart(scale + 1, '0');
  const body = scale === 0 ? s : `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  return neg ? `-${body}` : body;
}

function isoInterval(months: number, days: number, us: bigint): string {
  const sec = us < 0n ? -us : us;
  const whole = sec / 1_000_000n;
  const frac = (sec % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  const s = `${us < 0n ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
  return `P${months}M${days}DT${s}S`;
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe('index-value encoding (keys.ts)', () => {
  for (const [type, arb] of ARBS) {
    test(`${type}: byte order of encodings is compareValues order (${arb.toString().slice(0, 40)})`, () => {
      fc.assert(
        fc.property(fc.option(arb, { nil: null, freq: 10 }), fc.option(arb, { nil: null, freq: 10 }), (a, b) => {
          const want = sign(compareValues(a, b, type));
          const got = sign(compareSortable(sortable(a, type), sortable(b, type)));
          assert.equal(got, want, `${String(a)} vs ${String(b)}`);
        }),
        params(),
      );
    });
  }

  test('values PostgreSQL calls equal encode equally; NULL sorts after every value', () => {
    assert.equal(sortable('1.50', 'numeric'), sortable('1.5', 'numeric'));
    assert.equal(sortable('-0.0', 'numeric'), sortable('0', 'numeric'));
    assert.equal(sortable('P1M', 'interval'), sortable('P30D', 'interval'));
    assert.equal(sortable('P1D', 'interval'), sortable('PT24H', 'interval'));
    assert.equal(sortable(-0, 'double'), sortable(0, 'double'));
    assert.equal(sortable('ab  ', 'char'), sortable('ab', 'char'));
    assert.equal(sortable(5, 'bigint'), sortable(5n, 'bigint'));
    assert.ok(compareSortable(sortable('NaN', 'numeric'), NULL_SORTABLE) < 0);
    assert.ok(compareSortable(sortable('\u{10FFFF}', 'text'), NULL_SORTABLE) < 0);
    assert.ok(sortableBigint(-(2n ** 100n)) < sortableBigint(-1n) && sortableBigint(-1n) < sortableBigint(0n));
  });

  test('LMDB returns index keys in compareValues order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-keys-'));
    const root = open({ path: dir });
    try {
      const db = root.openDB<Buffer, Buffer>('x', { encoding: 'binary', keyEncoding: 'ordered-binary' });
      for (const [n, [type, arb]] of ARBS.entries()) {
        const vals = fc.sample(fc.option(arb, { nil: null, freq: 10 }), { numRuns: 200, seed: 42 });
        await root.transaction(() => {
          vals.forEach((v, i) => void db.put(toBufferKey(['t', n, sortable(v, type), i]), Buffer.from([0])));
        });
        const order = [...db.getRange({ start: ['t', n], end: ['t', n + 1] })].map(
          (e) => vals[(e.key as unknown as [string, number, string, number])[3]] as Value,
        );
        for (let i = 1; i < order.length; i++) {
          assert.ok(
            compareValues(order[i - 1] as Value, order[i] as Value, type) <= 0,
            `${type}: ${String(order[i - 1])} before ${String(order[i])}`,
          );
        }
      }
    } finally {
      await root.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ingestion keys.ts: KeyArena', () => {
  test('row and history keys are the bytes toBufferKey writes, written through a ref handle as they are; refs stay valid as the arena grows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stratum-keyarena-'));
    const root = open({ path: dir, maxDbs: 4, compression: false });
    try {
      const plain = root.openDB<Buffer, LmdbKey>('h', { encoding: 'binary', keyEncoding: 'ordered-binary' } as never);
      const arena = new KeyArena(orderedWriteKey(plain));
      const byRef = root.openDB<Buffer, number>('h', { encoding: 'binary', keyEncoder: arena.encoder } as never);
      const keyValue = fc.oneof(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.string({ maxLength: 80 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 5 }).map((b) => Buffer.from(b)),
      );
      const entry = fc.tuple(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.array(keyValue, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.oneof(fc.uuid(), fc.string({ maxLength: 70 })),
      );
      // Growth by keys of every length, before and during the property.
      arena.reset();
      const grown: number[] = [];
      for (let i = 0; i < 20_000; i++) grown.push(arena.rowKey('t'.repeat(1 + (i % 13)), [BigInt(i)]));
      grown.forEach((ref, i) => {
        assert.deepStrictEqual(arena.bytes(ref), toBufferKey(rowKey('t'.repeat(1 + (i % 13)), [BigInt(i)])));
      });
      for (const v of [0n, -1n, 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
        assert.deepStrictEqual(arena.bytes(arena.rowKey('t', [v])), toBufferKey(rowKey('t', [v])), `key ${v}`);
      }
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 400 }), async (entries) => {
          arena.reset();
          const refs = entries.map(([table, key, ts, version]) => {
            const row = arena.rowKey(table, key as Value[]);
            return [row, arena.historyKey(row, ts, version)] as const;
          });
          let last: Promise<boolean> | undefined;
          entries.forEach(([table, key, ts, version], i) => {
            const [row, hist] = refs[i] as readonly [number, number];
            const rk = toBufferKey(rowKey(table, key as Value[]));
            assert.deepStrictEqual(arena.bytes(row), rk);
            assert.deepStrictEqual(arena.bytes(hist), toBufferKey([rk, ts, version]));
            last = byRef.put(hist, Buffer.from([i & 0xff]));
          });
          await last;
          entries.forEach(([table, key, ts, version], i) => {
            assert.ok(byRef.doesExist((refs[i] as readonly [number, number])[1]));
            assert.ok(plain.doesExist([toBufferKey(rowKey(table, key as Value[])), ts, version]));
          });
        }),
        params(),
      );
    } finally {
      await root.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
