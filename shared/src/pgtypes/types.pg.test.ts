/**
 * Differential test of every type's text input and output against a throw-away PostgreSQL 15
 * (DESIGN §10 "differential"). For each case, PostgreSQL computes `SELECT $1::type` (or, with a
 * typmod, `INSERT INTO t (c) VALUES ($1) RETURNING c` into a column of that type, so the
 * assignment rules apply) under the case's TimeZone / DateStyle / IntervalStyle /
 * extra_float_digits; Stratum computes `formatValue(coerceLiteral(input))`. Both must give the
 * same text, or the same SQLSTATE and message. PostgreSQL's output must also read back through
 * `coerceLiteral` to itself. Then, per type, the btree order of a set of values: PostgreSQL's
 * `<` / `>` over every pair against `compareValues`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type PostgresHandle, startPostgres } from '../testing/postgres.ts';
import {
  coerceLiteral,
  compareValues,
  INTERVAL_FIELD as F,
  type FormatOptions,
  formatValue,
  intervalTypmod,
  pgTypeName,
  type SqlType,
  type Value,
} from '../types.ts';

interface Case {
  type: SqlType;
  input: string;
  typmod?: number;
  set?: FormatOptions;
  /** A known difference: Stratum's own expected SQLSTATE, PostgreSQL not asked. */
  ours?: string;
  /** The output does not read back to itself in PostgreSQL either ('IST' input is Israel, +02). */
  noReadback?: true;
}

const numericTm = (p: number, s: number): number => ((p << 16) | (s & 0x7ff)) + 4;
const charTm = (n: number): number => n + 4;
const INTERVAL_FULL = 0x7fff << 16;

function cases(type: SqlType, inputs: string[], extra: Omit<Case, 'type' | 'input'> = {}): Case[] {
  return inputs.map((input) => ({ type, input, ...extra }));
}

const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', '+05:30', 'UTC+8', 'America/Sao_Paulo'];
const TSTZ_INPUTS = [
  '2026-01-01 10:00',
  '2026-07-01 10:00:00.25',
  '2026-01-01 10:00 Europe/Paris',
  '2026-07-01 10:00 america/new_york',
  '2026-01-01 10:00+05:30',
  '2026-01-01 10:00-0330',
  '2026-01-01 10:00 EST',
  '2026-01-01 10:00 PDT',
  '2026-01-01 10:00 CEST',
  '2026-03-08 02:30',
  '2026-11-01 01:30',
  '2026-03-29 02:30',
  '2026-10-25 02:30',
  '2026-04-05 01:45',
  '2026-10-04 02:15',
  '1800-01-01 00:00',
  '1900-06-01 12:00',
  '2100-07-01 00:00',
  '2026-01-01T10:00:00Z',
  '2026-01-01 10:00:00.5-08',
  'epoch',
  'infinity',
  '-infinity',
  '2026-01-01 10:00 Foo/Bar',
  '0044-03-15 12:00 BC',
  'abc',
  '2026-12-06T20:34:04.123+00:00',
  '2026-12-06T20:34:04.123Z',
  '2026-01-01 10:00:00 +0100',
  'Jan 1, 2026 10:00:00 AM',
  '2026/01/02 10:00',
  '2026-01-01 10:00:00 UTC',
  '2026-1-5 9:05',
];

