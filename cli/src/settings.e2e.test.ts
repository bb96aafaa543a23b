/**
 * Session settings and introspection (issue 11 item 5) against PostgreSQL 15: each script runs
 * on its own connection to `stratum up` and to a throw-away PostgreSQL 15 (TimeZone UTC, as
 * Stratum's default), through the simple query protocol with text results; every statement's
 * command tag, column names, rows and SQLSTATE must agree. Output of DateStyle, IntervalStyle,
 * TimeZone and extra_float_digits is PostgreSQL's to compute, not written here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const RAW = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

interface Outcome {
  tag?: string;
  names?: string[];
  rows?: unknown[][];
  code?: string;
}

async function runOne(c: pg.Client, sql: string): Promise<Outcome> {
  try {
    const r = await c.query({ text: sql, rowMode: 'array', types: RAW });
    const out: Outcome = { tag: `${r.command ?? ''} ${r.rowCount ?? ''}`.trim() };
    if (r.fields?.length) {
      out.names = r.fields.map((f) => f.name);
      out.rows = r.rows as unknown[][];
    }
    return out;
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'client error' };
  }
}

const TS =
  "SELECT timestamptz '2024-03-10 06:59:59+00', timestamptz '2024-03-31 01:30:00+00', timestamptz '2024-10-27 00:30:00+00', timestamptz '2024-01-01 12:00:00', timestamp '2024-01-01 01:02:03.5', date '2024-03-05'";
const ARITH =
  "SELECT timestamptz '2024-03-09 12:00:00+00' + interval '1 day', timestamptz '2024-10-26 12:00:00+00' + interval '1 day', date_trunc('day', timestamptz '2024-03-10 12:00:00+00'), (timestamptz '2024-07-01 02:00:00+00')::date, (timestamptz '2024-07-01 02:00:00+00')::timestamp, (date '2024-07-01')::timestamptz, (timestamp '2024-03-10 02:30:00')::timestamptz";
const ZONES = ['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', "'+02'", "'-5.5'", "'UTC+3'", "'EST5EDT'"];

/** Scripts: each runs on a fresh connection of both servers. */
const SCRIPTS: { name: string; statements: string[] }[] = [
  {
    name: 'time zones: output, input, arithmetic across DST, casts',
    statements: ZONES.flatMap((z) => [`SET TimeZone = ${z.startsWith("'") ? z : `'${z}'`}`, 'SHOW TimeZone', TS, ARITH]).concat([
      "SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE",
      'SHOW TimeZone',
      TS,
      'SET TIME ZONE 3',
      'SHOW TimeZone',
      TS,
      'SET TIME ZONE LOCAL',
      'SET TimeZone TO DEFAULT',
      'SHOW TimeZone',
      "SET TimeZone = 'Mars/Olympus'",
    ]),
  },
  {
    name: 'DateStyle and IntervalStyle',
    statements: ['ISO', 'SQL', 'Postgres', 'German', 'SQL, DMY', 'Postgres, DMY', 'ISO, YMD', 'DMY', 'German, MDY']
      .flatMap((d) => [`SET DateStyle = '${d}'`, 'SHOW DateStyle', "SET TimeZone = 'Europe/Berlin'", TS, "SET TimeZone = 'UTC'", TS])
      .concat(
        ['postgres', 'postgres_verbose', 'iso_8601', 'sql_standard'].flatMap((s) => [
          `SET IntervalStyle = ${s}`,
          'SHOW IntervalStyle',
          "SELECT interval '1 year 2 mons 3 days 04:05:06.5', interval '-1 year -2 mons', interval '3 days', interval '-04:05:06'",
        ]),
        ["SET IntervalStyle = 'nope'", "SET DateStyle = 'nope'"],
      ),
  },
  {
    name: 'extra_float_digits',
    statements: ['3', '1', '0', '-3', '-15', '4'].flatMap((d) => [
      `SET extra_float_digits = ${d}`,
      'SELECT 0.1::float8, pi(), 1e100::float8, 0.1::float4, (1.0/3)::float4, 123456789.125::float8, -2.5e-8::float8',
    ]),
  },
  {
    name: 'SET / SHOW / RESET with units, unknown and refused parameters',
    statements: [
      "SET statement_timeout = '10s'",
      'SHOW statement_timeout',
      "SET statement_timeout = '10000ms'",
      'SHOW statement_timeout',
      "SET statement_timeout = '1min'",
      "SELECT current_setting('statement_timeout')",
      'SET statement_timeout = 90000',
      'SHOW statement_timeout',
      "SET statement_timeout = '1.5s'",
      'SHOW statement_timeout',
      "SET statement_timeout = '2d'",
      'SHOW statement_timeout',
      "SET statement_timeout = '3 weeks'",
      'SET statement_timeout TO DEFAULT',
      'SHOW statement_timeout',
      "SET SESSION statement_timeout = '1h'",
      'RESET statement_timeout',
      'SHOW statement_timeout',
      'SET foo = 1',
      'SHOW foo',
      'RESET foo',
      "SET myapp.x = 'a'",
      'SHOW myapp.x',
      "SELECT current_setting('myapp.x'), current_setting('nope.y', true)",
      "SELECT current_setting('nope')",
      "SET server_version = '1'",
      "SET shared_buffers = '1GB'",
      "SET application_name = 'tool'",
      'SHOW application_name',
      'SET check_function_bodies = fals',
      'SET row_security = maybe',
      'SET extra_float_digits = 9',
      'RESET ALL',
      'SHOW application_name',
    ],
  },
  {
    name: "pg_dump's and psql's SETs succeed",
    statements: [
      'SET statement_timeout = 0',
      'SET lock_timeout = 0',
      'SET idle_in_transaction_session_timeout = 0',
      "SET client_encoding = 'UTF8'",
      'SET standard_conforming_strings = on',
      "SELECT pg_catalog.set_config('search_path', '', false)",
      'SHOW search_path',
      'SELECT current_schema(), current_schemas(true), current_schemas(false)',
      'SET check_function_bodies = false',
      'SET xmloption = content',
      'SET client_min_messages = warning',
      'SET row_security = off',
      "SET default_tablespace = ''",
      'SET default_table_access_method = heap',
      'SET search_path = public',
      'SELECT current_schema(), current_schemas(true)',
      'SHOW client_min_messages',
      'SHOW standard_conforming_strings',
      'SHOW integer_datetimes',
      'SHOW max_identifier_length',
      'SHOW server_encoding',
      'SHOW lc_collate',
      'SHOW block_size',
    ],
  },
  {
    name: 'SET LOCAL and transactions',
    statements: [
      "SET LOCAL TimeZone = 'Europe/Berlin'",
      'SHOW TimeZone',
      'BEGIN',
      "SET LOCAL TimeZone = 'Europe/Berlin'",
      'SHOW TimeZone',
      'COMMIT',
      'SHOW TimeZone',
      'BEGIN',
      "SET TimeZone = 'Asia/Tokyo'",
      'ROLLBACK',
      'SHOW TimeZone',
      'BEGIN',
      "SET TimeZone = 'Asia/Tokyo'",
      'COMMIT',
      'SHOW TimeZone',
      "SELECT set_config('TimeZone', 'America/New_York', false), timestamptz '2024-01-01 00:00:00+00'",
      "SELECT set_config('extra_float_digits', '0', false), pi()",
    ],
  },
  {
    name: 'session functions',
    statements: [
      "SELECT pg_backend_pid() > 0, txid_current() > 0, pg_postmaster_start_time() < now(), quote_ident('Foo'), pg_encoding_to_char(6), version() LIKE 'PostgreSQL%'",
    ],
  },
];

