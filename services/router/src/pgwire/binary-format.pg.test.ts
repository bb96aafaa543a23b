/**
 * Binary value formats against a throw-away PostgreSQL 15: for each type and input, PostgreSQL's
 * binary output decodes to PostgreSQL's text output, our encoder reproduces PostgreSQL's bytes from
 * that text (and from the input), and PostgreSQL accepts our bytes as a binary parameter.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parsePgArray } from '@stratum/shared';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { ARRAY_ELEMENT_OID, decodeBinaryParam, encodeBinaryValue, OID } from './binary-format.ts';
import { B, D, dataRow, E, errorFields, P, Raw, S } from './test-support.ts';

let server: PostgresHandle;
let client: pg.Client;
/** Raw protocol connection: `pg` decodes every DataRow field as UTF-8, which binary values do not survive. */
let raw: Raw;

before(async () => {
  server = await startPostgres();
  client = new pg.Client({
    connectionString: server.url,
    options: '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1',
  });
  await client.connect();
  raw = await Raw.ready(server.port, {
    user: server.user,
    database: server.database,
    TimeZone: 'UTC',
    DateStyle: 'ISO, MDY',
    IntervalStyle: 'postgres',
    extra_float_digits: '1',
  });
});

after(async () => {
  raw?.end();
  await client?.end();
  await server?.stop();
});

/** Run `sql` with one parameter (`format` 0 text, 1 binary) and results in `resultFormats`; returns the column OIDs and the first row. */
async function run(
  sql: string,
  param: Buffer,
  format: number,
  resultFormats: number[],
): Promise<{ oids: number[]; row: (Buffer | null)[] }> {
  raw.send(Buffer.concat([P('', sql), B('', '', [format], [param], resultFormats), D('P', ''), E(''), S()]));
  const msgs = await raw.until('Z');
  const err = msgs.find((m) => m.type === 'E');
  if (err) {
    const f = errorFields(err);
    throw Object.assign(new Error(f.M), { code: f.C });
  }
  const desc = msgs.find((m) => m.type === 'T');
  const oids: number[] = [];
  if (desc) {
    let p = 2;
    for (let i = desc.payload.readInt16BE(0); i > 0; i--) {
      p = desc.payload.indexOf(0, p) + 1;
      oids.push(desc.payload.readInt32BE(p + 6));
      p += 18;
    }
  }
  return { oids, row: dataRow(msgs.find((m) => m.type === 'D')) };
}

/** PostgreSQL's binary and text forms of `input::type`. */
async function postgresForms(type: string, input: string): Promise<{ oid: number; binary: Buffer; text: string }> {
  const { oids, row } = await run(`SELECT $1::${type}, $1::${type}`, Buffer.from(input), 0, [1, 0]);
  return { oid: oids[0] as number, binary: row[0] as Buffer, text: (row[1] as Buffer).toString('utf8') };
}

