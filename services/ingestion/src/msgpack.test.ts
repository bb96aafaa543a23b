/**
 * Property tests of msgpack.ts against msgpackr (shared's `encode` / `decode`):
 * - `PartReader.decodePart` gives exactly `decode`'s value (same types, prototypes and byte-array
 *   classes) for any encoded part, plain or not, and for damaged bytes (or throws `decode`'s
 *   error); plain parts take its own path, and the slices it notes decode to each change's `key`
 *   and `row`.
 * - `ValueWriter` writes numbers, strings and headers byte for byte as `encode` does, so a
 *   history value assembled around a row's bytes is `encode` of the history value.
 *
 * Replay a failure: STRATUM_FC_SEED=<seed> STRATUM_FC_PATH=<path> node --import tsx --test services/ingestion/src/msgpack.test.ts
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, type Value } from '@stratum/shared';
import fc from 'fast-check';
import { PartReader, strMax, ValueWriter, validUtf8 } from './msgpack.ts';

const params = (): fc.Parameters<unknown> => {
  const p: fc.Parameters<unknown> = { numRuns: Number(process.env.STRATUM_FC_RUNS ?? 300) };
  if (process.env.STRATUM_FC_SEED) p.seed = Number(process.env.STRATUM_FC_SEED);
  if (process.env.STRATUM_FC_PATH) p.path = process.env.STRATUM_FC_PATH;
  return p;
};

/** Well-formed strings (no lone surrogates), short and long, ASCII and not. */
const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 14, maxLength: 300 }),
  fc.constantFrom('', 'flights', '__proto__', 'é', '✓', '😀', 'a'.repeat(70_000)),
);
/** Any strings, lone surrogates included (msgpackr writes those as invalid UTF-8). */
const anyText = fc.oneof(text, fc.string({ unit: 'binary', maxLength: 20 }));

const number = fc.oneof(
  fc.integer(),
  fc.integer({ min: -0x100, max: 0x100 }),
  fc.double(),
  fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, 2 ** 32, 2 ** 53 - 1, -(2 ** 31) - 1, 0x7f, 0x80, 0xffff, 0x10000),
);
const bigint = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
);

/** Values as rows hold them (types.ts `Value`), nested, with maps of string keys. */
const value = (str: fc.Arbitrary<string>): fc.Arbitrary<unknown> =>
  fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      number,
      bigint,
      str,
      bytes,
      fc.array(tie('v'), { maxLength: 20 }),
      fc.dictionary(str, tie('v'), { maxKeys: 5 }),
    ),
  })).v;

/** A part-shaped object (extra fields and odd field values included: decode does not validate). */
const part = (str: fc.Arbitrary<string>): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      engine: str,
      partition: fc.nat(),
      seq: fc.nat(),
      txn: str,
      commitTs: fc.oneof(fc.nat(), fc.constant(1_700_000_000_123)),
      changes: fc.array(
        fc.record(
          {
            table: str,
            key: fc.array(fc.oneof(bigint, number, str, bytes), { minLength: 1, maxLength: 3 }),
            op: fc.constantFrom('insert', 'update', 'delete'),
            version: fc.uuid(),
            prev: fc.option(fc.uuid(), { nil: null }),
            row: fc.option(fc.dictionary(str, value(str), { maxKeys: 8 }), { nil: null }),
            extra: value(str),
          },
          { requiredKeys: ['table', 'key', 'op', 'version'] },
        ),
        { maxLength: 12 },
      ),
      more: value(str),
    },
    { requiredKeys: ['changes'] },
  );

