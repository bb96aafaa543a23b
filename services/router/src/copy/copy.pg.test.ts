/**
 * COPY formats against a throw-away PostgreSQL 15: the same input through PostgreSQL's COPY FROM and
 * through our parser gives the same rows, or the same error (SQLSTATE, message, CONTEXT, hint) — for
 * chosen cases and random input; COPY TO output is byte-identical in text, csv and binary; binary
 * COPY data round-trips both ways.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import fc from 'fast-check';
import { parse } from 'libpg-query';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { PgError } from '../pgwire/errors.ts';
import { copyOptionInputs, resolveCopyOptions } from './options.ts';
import { createCopyParser } from './parse.ts';
import { createCopyWriter } from './write.ts';

let server: PostgresHandle;
let client: pg.Client;
const asText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

before(async () => {
  server = await startPostgres();
  client = new pg.Client({
    connectionString: server.url,
    options: '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1',
  });
  await client.connect();
});

after(async () => {
  await client?.end();
  await server?.stop();
});

interface Outcome {
  rows: (string | null)[][];
  error?: { code: string; message: string; where?: string; hint?: string };
}

const errorOf = (e: unknown): NonNullable<Outcome['error']> => {
  const x = e as { code: string; message: string; where?: string; hint?: string };
  const out: NonNullable<Outcome['error']> = { code: x.code, message: x.message };
  if (x.where) out.where = x.where;
  if (x.hint) out.hint = x.hint;
  return out;
};

/** A table `name` with `columns` ([name, SQL type]), emptied. */
async function table(name: string, columns: [string, string][]): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (${columns.map(([c, t]) => `${c} ${t}`).join(', ')})`);
}

async function selectText(name: string, columns: string[]): Promise<(string | null)[][]> {
  const r = await client.query({ text: `SELECT ${columns.join(', ')} FROM ${name}`, rowMode: 'array', types: asText });
  return r.rows as (string | null)[][];
}

/** PostgreSQL's COPY FROM of `data` (one chunk) into the emptied table; the stored rows as text, or the error. */
async function theirs(name: string, columns: string[], sql: string, data: Buffer): Promise<Outcome> {
  await client.query(`TRUNCATE ${name}`);
  try {
    await pipeline(Readable.from([data]), client.query(copyFrom(sql)));
  } catch (e) {
    return { rows: [], error: errorOf(e) };
  }
  return { rows: await selectText(name, columns) };
}

/** The CopyStmt node of `sql`. */
// biome-ignore lint/suspicious/noExplicitAny: libpg-query JSON
async function copyStmt(sql: string): Promise<any> {
  const stmt = (await parse(sql)).stmts?.[0]?.stmt as { CopyStmt?: unknown } | undefined;
  if (!stmt?.CopyStmt) throw new Error(`not a COPY: ${sql}`);
  return stmt.CopyStmt;
}

const INT_RE = /^\s*[+-]?\d+\s*$/;
/** integer's input function, as the SQL layer's conversion would be. */
const int4 = (t: string | null) => {
  if (t === null) return null;
  if (!INT_RE.test(t)) throw new PgError('22P02', `invalid input syntax for type integer: "${t}"`);
  const n = Number(t);
  if (n > 2147483647 || n < -2147483648) throw new PgError('22003', `value "${t.trim()}" is out of range for type integer`);
  return String(n);
};

/** Our parser over the same COPY statement and data, fed in `chunks`. */
async function ours(name: string, columns: [string, string][], sql: string, chunks: Buffer[]): Promise<Outcome> {
  const stmt = await copyStmt(sql);
  const names = columns.map(([c]) => c);
  const rows: (string | null)[][] = [];
  try {
    const options = resolveCopyOptions(copyOptionInputs(stmt.options), { from: true, columns: names, relation: name });
    const parser = createCopyParser({
      table: name,
      columns: names,
      typeOids: columns.map(([, t]) => (t === 'int' ? 23 : 25)),
      options,
      convert: columns.map(([, t]) => (t === 'int' ? int4 : (v: string | null) => v)),
    });
    for (const c of chunks) {
      rows.push(...parser.push(c).map((r) => r.values));
      parser.check();
    }
    rows.push(...parser.finish().map((r) => r.values));
    parser.check();
  } catch (e) {
    return { rows: [], error: errorOf(e) };
  }
  return { rows };
}

/** Split `data` at `cuts` (positions modulo its length). */
function chunked(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

async function same(name: string, columns: [string, string][], sql: string, data: Buffer | string, cuts: number[] = []): Promise<Outcome> {
  const buf = Buffer.from(data);
  const expected = await theirs(
    name,
    columns.map(([c]) => c),
    sql,
    buf,
  );
  const got = await ours(name, columns, sql, chunked(buf, cuts));
  assert.deepEqual(got, expected, `${sql} ${JSON.stringify(buf.toString('latin1'))}`);
  return expected;
}

describe('COPY FROM: our parser agrees with PostgreSQL 15', () => {
  const cols: [string, string][] = [
    ['a', 'int'],
    ['b', 'text'],
    ['c', 'text'],
  ];
  before(() => table('t', cols));

  test('chosen text-format cases', async () => {
    const cases = [
      '1\tx\ty\n2\t\\N\t\\\\N\n',
      '1\tx\\ty\\nz\t\\101\\x41\\x4\\q\n',
      '1\tx\t1.5\n2\tyy\n',
      '1\tx\t1.5\n2\tyy\t3\t4\n',
      '1\tx\t1\nzz\tyy\t3\n',
      ' 7 \tx\ty\n',
      '99999999999\tx\ty\n',
      '1\tx\ty\r\n2\tx\ty\n',
      '1\tx\ty\n2\tx\ty\r',
      '1\tx\ty\r2\tx\ty\r\\.\r',
      '1\tx\ty\r\n\\.\r\n',
      '1\tx\ty\n\\.\nnot data\n',
      '1\tx\ty\\.\n',
      '1\tx\ty\n\\.',
      '1\tx\t\\.y\n',
      '1\tx\ty\\\n2\tz\n',
      '1\tx\t\\xff\n',
      Buffer.from('1\tx\t\xff\n', 'latin1'),
      Buffer.from('1\tx\t\xc3\n', 'latin1'),
      '1\tx\t\\0\n',
      '\n',
      `1\t${'é'.repeat(70)}\t${'x'.repeat(20)}\tz\n`,
    ];
    for (const data of cases) await same('t', cols, 'COPY t FROM STDIN', data, [3]);
    await same('t', cols, "COPY t FROM STDIN (DELIMITER '|', NULL 'nil')", '1|nil|\\|x\n2|\\nil|nil\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER)', 'a\tb\tc\n1\tx\ty\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER match)', 'a\tb\tc\n1\tx\ty\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER match)', 'a\tc\tb\n1\tx\ty\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER match)', 'a\tb\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER match)', '\\N\tb\tc\n');
    await same('t', cols, 'COPY t FROM STDIN (HEADER true)', '');
  });

  test('chosen csv cases', async () => {
    const cases = [
      'a,b,c\n1,"x\ny\nz",q\nzz,yy,3\n',
      '1,"x\ny\nz",1.5,\n',
      '1,"x\ny\nz,1.5\n',
      '1,,""\n2,"",\n',
      '1,"a""b",c"d"e\n',
      '1,x,"\\."\n\\.\nignored\n',
      '1,x,y\n\\.x,y,z\n',
      '1,x,y\r\n2,"a\r\nb",c\r\n',
      '1,x,y\n2,"a\rb",c\n',
      '1,x,y\n2,a\rb,c\n',
      '1,x,y\n\\.',
      '1,x\n',
      '\n',
      '"1",x,y\n',
    ];
    for (const data of cases) await same('t', cols, 'COPY t FROM STDIN (FORMAT csv)', data, [5]);
    await same('t', cols, 'COPY t FROM STDIN (FORMAT csv, HEADER)', 'a,b,c\n1,"x\ny\nz",q\nzz,yy,3\n');
    await same(
      't',
      cols,
      "COPY t FROM STDIN (FORMAT csv, DELIMITER ';', NULL 'NA', QUOTE '''', ESCAPE '\\')",
      "1;NA;'NA'\n2;'it\\'s';'\\\\'\n",
    );
    await same('t', cols, 'COPY t FROM STDIN (FORMAT csv, FORCE_NOT_NULL (b), FORCE_NULL (c))', '1,,""\n2,"",\n');
    await same('t', cols, 'COPY t FROM STDIN (FORMAT csv, HEADER match)', 'a,"b",c\n1,2,3\n');
    await same('t', [['b', 'text']], 'COPY t (b) FROM STDIN (FORMAT csv)', 'x\n\n"\\."\n');
  });

  const alphabet = ['1', 'a', 'é', '\t', ',', '"', "'", '\\', '\n', '\r', '.', 'N', ' ', 'x'];
  const input = fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((a) => a.join(''));

  test('random text-format input', async () => {
    const two: [string, string][] = [
      ['b', 'text'],
      ['c', 'text'],
    ];
    await fc.assert(
      fc.asyncProperty(input, fc.array(fc.nat(), { maxLength: 3 }), async (data, cuts) => {
        await same('t', two, 'COPY t (b, c) FROM STDIN', data, cuts);
      }),
      { numRuns: 200 },
    );
  });

  test('random csv input', async () => {
    const two: [string, string][] = [
      ['b', 'text'],
      ['c', 'text'],
    ];
    const options = fc.constantFrom('', ", QUOTE ''''", ", ESCAPE '\\'", ", DELIMITER E'\\t', NULL 'N'", ', HEADER');
    await fc.assert(
      fc.asyncProperty(input, fc.array(fc.nat(), { maxLength: 3 }), options, async (data, cuts, opts) => {
        await same('t', two, `COPY t (b, c) FROM STDIN (FORMAT csv${opts})`, data, cuts);
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------ COPY TO and binary

const TYPED: [string, string, number][] = [
  ['i', 'int', 23],
  ['s', 'smallint', 21],
  ['big', 'bigint', 20],
  ['t', 'text', 25],
  ['v', 'varchar(5)', 1043],
  ['ch', 'char(3)', 1042],
  ['n', 'numeric(12,3)', 1700],
  ['f', 'float8', 701],
  ['r', 'real', 700],
  ['b', 'boolean', 16],
  ['ts', 'timestamptz', 1184],
  ['tsl', 'timestamp', 1114],
  ['d', 'date', 1082],
  ['tm', 'time', 1083],
  ['iv', 'interval', 1186],
  ['u', 'uuid', 2950],
  ['j', 'json', 114],
  ['jb', 'jsonb', 3802],
  ['by', 'bytea', 17],
  ['ia', 'int[]', 1007],
  ['ta', 'text[]', 1009],
];

async function copyOut(sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    client.query(copyTo(sql)),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        parts.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

describe('COPY TO and binary COPY agree with PostgreSQL 15', () => {
  const names = TYPED.map(([c]) => c);
  before(async () => {
    await table(
      'typed',
      TYPED.map(([c, t]) => [c, t]),
    );
    await client.query(`INSERT INTO typed VALUES
      (1, -32768, 9223372036854775807, E'tab\\there\\nnew "q" \\\\ back, comma', 'ab', 'x', 1234.5, 0.1, 1.5, true,
       '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59', '2024-02-29', '12:34:56.5', '1 year 2 mons -3 days 04:05:06.5',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [1, 2]}', '{"b": 1, "a": [1, 2]}', '\\x00ff', '{1,NULL,3}', '{"a b","",NULL,"\\\\"}'),
      (NULL, NULL, NULL, '', NULL, NULL, 'NaN', '-Infinity', 'NaN', false, 'infinity', NULL, '0044-03-15 BC', '24:00:00', '-00:00:01',
       NULL, 'null', '[]', '\\x', '{}', '{}'),
      (2, 0, 0, E'\\\\.', '', '', -0.001, 1e100, -0, NULL, '1970-01-01 00:00:00+00', NULL, NULL, NULL, '00:00:00',
       NULL, NULL, NULL, NULL, '{5,6}', '{NULL}')`);
  });

  test('text and csv output is byte-identical', async () => {
    const rows = await selectText('typed', names);
    const cases = [
      '',
      '(HEADER)',
      "(DELIMITER '|', NULL 'nil')",
      '(FORMAT csv)',
      '(FORMAT csv, HEADER, FORCE_QUOTE (t, n))',
      "(FORMAT csv, DELIMITER ';', NULL 'NULL', QUOTE '''', ESCAPE '\\')",
      '(FORMAT csv, FORCE_QUOTE *)',
    ];
    for (const opts of cases) {
      const sql = `COPY typed TO STDOUT ${opts}`;
      const stmt = await copyStmt(sql);
      const options = resolveCopyOptions(copyOptionInputs(stmt.options), { from: false, columns: names, relation: 'typed' });
      const w = createCopyWriter({ options, columns: TYPED.map(([name, , typeOid]) => ({ name, typeOid })) });
      const mine = Buffer.concat([w.header() ?? Buffer.alloc(0), ...rows.map((r) => w.row(r))]);
      assert.equal(mine.toString(), (await copyOut(sql)).toString(), sql);
    }
    // One column: `\.` alone on a line is quoted in csv.
    const w = createCopyWriter({
      options: resolveCopyOptions([{ name: 'format', value: 'csv' }], { from: false, columns: ['t'] }),
      columns: [{ name: 't', typeOid: 25 }],
    });
    const single = (await selectText('typed', ['t'])).map((r) => w.row(r));
    assert.equal(Buffer.concat(single).toString(), (await copyOut('COPY typed (t) TO STDOUT (FORMAT csv)')).toString());
  });

  test('binary COPY TO output is byte-identical, and our parser reads PostgreSQL’s', async () => {
    const rows = await selectText('typed', names);
    const columns = TYPED.map(([name, , typeOid]) => ({ name, typeOid }));
    const options = resolveCopyOptions([{ name: 'format', value: 'binary' }], { from: false, columns: names });
    const w = createCopyWriter({ options, columns });
    const mine = Buffer.concat([w.header() as Buffer, ...rows.map((r) => w.row(r)), w.trailer() as Buffer]);
    const pgBinary = await copyOut('COPY typed TO STDOUT (FORMAT binary)');
    assert.equal(mine.toString('hex'), pgBinary.toString('hex'));

    const parser = createCopyParser({ table: 'typed', columns: names, typeOids: columns.map((c) => c.typeOid), options });
    const parsed = [...chunked(pgBinary, [7, 100, 101, 300]).flatMap((c) => parser.push(c)), ...parser.finish()];
    parser.check();
    assert.deepEqual(
      parsed.map((r) => r.values),
      rows.map((r) => r.map((v, i) => (v !== null && TYPED[i]?.[2] === 701 ? String(Number(v)) : v))),
    );
    assert.deepEqual(
      parsed.map((r) => r.line),
      [1, 2, 3],
    );
  });

  test('PostgreSQL reads our binary COPY data', async () => {
    const rows = await selectText('typed', names);
    await client.query('DROP TABLE IF EXISTS typed2; CREATE TABLE typed2 (LIKE typed)');
    const columns = TYPED.map(([name, , typeOid]) => ({ name, typeOid }));
    const w = createCopyWriter({
      options: resolveCopyOptions([{ name: 'format', value: 'binary' }], { from: false, columns: names }),
      columns,
    });
    const data = Buffer.concat([w.header() as Buffer, ...rows.map((r) => w.row(r)), w.trailer() as Buffer]);
    await pipeline(Readable.from(chunked(data, [3, 50])), client.query(copyFrom('COPY typed2 FROM STDIN (FORMAT binary)')));
    assert.deepEqual(await selectText('typed2', names), rows);
  });

  test('binary COPY FROM errors agree', async () => {
    const cols: [string, string][] = [
      ['a', 'int'],
      ['b', 'text'],
    ];
    await table('bt', cols);
    const head = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
    const cases = [
      Buffer.from('PGCOPX\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1'),
      Buffer.concat([head, Buffer.from('0001000000040000000a', 'hex')]),
      Buffer.concat([head, Buffer.from('0002000000040000000a00000003', 'hex')]),
      Buffer.concat([head, Buffer.from('0002000000040000000affffffff00', 'hex')]),
      Buffer.concat([head, Buffer.from('0002000000040000000affffffffffff00', 'hex')]),
      Buffer.concat([head, Buffer.from('00020000000200010000000141', 'hex')]),
      Buffer.concat([head, Buffer.from('0002000000040000000a0000000341004200', 'hex')]),
      Buffer.concat([head, Buffer.from('0002fffffffe', 'hex')]),
      Buffer.from('PGCOPY\n\xff\r\n\0\0\x01\0\0\0\0\0\0\0\0', 'latin1'),
      Buffer.concat([head, Buffer.from('0002000000040000000a00000001410002000000040000000bffffffffffff', 'hex')]),
    ];
    for (const data of cases) {
      await same('bt', cols, 'COPY bt FROM STDIN (FORMAT binary)', data, [12]);
    }
  });
});