const CASES: Case[] = [
  ...cases('integer', ['0', '-1', ' 42 ', '+7', '2147483647', '2147483648', '-2147483648', '1.5', 'abc', '', '1e3', '0x10', '- 1']),
  ...cases('smallint', ['32767', '32768', '-32769', '12', '\t12\n']),
  ...cases('bigint', ['9223372036854775807', '9223372036854775808', '-9223372036854775808', '  -5 ', '1_000']),
  ...cases('real', [
    '1.5',
    '3.4e38',
    '3.5e38',
    '1e-46',
    'NaN',
    '-inf',
    'infinity',
    '0.1',
    '1e-10',
    '-0',
    '100000',
    '1234567',
    'abc',
    '16777217',
  ]),
  ...cases('double', [
    '0.1',
    '1e308',
    '1e309',
    '1e-400',
    '2.5e-5',
    '123456789012345678',
    '-0',
    'Infinity',
    'nan',
    '5e-324',
    ' 1.5 ',
    '1e15',
    '1e14',
    '0.0001',
    '0.00001',
  ]),
  ...cases('double', ['0.1', '0.333333333333333333', '123456789.123', '1e20', '1e-5', '2.5'], { set: { extraFloatDigits: 0 } }),
  ...cases('double', ['0.1', '0.333333333333333333', '123456789.123'], { set: { extraFloatDigits: 3 } }),
  ...cases('double', ['0.1', '0.333333333333333333', '123456789.123'], { set: { extraFloatDigits: -4 } }),
  ...cases('real', ['0.1', '0.333333333333333333', '123456.7'], { set: { extraFloatDigits: 0 } }),
  ...cases('numeric', [
    '0',
    '-0',
    '1.50',
    '-0.001',
    '1.5e3',
    '1e-3',
    '.5',
    '5.',
    'NaN',
    'nan',
    'Infinity',
    '-inf',
    '+inf',
    '  -Infinity ',
    '12345678901234567890.123456789',
    'abc',
    '1 2',
    '1e',
    '00012.3400',
    '-0.0',
    '1E+2',
    '0.000e5',
    '1e-20',
    '-1.5E-2',
    '+.5',
    '.',
    '1e131072',
    '1e-16384',
  ]),
  ...cases('numeric', ['123.456', '999.995', '999.994', '-999.999', '1e2', 'NaN', 'Infinity', '0.001', '0.005', '-0.005', '0'], {
    typmod: numericTm(5, 2),
  }),
  ...cases('numeric', ['1.5', '2.5', '-2.5', '999.4', '999.5'], { typmod: numericTm(3, 0) }),
  ...cases('numeric', ['12345', '99499', '99500', '-1500'], { typmod: numericTm(2, -3) }),
  ...cases('numeric', ['0.00123', '0.01', '0.001234', '0.009999'], { typmod: numericTm(3, 5) }),
  ...cases('numeric', ['0.4', '0.5', '1'], { typmod: numericTm(1, 1) }),
  ...cases('text', ['abc', '', ' a ', 'é😀', 'line\nbreak', 'tab\there']),
  ...cases('varchar', ['abc', 'abcd', 'ab   ', 'abc  ', 'a😀b', 'a😀bc', 'é', 'ab \t'], { typmod: charTm(3) }),
  ...cases('varchar', ['abc  ', '']),
  ...cases('char', ['ab', 'abcd', 'abcde', 'abcd   ', '', ' ', 'é😀'], { typmod: charTm(4) }),
  ...cases('char', ['ab  ', 'x']),
  ...cases('boolean', ['t', 'TRUE', 'yes', 'on', 'off', '0', '1', 'y', 'n', 'of', 'o', 'maybe', '  true  ', '']),
  ...cases('uuid', [
    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    'a0eebc999c0b4ef8bb6d6bb9bd380a11',
    'a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11',
    'xyz',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1',
  ]),
  ...cases('date', [
    '2026-01-02',
    '20260102',
    '01/02/2026',
    '1/2/26',
    'Jan 2 2026',
    '2 January 2026',
    '2026-Jan-02',
    '02-Jan-2026',
    'January 8, 1999',
    '0001-01-01 BC',
    '4714-11-24 BC',
    '4714-11-23 BC',
    '5874897-12-31',
    'epoch',
    'infinity',
    '-infinity',
    '2026-02-29',
    '2024-02-29',
    '2026-13-01',
    '13/01/2026',
    'abc',
    '2026-01-02 10:00:00',
    '99-01-02',
    '2026-01-02 BC',
    '0000-01-01',
  ]),
  ...cases('date', ['02/01/2026', '2026-01-02', '13/01/2026'], { set: { dateStyle: 'SQL, DMY' } }),
  ...cases('date', ['02.01.2026', '2026-01-02'], { set: { dateStyle: 'German' } }),
  ...cases('date', ['2026-01-02', '0001-01-01 BC'], { set: { dateStyle: 'Postgres, MDY' } }),
  ...cases('time', [
    '10:00',
    '10:00:00.123456',
    '10:00:00.1234567',
    '23:59:59.9999999',
    '24:00:00',
    '24:00:01',
    '25:00',
    '10:00 PM',
    '12:00 AM',
    '12:30 pm',
    'allballs',
    '10:60',
    'abc',
    '10:00:00+05',
    '2026-01-01 10:00:00',
    '1:2:3',
    '13:00 PM',
  ]),
  ...cases('time', ['10:00:00.5', '10:00:00.49', '23:59:59.6'], { typmod: 0 }),
  ...cases('timestamp', [
    '2026-01-02 03:04:05',
    '2026-01-02T03:04:05.678Z',
    '2026-01-02 03:04:05+05:30',
    '2026-01-02 03:04:05 Europe/Paris',
    'epoch',
    'infinity',
    '-infinity',
    '0001-01-01 00:00:00 BC',
    '2026-01-02',
    'Jan 2 2026 10:00 PM',
    '2026-01-02 24:00:00',
    '2026-01-02 25:00:00',
    '2026-02-30 00:00',
    'Wed Jul 01 02:00:00 2026',
    '2026-01-02 03:04:05.9999995',
    '294276-12-31 23:59:59',
    '294277-01-01 00:00:00',
    '2026-01-02 03:04:05.123456789',
    '20260102 030405',
    '2026-01-02 03:04',
    'abc',
    '2026-01-02 10:00 xyz',
    '',
  ]),
  ...cases('timestamp', ['2026-01-02 03:04:05.12345', '2026-01-02 03:04:05.1235', '1969-12-31 23:59:59.9995'], { typmod: 3 }),
  ...cases('timestamp', ['2026-07-01 00:00:00.5', '0044-03-15 12:00 BC'], { set: { dateStyle: 'Postgres, MDY' } }),
  ...cases('timestamp', ['2026-07-01 00:00:00.5'], { set: { dateStyle: 'SQL, DMY' } }),
  ...cases('timestamp', ['2026-07-01 00:00:00.5'], { set: { dateStyle: 'German' } }),
  ...ZONES.flatMap((timeZone) => cases('timestamptz', TSTZ_INPUTS, { set: { timeZone } })),
  ...cases('timestamptz', ['2026-01-01 10:00', '2026-07-01 10:00'], { set: { timeZone: 'America/New_York', dateStyle: 'SQL, MDY' } }),
  ...cases('timestamptz', ['2026-01-01 10:00', '2026-07-01 10:00'], { set: { timeZone: 'America/New_York', dateStyle: 'Postgres, DMY' } }),
  ...cases('timestamptz', ['2026-01-01 10:00'], { set: { timeZone: 'UTC', dateStyle: 'German' } }),
  ...cases('timestamptz', ['2026-01-15 10:00'], { set: { timeZone: 'Asia/Kolkata', dateStyle: 'SQL, DMY' }, noReadback: true }),
  ...['Europe/Paris', 'Europe/London', 'Asia/Tokyo', 'Australia/Sydney', 'America/Sao_Paulo', 'America/Los_Angeles'].flatMap((timeZone) =>
    cases('timestamptz', ['2026-01-15 10:00', '2026-07-15 10:00'], { set: { timeZone, dateStyle: 'SQL, DMY' } }),
  ),
  ...cases('timestamptz', ['2026-01-01 10:00:00.5555'], { typmod: 2, set: { timeZone: 'Europe/Paris' } }),
  ...(['postgres', 'iso_8601', 'sql_standard', 'postgres_verbose'] as const).flatMap((intervalStyle) =>
    cases(
      'interval',
      [
        '1 year 2 mons 3 days 04:05:06.5',
        '-1 days +02:03',
        '1 day -02:00',
        '-1 year -2 mons',
        '@ 1 minute ago',
        '0',
        'PT0S',
        '1.5 years',
        '-1.5 days',
        '100:00:00.000001',
        '1 mon -1 day',
        '-00:00:01.5',
        '3 4:05:06',
        '1-2',
        '-1-2',
        '1 2',
        'P1Y2M',
        'PT1.5S',
        'P1.5W',
        '1 week',
        '10',
        '1d2h',
        '3 microseconds 2 milliseconds',
        'abc',
        '',
        '1:60',
        '2 decades 1 century 1 millennium',
        '1 hour ago',
        '-1 hour ago',
        '178000000 years',
        '1 day 2 days',
        '0.5 months',
        '1.5 seconds ago',
        '-0.5 sec',
        'P1Y-2M3DT-4H5M-6.5S',
        'P0001-02-03T04:05:06',
        '1:2.5',
        '1-2 3',
        '+1 -2:00:00',
        '1 year 1 second',
        '-1 year +1 second',
        '1 sec',
        '-2 mins',
      ],
      { set: { intervalStyle } },
    ),
  ),
  ...cases('interval', ['1 day 00:00:01.555', '00:00:00.005'], { typmod: INTERVAL_FULL | 2 }),
  ...[
    intervalTypmod(undefined, F.year),
    intervalTypmod(undefined, F.month),
    intervalTypmod(undefined, F.year | F.month),
    intervalTypmod(undefined, F.day),
    intervalTypmod(undefined, F.hour),
    intervalTypmod(undefined, F.minute),
    intervalTypmod(2, F.second),
    intervalTypmod(undefined, F.day | F.hour),
    intervalTypmod(undefined, F.day | F.hour | F.minute),
    intervalTypmod(3, F.day | F.hour | F.minute | F.second),
    intervalTypmod(undefined, F.hour | F.minute),
    intervalTypmod(undefined, F.hour | F.minute | F.second),
    intervalTypmod(1, F.minute | F.second),
    intervalTypmod(0),
  ].flatMap((typmod) =>
    cases('interval', ['1 year 2 months 3 days 04:05:06.789', '-1 year -2 months -3 days -04:05:06.789', '100:59:59.95'], { typmod }),
  ),
  ...cases('json', [
    '{"a":1}',
    ' [1, 2 ] ',
    '"\\u00e9"',
    '1e5',
    'true',
    '{"a":1,}',
    '01',
    '"\\ud800"',
    '"\\u0000"',
    '{"b":1,"a":2,"a":3}',
    'null',
    '',
    '[1,2',
    '{"a" 1}',
    '-0',
    '1.0E+2',
    'nul',
    '"a\tb"',
    '{a:1}',
    '[1 2]',
    '{"a":1}}',
    '[1,]',
    '{"a":}',
    '"\\x"',
    '"\\u00"',
    '1.',
    '.5',
    '-',
    '"abc',
  ]),
  ...cases('jsonb', [
    '{"a":1}',
    ' [1, 2 ] ',
    '"\\u00e9"',
    '1e5',
    'true',
    '{"a":1,}',
    '"\\ud800"',
    '"\\u0000"',
    '{"b":1,"a":2,"a":3}',
    '{"aa":1,"b":2,"a":{"z":[1,2.50,{"y":null}]}}',
    '12345678901234567890',
    '"\\u00e9\\n\\u001f\\/"',
    '"😀"',
    '"\\ud83d\\ude00"',
    '{"":1,"a":2}',
    '[]',
    '{}',
    '[ ]',
    '  "x"  ',
    '-0',
    '1.0E+2',
    '1E-2',
    '{"é":1,"z":2,"ab":3}',
    '[1,{"a":[]},"x",false,null]',
    '"\\ud83d"',
    '"\\ude00"',
    '"\\ud83d\\ud83d"',
  ]),
  ...cases('bytea', [
    '\\x0102ff',
    '\\xDEADbeef',
    '\\x 01 02',
    '\\x0',
    '\\xzz',
    'abc',
    'a\\\\b',
    '\\001\\377',
    '\\\\',
    '\\q',
    'é',
    '',
    '\\X01',
    '\\x',
  ]),
  ...cases('integer[]', [
    '{1,2,3}',
    '{}',
    '{ 1 , 2 }',
    '{NULL,1}',
    '{null}',
    '{"1"}',
    '{1,,2}',
    '{1,2',
    '1,2',
    '[1:2]={1,2}',
    '{1,a}',
    '{2147483648}',
    '{1,2}x',
    '{ }',
  ]),
  ...cases('integer[]', ['{{1,2},{3,4}}', '[0:1]={1,2}'], { ours: '0A000' }),
  ...cases('text[]', [
    '{a,"b c",NULL,"NULL",""}',
    '{"a\\"b","c\\\\d"}',
    '{ a b , c }',
    '{\\a}',
    '{"{}"}',
    '{a"b}',
    '{"a"b}',
    '{é,😀}',
    '{\\NULL}',
    '{"a,b",\\,}',
    '{"a\tb"}',
  ]),
  ...cases('varchar[]', ['{ab,abc}', '{ab,"a  "}'], { typmod: charTm(2) }),
  ...cases('char[]', ['{a,ab}'], { typmod: charTm(3) }),
  ...cases('numeric[]', ['{1.25,NaN,-1.35}', '{123.45}'], { typmod: numericTm(4, 1) }),
  ...cases('bytea[]', ['{"\\\\x0102",NULL}', '{abc}']),
  ...cases('jsonb[]', ['{"{\\"b\\":1,\\"a\\":2}","[1]"}']),
  ...cases('json[]', ['{"{\\"b\\":1}"}']),
  ...cases('timestamptz[]', ['{"2026-01-01 10:00","2026-07-01 10:00"}'], { set: { timeZone: 'Europe/Paris' } }),
  ...cases('interval[]', ['{"1 day","2 hours",NULL}']),
  ...cases('boolean[]', ['{t,f,yes}']),
  ...cases('date[]', ['{2026-01-01,infinity}']),
  ...cases('uuid[]', ['{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}']),
  ...cases('double[]', ['{1.5,NaN,-Infinity,1e300}']),
  ...cases('time[]', ['{10:00,"23:59:59.5"}']),
];