/** Inputs per type; `exact: false` marks inputs our text parser does not need to read (only PostgreSQL's output is encoded). */
const CASES: [string, string[]][] = [
  ['bool', ['t', 'f']],
  ['int2', ['-32768', '32767', '0']],
  ['int4', ['-2147483648', '2147483647', '42']],
  ['int8', ['-9223372036854775808', '9223372036854775807']],
  ['oid', ['0', '4294967295']],
  ['float4', ['0.1', '-0', '3.4028235e38', '1.17549435e-38', 'NaN', '-Infinity', '1e-7']],
  ['float8', ['0.1', '1e100', '-2.5e-308', '5e-324', 'Infinity', '1.7976931348623157e308', '123456.789']],
  [
    'numeric',
    [
      '0',
      '0.000',
      '12.50',
      '-0.0001230',
      '10000',
      '-99999.9999',
      '123456789012345678901234567890.123456789',
      '0.00000000000000000001',
      '1.5e3',
      '-0',
      'NaN',
      'Infinity',
      '-Infinity',
    ],
  ],
  ['text', ['grüße 😀', '', 'tab\there']],
  ['varchar(10)', ['short', '']],
  ['char(5)', ['ab', 'abcde']],
  ['"char"', ['a']],
  ['name', ['pg_class']],
  ['uuid', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}']],
  ['bytea', ['\\x00ff10', '\\x', 'abc\\\\d\\001']],
  ['date', ['2024-02-29', '1999-12-31', '0044-03-15 BC', 'infinity', '-infinity']],
  ['time', ['00:00:00', '23:59:59.999999', '24:00:00', '12:34:56.5', '1:02']],
  ['timestamp', ['2024-01-02 03:04:05.123456', '1969-12-31 23:59:59.999999', '0044-03-15 12:00:00 BC', 'infinity']],
  ['timestamptz', ['2024-01-02 03:04:05.5+02', '1970-01-01 00:00:00+00', '-infinity']],
  [
    'interval',
    [
      '1 year 2 mons 3 days 04:05:06.5',
      '-1 days +02:00:00',
      '00:00:00',
      '-00:00:01',
      '1 mon -1 days',
      '-1 years -2 mons',
      '100:00:00',
      '3 days -04:00:00',
      '@ 1 day 2 hours ago',
      'P1Y2M3DT4H5M6.5S',
      'P-1Y-2M3DT-4H',
      '1.5 months',
      '1.5 years',
      '2 weeks 1.5 days',
      '90 minutes 30 seconds 250 milliseconds',
      '-1 year +1 mon',
      '1 day -00:00:00.000001',
    ],
  ],
  ['json', ['{"b": 1, "a": [1, 2]}', '"x"', 'null']],
  ['jsonb', ['{"b": 1, "a": [1, 2], "a": 3}', '[]', '"é"']],
  ['int4[]', ['{1,2,NULL}', '{}', '{ 7 , 8 }', '[1:2]={7,8}']],
  ['int8[]', ['{-9223372036854775808}']],
  ['text[]', ['{"a b","",NULL,"NULL",null,"x\\"y","back\\\\slash",é,"{}"}', '{a,  b c  ,"d"}', '{N\\ULL}']],
  ['varchar[]', ['{x,y}']],
  ['bpchar[]', ['{a,bb}']],
  ['numeric[]', ['{1.5,NaN,-0.001}']],
  ['float8[]', ['{0.1,-Infinity,NaN}']],
  ['bool[]', ['{t,f,NULL}']],
  ['bytea[]', ['{"\\\\x00ff",NULL}']],
  ['uuid[]', ['{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}']],
  ['date[]', ['{2024-01-01,infinity}']],
  ['time[]', ['{12:00:00.25}']],
  ['timestamptz[]', ['{"2024-01-01 00:00:00+00",NULL}']],
  ['interval[]', ['{"1 day","-00:00:01"}']],
  ['json[]', ['{"{\\"a\\": 1}"}']],
  ['jsonb[]', ['{"{\\"a\\": 1}",null}']],
];

const FLOATS = new Set<number>([OID.float4, OID.float8, 1021, 1022]);

/** Text equality, numerically for floats (PostgreSQL prints `1e-07` where JavaScript prints `1e-7`). */
function sameText(oid: number, ours: string, theirs: string): boolean {
  if (!FLOATS.has(oid)) return ours === theirs;
  if (oid === OID.float4 || oid === OID.float8)
    return Object.is(Number(ours), Number(theirs)) || (Number.isNaN(Number(ours)) && theirs === 'NaN');
  const a = parsePgArray(ours);
  const b = parsePgArray(theirs);
  return a.length === b.length && a.every((v, i) => (v === null ? b[i] === null : Object.is(Number(v), Number(b[i]))));
}