describe('session settings: Stratum vs PostgreSQL 15', { timeout: 600_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let ref: PostgresHandle;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-settings-'));
    [srv, ref] = await Promise.all([startEmbeddedServer(join(dir, 'data')), startPostgres({ settings: { timezone: 'UTC' } })]);
  });

  after(async () => {
    await srv?.kill();
    await ref?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const script of SCRIPTS) {
    test(script.name, async () => {
      const a = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
      const b = new pg.Client({ host: ref.host, port: ref.port, user: ref.user, database: ref.database });
      await a.connect();
      await b.connect();
      try {
        for (const sql of script.statements) assert.deepEqual(await runOne(a, sql), await runOne(b, sql), `statement: ${sql}`);
      } finally {
        await a.end().catch(() => {});
        await b.end().catch(() => {});
      }
    });
  }

  test('SHOW ALL lists name, setting, description', async () => {
    const a = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await a.connect();
    try {
      const r = await a.query({ text: 'SHOW ALL', rowMode: 'array' });
      assert.deepEqual(
        r.fields.map((f) => f.name),
        ['name', 'setting', 'description'],
      );
      const byName = new Map(r.rows.map((x: string[]) => [x[0], x[1]]));
      assert.equal(byName.get('TimeZone'), 'UTC');
      assert.equal(byName.get('server_version_num'), '150000');
    } finally {
      await a.end();
    }
  });
});