/** `decode`'s outcome: its value, or the message of what it threw. */
function msgpackr(b: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: comparable(decode<unknown>(b, 'part')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** `PartReader.decodePart`'s outcome, as {@link msgpackr}. */
function reader(r: PartReader, b: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: comparable(r.decodePart(b, 'part')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** `v` with its Dates as their time (an invalid Date, from damaged timestamp bytes, is not deep-equal to itself). */
function comparable(v: unknown): unknown {
  if (v instanceof Date) return `Date(${v.getTime()})`;
  if (Array.isArray(v)) return v.map(comparable);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = comparable(x);
    return o;
  }
  return v;
}

/** The encoded part as a plain Uint8Array (a bus payload) or a Buffer view inside a larger buffer. */
const asSource = (b: Buffer, kind: number): Uint8Array => {
  if (kind === 0) return new Uint8Array(b);
  const outer = Buffer.alloc(b.length + 7, 0xc1);
  b.copy(outer, 3);
  return outer.subarray(3, 3 + b.length);
};

describe('ingestion msgpack.ts: PartReader', () => {
  test('decodes plain parts on its own path to exactly what decode gives; its slices decode to each key and row', () => {
    const r = new PartReader();
    fc.assert(
      fc.property(part(text), fc.nat(1), (p, kind) => {
        const b = asSource(encode(p), kind);
        r.reset();
        assert.deepStrictEqual(reader(r, b), msgpackr(b));
        const sl = r.slices[0];
        assert.ok(sl, 'a plain part is read without msgpackr');
        const changes = decode<{ changes: Record<string, unknown>[] }>(b).changes;
        assert.equal(sl.length, 4 * changes.length);
        changes.forEach((c, j) => {
          const at = (i: number) => sl[4 * j + i] as number;
          assert.deepStrictEqual(decode(b.subarray(at(0), at(1))), c.key);
          if ('row' in c) assert.deepStrictEqual(decode(b.subarray(at(2), at(3))), c.row);
          else assert.equal(at(2), -1);
        });
      }),
      params(),
    );
  });

  test('gives what decode gives (or throws what it throws) for any part, and for damaged bytes', () => {
    const r = new PartReader();
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('append' as const), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.constant({ kind: 'none' as const }),
    );
    const odd = fc.oneof(
      part(anyText),
      // Values msgpackr writes with extensions or as non-string map keys.
      fc.record({ changes: fc.constant([]), when: fc.date({ noInvalidDate: true }), u: fc.constant(undefined) }),
      fc.record({
        changes: fc.constant([]),
        m: fc.constant(
          new Map<unknown, unknown>([
            [1, 'a'],
            [true, 'b'],
          ]),
        ),
      }),
      value(anyText),
    );
    fc.assert(
      fc.property(odd, fc.array(damage, { maxLength: 3 }), fc.nat(1), (p, damages, kind) => {
        let b: Buffer = encode(p);
        for (const d of damages) {
          if (d.kind === 'cut') b = b.subarray(0, d.at % (b.length + 1));
          else if (d.kind === 'set' && b.length > 0) {
            b = Buffer.from(b);
            b[d.at % b.length] = d.byte;
          } else if (d.kind === 'append') b = Buffer.concat([b, Buffer.from([d.byte])]);
        }
        const src = asSource(b, kind);
        r.reset();
        assert.deepStrictEqual(reader(r, src), msgpackr(src));
      }),
      params(),
    );
  });

  test('short strings are interned by their whole bytes (many strings per slot, prefixes of each other)', () => {
    const r = new PartReader();
    const strings: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const s = (i * 7919).toString(36).padStart(4, 'z');
      for (let j = 1; j <= s.length; j++) strings.push(s.slice(0, j));
    }
    for (let pass = 0; pass < 2; pass++) {
      const b = new Uint8Array(encode({ changes: [], strings, keyed: Object.fromEntries(strings.map((s, i) => [s, i])) }));
      assert.deepStrictEqual(r.decodePart(b, 'strings'), decode(b));
    }
  });

  test('hands out the bytes it was given, per part in order, until reset', () => {
    const r = new PartReader();
    const a = new Uint8Array(encode({ changes: [] }));
    const b = new Uint8Array(encode({ changes: [{ table: 't', key: [1n], op: 'delete', version: 'v', prev: 'p', row: null }] }));
    r.decodePart(a, 'a');
    r.decodePart(b, 'b');
    const bytesBefore = r.bytes;
    assert.deepStrictEqual(r.bytes, [a, b]);
    assert.equal(r.bytes[1], b);
    assert.deepStrictEqual([...(r.slices[0] ?? [])], []);
    const [ks, ke, rs, re] = [...(r.slices[1] ?? [])] as [number, number, number, number];
    assert.deepStrictEqual(decode(b.subarray(ks, ke)), [1n]);
    assert.equal(decode(b.subarray(rs, re)), null);
    r.reset();
    assert.deepStrictEqual(r.bytes, []);
    assert.equal(bytesBefore.length, 2);
  });
});

describe('ingestion msgpack.ts: ValueWriter', () => {
  test('writes numbers and strings as encode does', () => {
    const w = new ValueWriter();
    fc.assert(
      fc.property(fc.array(fc.oneof(number, anyText), { maxLength: 8 }), (xs) => {
        for (const x of xs) {
          w.begin(typeof x === 'number' ? 9 : strMax(x));
          if (typeof x === 'number') w.number(x);
          else w.str(x);
          assert.deepStrictEqual(w.end(), encode(x), `value ${String(x)}`);
        }
      }),
      params(),
    );
  });

  test('a history value assembled around the bytes of its row is encode of the history value', () => {
    const w = new ValueWriter();
    fc.assert(
      fc.property(
        fc.tuple(
          fc.constantFrom('insert', 'update', 'delete'),
          fc.option(fc.uuid(), { nil: null }),
          anyText,
          fc.nat(),
          fc.option(fc.dictionary(anyText, value(anyText), { maxKeys: 8 }), { nil: null }),
          fc.constantFrom(0, 1, 2),
        ),
        fc.array(fc.oneof(bigint, number, text, bytes), { minLength: 1, maxLength: 3 }),
        ([op, prev, engine, lsn, row, state], key) => {
          const rowBytes = encode(row);
          w.begin(1 + strMax(op) + (prev === null ? 1 : strMax(prev)) + strMax(engine) + 9 + rowBytes.length + 1);
          w.array(6);
          w.str(op);
          if (prev === null) w.nil();
          else w.str(prev);
          w.str(engine);
          w.number(lsn);
          w.raw(rowBytes, 0, rowBytes.length);
          w.number(state);
          assert.deepStrictEqual(w.end(), encode([op, prev, engine, lsn, row, state]));
          // { ts, refs } (an lsnlog value) and arrays of any length.
          const keyBytes = encode(key);
          const n = (lsn % 40) + 1;
          w.begin(3 + 3 + 9 + 5 + 5 + n * (strMax(engine) + keyBytes.length + strMax(op)));
          w.map16(2);
          w.str('ts');
          w.number(lsn);
          w.str('refs');
          w.array(3 * n);
          const refs: (string | Value)[] = [];
          for (let i = 0; i < n; i++) {
            w.str(engine);
            w.raw(keyBytes, 0, keyBytes.length);
            w.str(op);
            refs.push(engine, key as Value, op);
          }
          assert.deepStrictEqual(w.end(), encode({ ts: lsn, refs }));
        },
      ),
      params(),
    );
  });

  test('array headers of every size class; values never move once handed out', () => {
    const w = new ValueWriter();
    for (const n of [0, 15, 16, 65_535, 65_536]) {
      w.begin(5 + n);
      w.array(n);
      for (let i = 0; i < n; i++) w.nil();
      assert.deepStrictEqual(w.end(), encode(new Array(n).fill(null)));
    }
    w.begin(3);
    w.str('abc');
    const first = w.end();
    for (let i = 0; i < 5000; i++) {
      w.begin(1000);
      w.raw(new Uint8Array(1000).fill(7), 0, 1000);
      w.end();
    }
    assert.deepStrictEqual(first, encode('abc'));
  });
});

describe('ingestion msgpack.ts: validUtf8', () => {
  test('agrees with TextDecoder in fatal mode', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 12 }),
          text.map((s) => new Uint8Array(Buffer.from(s))),
        ),
        (b) => {
          let ok = true;
          try {
            fatal.decode(b);
          } catch {
            ok = false;
          }
          assert.equal(validUtf8(b, 0, b.length), ok);
        },
      ),
      params(),
    );
  });
});