let server: PostgresHandle;
let client: pg.Client;
const tables = new Map<string, string>();

before(async () => {
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url, types: { getTypeParser: () => (v: string) => v } });
  await client.connect();
});

after(async () => {
  await client?.end();
  await server?.stop();
});

function settingsSql(set: FormatOptions | undefined): string[] {
  return [
    `SET TimeZone = '${set?.timeZone ?? 'UTC'}'`,
    `SET DateStyle = '${set?.dateStyle ?? 'ISO, MDY'}'`,
    `SET IntervalStyle = '${set?.intervalStyle ?? 'postgres'}'`,
    `SET extra_float_digits = ${set?.extraFloatDigits ?? 1}`,
  ];
}

type Outcome = { text: string | null } | { code: string; message: string; detail?: string };

async function postgres(c: Case): Promise<Outcome> {
  for (const s of settingsSql(c.set)) await client.query(s);
  const typeName = pgTypeName(c.type, c.typmod);
  try {
    if (c.typmod === undefined) {
      const r = await client.query({ text: `SELECT $1::${typeName} AS v`, values: [c.input] });
      return { text: r.rows[0].v };
    }
    let t = tables.get(typeName);
    if (t === undefined) {
      t = `t${tables.size}`;
      await client.query(`CREATE TEMP TABLE ${t} (c ${typeName})`);
      tables.set(typeName, t);
    }
    const r = await client.query({ text: `INSERT INTO ${t} (c) VALUES ($1) RETURNING c`, values: [c.input] });
    return { text: r.rows[0].c };
  } catch (e) {
    const err = e as { code: string; message: string; detail?: string };
    return { code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) };
  }
}

