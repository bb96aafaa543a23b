/**
 * Every column type round-trips through every tier and both wire formats (issue 10, item 4),
 * compared with a throw-away PostgreSQL 15 given the same statements: values written through
 * the TX engine (LevelDB, the bus) are read back by primary key (TX engine), analytically
 * from the ingestion delta, then from Parquet files once pushed, as of a time (ingestion and
 * OLAP), in text and in binary format. Every answer must equal PostgreSQL's.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

/** Raw results (text as printed, binary as bytes): both sides compared as the server sent them. */
const RAW = { getTypeParser: () => (v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v) } as unknown as pg.CustomTypesConfig;

const DDL = `CREATE TABLE vals (
  id int PRIMARY KEY, n numeric, n2 numeric(10,3), v varchar(8), c char(4), t time, iv interval,
  j json, jb jsonb, b bytea, ai int[], at text[], an numeric[], ab bool[], ts timestamptz, d date, u uuid, f float8)`;

const ROWS = [
  `(1, 3.14159, 12.5, 'héllo', 'ab', '13:45:01.5', '1 year 2 mons 3 days 04:05:06.789', '{"b": [1, 2.50], "a": null}', '{"b": [1, 2.50], "a": null, "a": 3}', '\\x00ff10', '{1,2,NULL,-4}', '{"a,b","",NULL,"quo\\"te"}', '{1.10,-2e3}', '{t,f,NULL}', '2026-03-29 01:30:00+01', '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1e300)`,
  `(2, -0.000012300, -9999999.999, '', '', '00:00:00', '-1 days +02:03:00', '[]', '{}', '', '{}', '{}', '{}', '{}', 'infinity', '0001-01-01 BC', '00000000-0000-0000-0000-000000000000', -0.0)`,
  '(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)',
  `(4, 'NaN', 0, 'x', 'wxyz', '24:00:00', '0', '"s"', '12.50', '\\x', '{0}', '{x}', '{NaN}', '{t}', '1970-01-01 00:00:00+00', '1970-01-01', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', 'NaN')`,
];

const COLS = 'id, n, n2, v, c, t, iv, j, jb, b, ai, at, an, ab, ts, d, u, f';

describe('every type through every tier and both wire formats', { timeout: 300_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let ref: PostgresHandle;
  let a: pg.Client;
  let b: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-types-'));
    [srv, ref] = await Promise.all([
      startEmbeddedServer(join(dir, 'data'), [], { ...process.env, STRATUM_INGESTION__PUSH_INTERVAL_MS: '1000' }),
      startPostgres(),
    ]);
    a = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    b = new pg.Client({ host: ref.host, port: ref.port, user: ref.user, database: ref.database });
    await a.connect();
    await b.connect();
    for (const c of [a, b]) {
      await c.query(DDL);
      await c.query(`INSERT INTO vals VALUES ${ROWS.join(', ')}`);
    }
  });

  after(async () => {
    await a?.end().catch(() => {});
    await b?.end().catch(() => {});
    await srv?.kill();
    await ref?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The same query on both servers, text or binary results, compared. */
  const same = async (sql: string, binary = false, label = sql) => {
    const q = { text: sql, rowMode: 'array' as const, types: RAW, binary };
    const [got, want] = await Promise.all([a.query(q), b.query(q)]);
    assert.deepEqual(got.rows, want.rows, `${label}${binary ? ' (binary)' : ''}`);
    assert.deepEqual(
      got.fields.map((f) => [f.name, f.dataTypeID]),
      want.fields.map((f) => [f.name, f.dataTypeID]),
      `${label}: column types`,
    );
  };

  test('point reads by primary key (TX engine), text and binary', async () => {
    for (const id of [1, 2, 3, 4]) {
      await same(`SELECT ${COLS} FROM vals WHERE id = ${id}`);
      await same(`SELECT ${COLS} FROM vals WHERE id = ${id}`, true);
    }
  });

  test('analytical reads from the ingestion delta, text and binary', async () => {
    await same(`SELECT ${COLS} FROM vals ORDER BY id`);
    await same(`SELECT ${COLS} FROM vals ORDER BY id`, true);
  });

  test('analytical reads from Parquet files after a push', async () => {
    const written = Date.now();
    // Wait until the OLAP watermark of the table passes the writes: its rows are in Parquet files then.
    for (let i = 0; ; i++) {
      const st = (await (await fetch(`http://127.0.0.1:${srv.httpPort}/status`)).json()) as {
        tables: { name: string; storage: string }[];
        shards: { watermarks?: Record<string, number> }[];
      };
      const storage = st.tables.find((t) => t.name === 'vals')?.storage ?? '';
      const w = Math.min(...st.shards.map((x) => x.watermarks?.[storage] ?? x.watermarks?.vals ?? -1));
      if (w >= written) break;
      assert.ok(i < 600, 'the rows never reached Parquet');
      await new Promise((r) => setTimeout(r, 100));
    }
    await same(`SELECT ${COLS} FROM vals ORDER BY id`, false, 'from Parquet');
    await same(`SELECT ${COLS} FROM vals ORDER BY id`, true, 'from Parquet');
  });

  test('as of a time: ingestion by key, OLAP otherwise', async () => {
    const now = (await a.query(`SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS.US') AS t`)).rows[0].t as string;
    await new Promise((r) => setTimeout(r, 20));
    await a.query(`UPDATE vals SET v = 'later' WHERE id = 1`);
    await a.query(`SET stratum.as_of = '${now}+00'`);
    try {
      await same(`SELECT ${COLS} FROM vals WHERE id = 1`, false, 'as of, by key');
      await same(`SELECT ${COLS} FROM vals ORDER BY id`, false, 'as of, analytical');
    } finally {
      await a.query('RESET stratum.as_of');
      await a.query(`UPDATE vals SET v = 'héllo' WHERE id = 1`);
    }
  });
});