describe('binary formats against PostgreSQL 15', () => {
  for (const [type, inputs] of CASES) {
    test(type, async () => {
      for (const input of inputs) {
        const { oid, binary, text } = await postgresForms(type, input);
        const what = `${type} ${JSON.stringify(input)} (PostgreSQL text ${JSON.stringify(text)})`;
        const decoded = decodeBinaryParam(oid, binary);
        assert.ok(sameText(oid, decoded, text), `decode ${what}: got ${JSON.stringify(decoded)}`);
        assert.equal(encodeBinaryValue(oid, text).toString('hex'), binary.toString('hex'), `encode PostgreSQL's text of ${what}`);
        if (oid !== OID.uuid && oid !== OID.bytea && !input.includes('infinity') && type !== 'jsonb' && type !== 'char(5)') {
          assert.equal(encodeBinaryValue(oid, input).toString('hex'), binary.toString('hex'), `encode input ${what}`);
        }
        const back = await run(`SELECT $1::${type}`, encodeBinaryValue(oid, text), 1, [0]);
        assert.equal(back.row[0]?.toString('utf8'), text, `PostgreSQL reads our binary ${what}`);
      }
    });
  }

  test('multidimensional arrays and lower bounds decode; encoding takes Stratum’s one-dimensional arrays', async () => {
    for (const input of ['{{1,2},{3,4}}', '[0:1]={5,6}', '[1:2][3:3]={{1},{2}}', '{{{NULL}}}']) {
      const { oid, binary, text } = await postgresForms('int4[]', input);
      assert.equal(decodeBinaryParam(oid, binary), text, input);
      assert.throws(() => encodeBinaryValue(oid, text), { code: '0A000' });
    }
  });

  test('every array OID handled here is the array of its element type', async () => {
    const r = await client.query('SELECT oid::int, typelem::int FROM pg_type WHERE oid = ANY($1::oid[])', [Object.keys(ARRAY_ELEMENT_OID)]);
    assert.equal(r.rows.length, Object.keys(ARRAY_ELEMENT_OID).length);
    for (const row of r.rows as { oid: number; typelem: number }[])
      assert.equal(ARRAY_ELEMENT_OID[row.oid], row.typelem, `array ${row.oid}`);
  });

  test('malformed binary input gives PostgreSQL’s errors', async () => {
    const cases: [string, Buffer][] = [
      ['int4', Buffer.from([1])],
      ['int4', Buffer.alloc(5)],
      ['text', Buffer.from([0x41, 0, 0x42])],
      ['text', Buffer.from([0xc3])],
      ['jsonb', Buffer.from('{}')],
      ['numeric', Buffer.from('0001000000000000ffff', 'hex')],
      ['numeric', Buffer.from('0000000000500000', 'hex')],
      ['int4[]', Buffer.from('000000010000000000000014000000010000000100000004', 'hex')],
      ['int4[]', Buffer.from('000000010000000200000017000000010000000100000004', 'hex')],
      ['time', Buffer.from('0000001430000001', 'hex')],
    ];
    for (const [type, data] of cases) {
      const oid = { int4: 23, text: 25, jsonb: 3802, numeric: 1700, 'int4[]': 1007, time: 1083 }[type] as number;
      let theirs: { code: string; message: string } | undefined;
      try {
        await client.query({ text: `SELECT $1::${type}`, values: [data] });
      } catch (e) {
        theirs = { code: (e as { code: string }).code, message: (e as Error).message.replace(/ in bind parameter 1$/, '') };
      }
      let ours: { code: string; message: string } | undefined;
      try {
        decodeBinaryParam(oid, data);
      } catch (e) {
        ours = { code: (e as { code: string }).code, message: (e as Error).message };
      }
      assert.ok(theirs, `PostgreSQL accepted ${type} ${data.toString('hex')}`);
      assert.ok(ours, `we accepted ${type} ${data.toString('hex')}`);
      // Our jsonb version error is 22P03 where PostgreSQL raises XX000 (elog): same message, a data-error code on purpose.
      if (type === 'jsonb') assert.equal(ours.message, theirs.message);
      else assert.deepEqual(ours, theirs, `${type} ${data.toString('hex')}`);
    }
  });
});