function ours(c: Case, input: string = c.input): Outcome {
  try {
    const ctx = {
      ...(c.set?.timeZone ? { timeZone: c.set.timeZone } : {}),
      ...(c.set?.dateStyle ? { dateStyle: c.set.dateStyle } : {}),
      ...(c.set?.intervalStyle ? { intervalStyle: c.set.intervalStyle } : {}),
    };
    const v = coerceLiteral(input, c.type, ctx, c.typmod);
    return { text: formatValue(v, c.type, c.set ?? {}) };
  } catch (e) {
    const err = e as { code?: string; message: string; detail?: string };
    if (typeof err.code !== 'string') throw e;
    return { code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) };
  }
}

function describe(c: Case): string {
  return `${pgTypeName(c.type, c.typmod)} ${JSON.stringify(c.input)}${c.set ? ` ${JSON.stringify(c.set)}` : ''}`;
}

test(`text input and output of ${CASES.length} values equal PostgreSQL 15's`, async () => {
  const failures: string[] = [];
  for (const c of CASES) {
    const mine = ours(c);
    if (c.ours !== undefined) {
      if (!('code' in mine) || mine.code !== c.ours) failures.push(`${describe(c)}: expected our ${c.ours}, got ${JSON.stringify(mine)}`);
      continue;
    }
    const theirs = await postgres(c);
    if ('text' in theirs) {
      if (!('text' in mine) || mine.text !== theirs.text) {
        failures.push(`${describe(c)}: PostgreSQL ${JSON.stringify(theirs.text)}, Stratum ${JSON.stringify(mine)}`);
        continue;
      }
      // PostgreSQL's output reads back to itself.
      if (theirs.text !== null && !c.noReadback) {
        const again = ours(c, theirs.text);
        if (!('text' in again) || again.text !== theirs.text) {
          failures.push(`${describe(c)}: output ${JSON.stringify(theirs.text)} reads back as ${JSON.stringify(again)}`);
        }
      }
    } else if (
      !('code' in mine) ||
      mine.code !== theirs.code ||
      mine.message !== theirs.message ||
      (theirs.detail !== undefined && mine.detail !== theirs.detail)
    ) {
      failures.push(`${describe(c)}: PostgreSQL ${JSON.stringify(theirs)}, Stratum ${JSON.stringify(mine)}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${CASES.length} cases differ:\n${failures.join('\n')}`);
});

/** Per type, values whose pairwise order PostgreSQL and compareValues must agree on. */
const ORDER: [SqlType, string[]][] = [
  ['integer', ['-5', '0', '7', '2147483647']],
  ['bigint', ['-9223372036854775808', '0', '42', '9223372036854775807']],
  ['double', ['NaN', 'Infinity', '-Infinity', '0', '-0', '1.5', '-1e300', '5e-324']],
  ['real', ['NaN', '1.5', '-1.5', 'Infinity']],
  ['numeric', ['NaN', 'Infinity', '-Infinity', '0', '0.00', '-0.001', '1.5', '1.50', '100', '99.999999999999999999', '-1e20']],
  ['text', ['', 'a', 'B', 'ab', 'a ', 'é', 'z', '😀', '\uffff', 'A']],
  ['varchar', ['abc', 'ab', 'abd', '']],
  ['char', ['a', 'a  ', 'ab', '', ' ', 'b']],
  ['boolean', ['true', 'false']],
  ['uuid', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000', 'ffffffff-0000-0000-0000-000000000000']],
  ['date', ['2026-01-01', '1970-01-01', '0001-01-01 BC', 'infinity', '-infinity']],
  ['time', ['00:00', '10:00', '24:00', '09:59:59.999999']],
  ['timestamp', ['2026-01-01', '1970-01-01 00:00:00.000001', 'infinity', '-infinity', '0044-03-15 BC']],
  ['timestamptz', ['2026-01-01 00:00Z', '2026-01-01 01:00+01', '2026-01-01 00:00:01Z', 'epoch']],
  ['interval', ['1 mon', '30 days', '1 day', '24 hours', '-1 day', '0', '1 year', '360 days', '1 mon 1 microsecond', '-1 mon 30 days']],
  ['bytea', ['\\x', '\\x00', '\\x0000', '\\x01', '\\xff', '\\x00ff']],
  [
    'jsonb',
    [
      'null',
      '"a"',
      '"b"',
      '1',
      '2.5',
      'true',
      'false',
      '[]',
      '[1]',
      '[2]',
      '[1,2]',
      '{}',
      '{"a":1}',
      '{"b":1}',
      '{"a":2}',
      '{"aa":1}',
      '{"a":1,"b":2}',
      '[null]',
      '["a"]',
      '[{}]',
      '[[]]',
    ],
  ],
  ['integer[]', ['{}', '{1}', '{1,2}', '{2}', '{NULL}', '{1,NULL}', '{0,5}']],
  ['text[]', ['{}', '{a}', '{a,b}', '{b}', '{NULL}', '{""}']],
];

test('compareValues orders every type as PostgreSQL 15 btree does', async () => {
  for (const s of settingsSql(undefined)) await client.query(s);
  const failures: string[] = [];
  for (const [type, inputs] of ORDER) {
    const name = pgTypeName(type);
    const values: Value[] = inputs.map((i) => coerceLiteral(i, type));
    if (type.endsWith('[]')) {
      // unnest flattens arrays of arrays; compare the arrays pair by pair instead.
      failures.push(...(await compareArrays(type, inputs, values)));
      continue;
    }
    const r = await client.query({
      text: `SELECT a.i, b.i AS j, (a.v > b.v)::int - (a.v < b.v)::int AS c
             FROM unnest($1::${name}[]) WITH ORDINALITY a(v, i), unnest($1::${name}[]) WITH ORDINALITY b(v, i)`,
      values: [`{${inputs.map((i) => `"${i.replace(/["\\]/g, '\\$&')}"`).join(',')}}`],
    });
    for (const row of r.rows as { i: string; j: string; c: string }[]) {
      const a = values[Number(row.i) - 1] as Value;
      const b = values[Number(row.j) - 1] as Value;
      const mine = compareValues(a, b, type);
      if (mine !== Number(row.c)) {
        failures.push(`${name}: ${inputs[Number(row.i) - 1]} vs ${inputs[Number(row.j) - 1]}: PostgreSQL ${row.c}, Stratum ${mine}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

async function compareArrays(type: SqlType, inputs: string[], values: Value[]): Promise<string[]> {
  const name = pgTypeName(type);
  const out: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    for (let j = 0; j < inputs.length; j++) {
      const r = await client.query({
        text: `SELECT ($1::${name} > $2::${name})::int - ($1::${name} < $2::${name})::int AS c`,
        values: [inputs[i], inputs[j]],
      });
      const mine = compareValues(values[i] as Value, values[j] as Value, type);
      if (mine !== Number(r.rows[0].c)) out.push(`${name}: ${inputs[i]} vs ${inputs[j]}: PostgreSQL ${r.rows[0].c}, Stratum ${mine}`);
    }
  }
  return out;
}
