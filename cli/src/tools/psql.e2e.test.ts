/**
 * psql's describe commands and the system catalogs behind them (issue 11 items 1, 2, 3 and 6),
 * against a throw-away PostgreSQL 15 given the same schema (tools/schema.ts):
 *
 * - psql 15 as a real process runs `\d`, `\dt`, `\d customers`, `\d orders`, `\d+ orders`, `\di`,
 *   `\dv`, `\ds`, `\dn`, `\l` and `\du` on both; the output must be the same text. Two
 *   normalizations, both because PostgreSQL has objects Stratum does not: `\l` compares the row of
 *   database `stratum` (PostgreSQL also lists `postgres`, `template0`, `template1`) in unaligned
 *   form, and `\du` the row of role `stratum` (PostgreSQL also lists `postgres`); the role is given
 *   Stratum's attributes on PostgreSQL (every Stratum user is a superuser with every attribute).
 * - Queries over pg_catalog and information_schema of the kind tools send (joins across catalog
 *   relations, reg* casts both ways, catalog functions) give the same rows and column names.
 * - Catalog relations and functions Stratum does not answer fail with 0A000 naming them, the
 *   session stays usable, and writes to a catalog relation are refused without changing anything.
 * - pg_stat_user_tables counts live rows; pg_stat_activity lists the asking session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { HARNESS_APP, libpqEnv, type Pair, runSql, runTool, startPair, type Target } from './pair.ts';

/** Run one psql meta-command (or query) as a real psql process; stdout, or the error text. */
async function psql(t: Target, command: string, unaligned = false): Promise<string> {
  const r = await runTool('psql', ['-X', ...(unaligned ? ['-A'] : []), '-c', command], { env: libpqEnv(t) });
  return r.code === 0 ? r.stdout : `exit ${r.code}: ${r.stderr}`;
}

/** Rows and column names of a query on `t`, every value in text form; or the SQLSTATE it failed with. */
async function rowsOf(t: Target, sql: string): Promise<{ columns: string[]; rows: (string | null)[][] } | { error: string }> {
  const c = new pg.Client({ connectionString: t.url, application_name: HARNESS_APP });
  await c.connect();
  try {
    const r = await c.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } as never });
    return { columns: r.fields.map((f) => f.name), rows: r.rows as (string | null)[][] };
  } catch (e) {
    return { error: `${(e as { code?: string }).code}: ${(e as Error).message}` };
  } finally {
    await c.end();
  }
}

/** Catalog queries of the kind tools send; each must answer as PostgreSQL 15 does. */
const QUERIES: readonly string[] = [
  // pg_catalog relations, joined freely.
  `SELECT c.relname, c.relkind, n.nspname, c.relnatts, c.relhasindex, c.relchecks, c.relpersistence
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY c.relname`,
  `SELECT a.attname, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.atthasdef, a.attidentity
     FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  `SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS def, pg_get_expr(d.adbin, d.adrelid, true) AS pretty
     FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    WHERE d.adrelid IN ('customers'::regclass, 'orders'::regclass) ORDER BY d.adrelid::regclass::text, a.attnum`,
  `SELECT conname, contype, conrelid::regclass AS tbl, confrelid::regclass AS ref, conkey, confkey, confupdtype, confdeltype,
          pg_get_constraintdef(oid) AS def, pg_get_constraintdef(oid, true) AS pretty
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname`,
  `SELECT i.indexrelid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique, i.indisprimary, i.indisvalid, i.indnatts,
          pg_get_indexdef(i.indexrelid) AS def, pg_get_indexdef(i.indexrelid, 1, true) AS col1
     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    ORDER BY i.indexrelid::regclass::text`,
  `SELECT schemaname, tablename, tableowner, hasindexes, hasrules, hastriggers FROM pg_tables WHERE schemaname = 'public' ORDER BY 2`,
  `SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 3`,
  `SELECT viewname, viewowner FROM pg_views WHERE schemaname = 'public' ORDER BY 1`,
  `SELECT sequencename, data_type, start_value, min_value, max_value, increment_by, cycle, cache_size
     FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`,
  `SELECT s.seqrelid::regclass AS seq, s.seqtypid::regtype AS typ, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle
     FROM pg_sequence s ORDER BY s.seqrelid::regclass::text`,
  `SELECT d.objid::regclass AS seq, d.refobjid::regclass AS tbl, d.refobjsubid, d.deptype FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       AND d.objid IN (SELECT oid FROM pg_class WHERE relkind = 'S') ORDER BY d.objid::regclass::text`,
  `SELECT obj_description('customers'::regclass, 'pg_class') AS t, obj_description('orders'::regclass) AS o,
          col_description('customers'::regclass, 1) AS c`,
  `SELECT t.oid, t.typname, t.typlen, t.typtype, t.typcategory, t.typelem, t.typarray, t.typinput::text AS typinput
     FROM pg_type t WHERE t.typname IN ('int4', '_int4', 'text', 'numeric', 'timestamptz', 'bool', 'uuid', 'jsonb', 'varchar') ORDER BY t.oid`,
  `SELECT 'int4'::regtype::oid AS a, 'integer'::regtype AS b, 'character varying'::regtype::oid AS c, 23::regtype AS d,
          'pg_catalog'::regnamespace::oid AS e, 'public'::regnamespace AS f`,
  `SELECT format_type(1043, 204) AS a, format_type(1700, 655366) AS b, format_type(1184, NULL) AS c, format_type(1042, -1) AS d,
          format_type(1007, NULL) AS e, format_type(1114, 3) AS f`,
  `SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'public'`,
  `SELECT pg_catalog.pg_table_is_visible('orders'::regclass) AS a, has_table_privilege('orders', 'SELECT') AS b,
          has_schema_privilege('public', 'USAGE') AS c, pg_encoding_to_char(6) AS d, current_setting('max_identifier_length') AS e,
          quote_ident('Orders') AS f, pg_get_serial_sequence('customers', 'id') AS g, pg_get_serial_sequence('orders', 'id') AS h`,
  `SELECT amname, amtype FROM pg_am WHERE amname IN ('heap', 'btree') ORDER BY 1`,
  `SELECT collname, collprovider FROM pg_collation WHERE oid = 100`,
  `SELECT datname, pg_encoding_to_char(encoding) AS enc, datallowconn, datistemplate FROM pg_database WHERE datname = current_database()`,
  `SELECT rolname, rolsuper, rolcanlogin FROM pg_roles WHERE rolname = current_user`,
  `SELECT count(*) AS n FROM pg_inherits`,
  `SELECT name, setting, unit, vartype, context, enumvals FROM pg_settings
    WHERE name IN ('statement_timeout', 'DateStyle', 'extra_float_digits', 'search_path', 'max_identifier_length',
                   'standard_conforming_strings', 'client_min_messages', 'IntervalStyle') ORDER BY name`,
  `SELECT p.proname, p.pronargs, p.prorettype::regtype AS rettype, p.prokind, p.proretset
     FROM pg_proc p WHERE p.proname IN ('format_type', 'pg_get_expr', 'pg_get_userbyid', 'int4in') ORDER BY 1, 2`,
  `SELECT count(*) AS n FROM pg_trigger WHERE NOT tgisinternal`,
  `SELECT c.relname FROM pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default
      AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1`,
  // information_schema, with PostgreSQL's column names.
  `SELECT * FROM information_schema.schemata WHERE schema_name = 'public'`,
  `SELECT table_catalog, table_schema, table_name, table_type, is_insertable_into, is_typed FROM information_schema.tables
    WHERE table_schema = 'public' ORDER BY table_name`,
  `SELECT table_name, column_name, ordinal_position, column_default, is_nullable, data_type, character_maximum_length,
          numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision, udt_name, is_identity, identity_generation
     FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ('customers', 'orders') ORDER BY table_name, ordinal_position`,
  `SELECT constraint_name, table_name, constraint_type, is_deferrable, initially_deferred, enforced
     FROM information_schema.table_constraints WHERE table_schema = 'public' AND constraint_type <> 'CHECK' ORDER BY constraint_name`,
  `SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint
     FROM information_schema.key_column_usage WHERE table_schema = 'public' ORDER BY constraint_name, ordinal_position`,
  `SELECT constraint_name, unique_constraint_name, match_option, update_rule, delete_rule
     FROM information_schema.referential_constraints WHERE constraint_schema = 'public' ORDER BY 1`,
  `SELECT table_name, column_name, constraint_name FROM information_schema.constraint_column_usage
    WHERE table_schema = 'public' AND constraint_name NOT LIKE '%check' ORDER BY constraint_name, column_name`,
  `SELECT constraint_name, check_clause FROM information_schema.check_constraints
    WHERE constraint_schema = 'public' AND constraint_name NOT LIKE '%not_null' ORDER BY 1`,
  `SELECT sequence_name, data_type, numeric_precision, start_value, minimum_value, maximum_value, increment, cycle_option
     FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY 1`,
  `SELECT table_name, check_option, is_updatable FROM information_schema.views WHERE table_schema = 'public'`,
  `SELECT count(*) AS n FROM information_schema.routines WHERE routine_schema = 'public'`,
];

const COMMANDS = ['\\d', '\\dt', '\\d customers', '\\d orders', '\\d+ orders', '\\di', '\\dv', '\\ds', '\\dn'];

describe('psql and the system catalogs (PostgreSQL 15 gives the same answers)', { timeout: 300_000 }, () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
    // Every Stratum user is a superuser with every role attribute (docs/sql.md "System catalogs").
    await runSql(pair.postgres, ['ALTER ROLE stratum CREATEROLE CREATEDB REPLICATION BYPASSRLS']);
  });
  after(async () => {
    await pair?.close();
  });

  for (const command of COMMANDS) {
    test(`psql ${command} prints what PostgreSQL 15 prints`, async () => {
      const want = await psql(pair.postgres, command);
      assert.ok(want.includes('\n'), `PostgreSQL printed ${want}`);
      assert.equal(await psql(pair.stratum, command), want);
    });
  }

  test('psql \\l and \\du print the database and role rows PostgreSQL 15 prints', async () => {
    for (const [command, name] of [
      ['\\l', 'stratum|'],
      ['\\du', 'stratum|'],
    ] as const) {
      const pick = (out: string) =>
        out
          .split('\n')
          .filter((l, i) => i <= 1 || l.startsWith(name))
          .join('\n');
      const want = pick(await psql(pair.postgres, command, true));
      assert.ok(want.includes(name), `PostgreSQL printed ${want}`);
      assert.equal(pick(await psql(pair.stratum, command, true)), want);
    }
  });

  test('catalog queries of the kind tools send answer as PostgreSQL 15 does', async () => {
    const differ: string[] = [];
    for (const q of QUERIES) {
      const want = await rowsOf(pair.postgres, q);
      assert.ok(!('error' in want), `PostgreSQL failed ${q}: ${'error' in want ? want.error : ''}`);
      const got = await rowsOf(pair.stratum, q);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        differ.push(`${q}\n  postgres: ${JSON.stringify(want)}\n  stratum:  ${JSON.stringify(got)}`);
      }
    }
    assert.deepEqual(differ, [], differ.join('\n\n'));
  });

  test('what the catalogs cannot answer fails with 0A000 naming it; the session stays usable and nothing changes', async () => {
    const c = new pg.Client({ connectionString: pair.stratum.url, application_name: HARNESS_APP });
    await c.connect();
    try {
      const fails = async (sql: string, code: string, names: string) => {
        await assert.rejects(c.query(sql), (e: Error & { code?: string }) => {
          assert.equal(e.code, code, `${sql}: ${e.message}`);
          assert.match(e.message, new RegExp(names), sql);
          return true;
        });
      };
      await fails('SELECT * FROM pg_locks', '0A000', 'pg_catalog\\.pg_locks');
      await fails('SELECT * FROM pg_catalog.pg_stats', '0A000', 'pg_catalog\\.pg_stats');
      await fails("SELECT pg_relation_size('orders')", '0A000', 'pg_relation_size');
      await fails('SELECT relname FROM pg_class c JOIN pg_locks l ON l.relation = c.oid', '0A000', 'pg_locks');
      await fails('SELECT * FROM pg_catalog.pg_no_such_relation', '42P01', 'pg_no_such_relation');
      const before = (await c.query('SELECT count(*)::int AS n FROM pg_class')).rows[0].n;
      await fails("DELETE FROM pg_class WHERE relname = 'orders'", '0A000', 'pg_class');
      await fails("UPDATE pg_catalog.pg_attribute SET attname = 'x'", '0A000', 'pg_attribute');
      await fails('INSERT INTO information_schema.tables (table_name) VALUES (1)', '0A000', 'tables');
      assert.equal((await c.query('SELECT count(*)::int AS n FROM pg_class')).rows[0].n, before);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 3);
    } finally {
      await c.end();
    }
  });

  test('pg_stat_user_tables counts live rows; pg_stat_activity lists the asking session', async () => {
    const c = new pg.Client({ connectionString: pair.stratum.url, application_name: 'catalog-test' });
    await c.connect();
    try {
      await c.query("INSERT INTO customers (email, name) VALUES ('dee@example.com', 'Dee')");
      const counted = (await c.query('SELECT count(*)::bigint AS n FROM customers')).rows[0].n;
      const live = await c.query("SELECT n_live_tup::bigint AS n FROM pg_stat_user_tables WHERE relname = 'customers'");
      assert.equal(live.rows[0].n, counted);
      const me = await c.query('SELECT application_name, state, query FROM pg_stat_activity WHERE pid = pg_backend_pid()');
      assert.equal(me.rows.length, 1);
      assert.equal(me.rows[0].application_name, 'catalog-test');
      assert.equal(me.rows[0].state, 'active');
      assert.match(me.rows[0].query, /pg_stat_activity/);
    } finally {
      await c.end();
    }
  });
});
