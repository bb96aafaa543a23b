/**
 * Column defaults and CHECK constraints printed as PostgreSQL 15 prints them, against a
 * throw-away PostgreSQL 15: each table below is created there, and for every default and CHECK
 * the text of `pg_get_expr(adbin, adrelid[, true])` and `pg_get_constraintdef(oid[, true])` must
 * equal {@link pgExprText} of the expression as Stratum stores it (the parsed expression printed
 * by `deparse`, plan/duckdb-sql.ts).
 *
 * Left out on purpose (pgExprText returns the stored text for them): subqueries, COLLATE, row
 * values, SQL-syntax functions (EXTRACT, SUBSTRING … FROM, TRIM, POSITION, OVERLAY), subscripts,
 * CURRENT_USER & co. inside operators (type name), and `DEFAULT NULL` (PostgreSQL stores no
 * default for it).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ColumnDef, Constraint, CreateStmt, Node } from '@pgsql/types';
import { resolveTypeName, type SqlType } from '@stratum/shared';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import { loadModule, parseSync } from 'libpg-query';
import pg from 'pg';
import { nodeOf, strOf } from '../analyze/ast.ts';
import { deparse } from '../plan/duckdb-sql.ts';
import { pgExprText, pgViewDefText } from './ruleutils.ts';

/** Tables with defaults and CHECK constraints over the column types Stratum has. */
const TABLES = [
  // Constants of each type, coerced to the column's type.
  "CREATE TABLE d1 (a text DEFAULT 'new', b integer DEFAULT 0, c bigint DEFAULT 1, d smallint DEFAULT 1, e numeric(10,2) DEFAULT 0)",
  "CREATE TABLE d2 (a varchar(10) DEFAULT 'x', b char(3) DEFAULT 'ab', c boolean DEFAULT true, d boolean DEFAULT 'f', e numeric DEFAULT 1.5)",
  'CREATE TABLE d3 (a integer DEFAULT -1, b bigint DEFAULT -1, c numeric DEFAULT -1.5, d double precision DEFAULT 0, e real DEFAULT 1.5)',
  "CREATE TABLE d4 (a bigint DEFAULT 10000000000, b numeric DEFAULT 10000000000000000000000, c integer DEFAULT '5', d numeric DEFAULT '7')",
  "CREATE TABLE d5 (a timestamp DEFAULT '2024-01-01', b date DEFAULT '2024-02-03', c time DEFAULT '10:00', d interval DEFAULT '1 day', e timestamptz DEFAULT '2024-01-01 00:00:00+00')",
  "CREATE TABLE d6 (a integer[] DEFAULT '{}', b text[] DEFAULT '{a,b}', c jsonb DEFAULT '{}', d json DEFAULT '[]', e uuid DEFAULT '00000000-0000-0000-0000-000000000000')",
  "CREATE TABLE d7 (a bytea DEFAULT '\\x00', b text DEFAULT 'it''s', c text DEFAULT '', d varchar DEFAULT 'v', e double precision DEFAULT 2.5)",
  'CREATE TABLE d8 (a jsonb DEFAULT \'{"b": 1, "a": [1, 2]}\', b numeric(5,1) DEFAULT 1.25, c real DEFAULT \'1e3\', d numeric DEFAULT 1e3, e integer DEFAULT 2147483647)',
  // Typed constants and explicit casts.
  "CREATE TABLE d9 (a timestamp DEFAULT '2024-01-01'::timestamp, b text DEFAULT 'x'::text, c varchar(10) DEFAULT 'abc'::varchar, d numeric DEFAULT '1.5'::numeric(10,2), e bigint DEFAULT 1::bigint)",
  "CREATE TABLE d10 (a text DEFAULT 5::text, b integer DEFAULT '12'::integer, c text DEFAULT 'x'::varchar(3), d numeric DEFAULT 1::numeric(10,2), e date DEFAULT '2024-01-01'::date)",
  "CREATE TABLE d11 (a integer[] DEFAULT ARRAY[1, 2], b text[] DEFAULT ARRAY['a', 'b'], c bigint[] DEFAULT ARRAY[1, 2]::bigint[], d text[] DEFAULT ARRAY[]::text[], e integer[] DEFAULT '{1,2}'::integer[])",
  "CREATE TABLE d12 (a jsonb DEFAULT '{}'::jsonb, b interval DEFAULT '2 hours'::interval, c timestamptz DEFAULT 'infinity'::timestamptz, d boolean DEFAULT 'yes'::boolean, e char(2) DEFAULT 'a'::char(2))",
  // Functions and SQL value functions.
  'CREATE TABLE f1 (a timestamptz DEFAULT now(), b timestamp DEFAULT now(), c date DEFAULT now(), d uuid DEFAULT gen_random_uuid(), e double precision DEFAULT random())',
  'CREATE TABLE f2 (a timestamptz DEFAULT CURRENT_TIMESTAMP, b date DEFAULT CURRENT_DATE, c text DEFAULT CURRENT_USER, d timestamp DEFAULT LOCALTIMESTAMP, e timestamptz DEFAULT CURRENT_TIMESTAMP(3))',
  "CREATE TABLE f3 (a text DEFAULT upper('x'), b integer DEFAULT length('abc'), c text DEFAULT lower('ABC'), d timestamptz DEFAULT date_trunc('day', now()), e text DEFAULT md5('x'))",
  'CREATE SEQUENCE orders_id_seq',
  "CREATE TABLE f4 (a bigint DEFAULT nextval('orders_id_seq'), b integer DEFAULT nextval('orders_id_seq'::regclass), c bigserial, d serial)",
  "CREATE TABLE f5 (a text DEFAULT 'a' || 'b', b timestamptz DEFAULT now() + '1 day', c date DEFAULT CURRENT_DATE + 7, d varchar(20) DEFAULT upper('x'), e text DEFAULT concat('a', 1))",
  "CREATE TABLE f6 (a text DEFAULT replace('abc', 'b', 'c'), b text DEFAULT \"left\"('abc', 2), c numeric DEFAULT round(1.234, 2), d integer DEFAULT abs(-3), e text DEFAULT coalesce(NULL, 'z'))",
  // Arithmetic and expressions.
  'CREATE TABLE e1 (a integer DEFAULT (1 + 2), b bigint DEFAULT 1 + 2, c numeric DEFAULT 2 * 3.5, d integer DEFAULT 10 / 3 - 1, e integer DEFAULT -(1 + 2))',
  'CREATE TABLE e2 (a integer DEFAULT 1 + 2 * 3, b integer DEFAULT (1 + 2) * 3, c integer DEFAULT 1 - (2 - 3), d integer DEFAULT 1 - 2 - 3, e integer DEFAULT 7 % 3)',
  "CREATE TABLE e3 (a text DEFAULT CASE WHEN true THEN 'a' ELSE 'b' END, b integer DEFAULT CASE WHEN 1 > 0 THEN 1 END, c integer DEFAULT greatest(1, 2), d numeric DEFAULT least(1, 2.5), e integer DEFAULT nullif(1, 2))",
  // CHECK constraints: comparisons and implicit casts.
  'CREATE TABLE c1 (price numeric(10,2) CHECK (price > 0), qty integer CHECK (qty >= 0), total numeric CHECK (total >= 0.5), r real CHECK (r > 0.5), d double precision CHECK (d <> 0))',
  "CREATE TABLE c2 (status text CHECK (status IN ('new', 'paid')), v varchar(10) CHECK (v IN ('a', 'b')), c char(1) CHECK (c IN ('x', 'y')), n integer CHECK (n IN (1, 2, 3)), m numeric CHECK (m IN (1, 2.5)))",
  "CREATE TABLE c3 (status text CHECK (status NOT IN ('x', 'y')), v varchar(5) CHECK (v = 'a'), w varchar CHECK (w <> ''), n integer CHECK (n NOT IN (0)), s text CHECK (s IN ('one')))",
  'CREATE TABLE c4 (a integer, b integer, CHECK (a < b), CHECK (a IN (b, 1, 2)), CHECK (a NOT IN (b, 1)), CHECK (a IN (1, b)))',
  "CREATE TABLE c5 (a integer CHECK (a BETWEEN 1 AND 10), b integer CHECK (b NOT BETWEEN 1 AND 10), c numeric CHECK (c BETWEEN 0 AND 1.5), d date CHECK (d BETWEEN '2020-01-01' AND '2030-01-01'))",
  "CREATE TABLE c6 (a integer, b text, CHECK (a > 0 AND b IS NOT NULL), CHECK (a IS NULL OR a > 0), CHECK (NOT (a = 1)), CHECK ((a > 0 OR a < -10) AND b <> ''), CHECK (a > 0 AND a < 10 AND a <> 5))",
  "CREATE TABLE c7 (name text CHECK (name LIKE 'a%'), n2 text CHECK (n2 NOT LIKE '%x'), n3 text CHECK (n3 ILIKE 'A%'), n4 varchar(20) CHECK (n4 LIKE 'b%'), n5 text CHECK (n5 ~ '^[a-z]+$'))",
  "CREATE TABLE c8 (name text CHECK (length(name) > 0), n2 varchar(20) CHECK (length(n2) <= 10), n3 text CHECK (char_length(n3) < 5), n4 text CHECK (lower(n4) = n4), n5 text CHECK (btrim(n5) <> ''))",
  'CREATE TABLE c9 (a integer, b integer, c integer, CHECK (a + b > c), CHECK (a * 2 < b - 1), CHECK ((a + b) * c > 0), CHECK (a - (b - c) >= 0), CHECK (a / 2 + b % 3 = c))',
  'CREATE TABLE c10 (a integer CHECK (a > 1.5), b smallint CHECK (b > 0), c bigint CHECK (c > 1), d smallint CHECK (d + 1 > 0), e bigint CHECK (e > 10000000000))',
  "CREATE TABLE c11 (a text, b text, CHECK (a || b <> ''), CHECK (a || 'x' = b), CHECK (a || 1 <> b), CHECK (coalesce(a, '') <> ''), CHECK (coalesce(a, b) IS NOT NULL))",
  'CREATE TABLE c12 (a integer, CHECK (CASE WHEN a > 0 THEN true ELSE false END), CHECK (CASE a WHEN 1 THEN true WHEN 2 THEN false END), CHECK ((CASE WHEN a > 0 THEN 1 ELSE 0 END) = 1))',
  "CREATE TABLE c13 (d date CHECK (d > '2020-01-01'), t timestamp CHECK (t < now()), tz timestamptz CHECK (tz > '2020-01-01'::timestamptz), i interval CHECK (i > '0'), dd date CHECK (dd <= CURRENT_DATE))",
  'CREATE TABLE c14 (a boolean CHECK (a), b boolean CHECK (NOT b), c boolean CHECK (c IS TRUE), d boolean CHECK (d IS NOT FALSE), e boolean CHECK (e = true))',
  'CREATE TABLE c15 (a integer, b integer, CHECK (a IS DISTINCT FROM b), CHECK (a IS NOT DISTINCT FROM b), CHECK (nullif(a, 0) > 1), CHECK (greatest(a, b) < 100), CHECK (a = ANY (ARRAY[1, 2])))',
  "CREATE TABLE c16 (a integer[] CHECK (array_length(a, 1) > 0), b text[] CHECK (b <> '{}'), c integer[] CHECK (a @> ARRAY[1]), d jsonb CHECK (d ? 'k'), e jsonb CHECK (e ->> 'k' <> ''))",
  "CREATE TABLE c17 (a numeric(10,2), b integer, CHECK (a > b), CHECK (a * b > 0), CHECK (a::integer > 0), CHECK (b::numeric > 0.5), CHECK (b::text <> ''))",
  "CREATE TABLE c18 (a text, b varchar(10), CHECK (a = b), CHECK (b || a <> ''), CHECK (upper(b) = b), CHECK (b::text = 'x'), CHECK (a::varchar(3) = 'x'))",
  'CREATE TABLE c19 (a integer CHECK (a > 0) NOT NULL, "Mixed" integer CHECK ("Mixed" > 0), "select" integer CHECK ("select" > 0), b integer CHECK (- b < 0), c integer CHECK (@ c < 5))',
  'CREATE TABLE c20 (a real, b double precision, c smallint, CHECK (a > 0), CHECK (b > 1.5), CHECK (c BETWEEN 1 AND 5), CHECK (a + b > 0), CHECK (c * 2 > 1))',
  "CREATE TABLE c21 (u uuid CHECK (u <> '00000000-0000-0000-0000-000000000000'), j json CHECK (j::text <> ''), by bytea CHECK (length(by) > 0), ch char(5) CHECK (ch <> 'x'), t time CHECK (t > '08:00'))",
  'CREATE TABLE c22 (a integer, b integer, CHECK (a BETWEEN SYMMETRIC 1 AND 10), CHECK (a NOT BETWEEN b AND 10), CHECK (a > 0 OR b > 0 OR a IS NULL), CHECK (NOT (a > 0 AND b > 0)))',
  "CREATE TABLE c23 (s text CHECK (s SIMILAR TO 'a%'), t text CHECK (t !~ 'x'), u text CHECK (u ~* 'y'), v text CHECK (u NOT ILIKE 'z'), w text CHECK (w IN ('a', 'b', 'c', 'd')))",
  // More of what schemas commonly hold.
  'CREATE TABLE g1 (a numeric(10,2) DEFAULT 0.00, b numeric(10,2) DEFAULT 100.0, c double precision DEFAULT 1, d boolean DEFAULT false, e real DEFAULT -0.5)',
  "CREATE TABLE g2 (a text DEFAULT to_char(now(), 'YYYY'), b integer DEFAULT (random() * 100)::integer, c double precision DEFAULT floor(random() * 10), d integer[] DEFAULT array[]::integer[], e varchar[] DEFAULT ARRAY['a']::varchar[])",
  "CREATE TABLE g3 (a varchar(5) DEFAULT 'a'::character varying, b text DEFAULT ''::text, c jsonb DEFAULT '[]'::jsonb, d timestamp DEFAULT timestamp '2024-01-01 10:00', e interval DEFAULT interval '90 minutes')",
  "CREATE TABLE g4 (a timestamptz DEFAULT now() - interval '1 day', b date DEFAULT CURRENT_DATE - 1, c text DEFAULT 'x'::text || 'y', d text DEFAULT 'a\\b', e text DEFAULT E'tab\\there')",
  "CREATE TABLE g5 (a integer DEFAULT CASE WHEN random() > 0.5 THEN 1 ELSE CASE WHEN random() > 0.1 THEN 2 END END, b text DEFAULT CASE 1 WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END, c numeric DEFAULT coalesce(NULL, 0), d integer DEFAULT 1 + CASE WHEN true THEN 1 ELSE 2 END)",
  "CREATE TABLE g6 (a bigint DEFAULT 0, b text DEFAULT 'new'::text, c smallint DEFAULT -1, d numeric(12,4) DEFAULT -1.5, e char(1) DEFAULT 'N')",
  "CREATE TABLE h1 (s text, v varchar(10), CHECK (s = ANY (ARRAY['a', 'b'])), CHECK (v = ANY (ARRAY['a', 'b']::varchar[])), CHECK (s <> ALL (ARRAY['x'])), CHECK (v IN ('a', 'b') OR v IS NULL), CHECK (v IN (s, 'a', 'b')))",
  'CREATE TABLE h2 (a numeric, b numeric(5,2), CHECK (coalesce(a, 0) >= 0), CHECK (b BETWEEN 0 AND 100), CHECK (a >= 0::numeric), CHECK (a + b * 2 > 1), CHECK (round(a, 2) = a))',
  "CREATE TABLE h3 (code char(3), email text, CHECK (code ~ '^[A-Z]{3}$'), CHECK (char_length(code) = 3), CHECK (email ~* '^[^@]+@[^@]+$'), CHECK (email LIKE '%@%' AND length(email) < 255), CHECK (code IN ('ABC', 'DEF')))",
  "CREATE TABLE h4 (start_date date, end_date date, s timestamp, e timestamp, CHECK (start_date < end_date), CHECK (e > s + interval '1 hour'), CHECK (end_date - start_date <= 30), CHECK (s::date = start_date), CHECK (e - s < '1 day'))",
  "CREATE TABLE h5 (d jsonb, j json, CHECK (jsonb_typeof(d) = 'object'), CHECK (d -> 'a' IS NOT NULL), CHECK (d @> '{\"a\": 1}'), CHECK (j ->> 'k' IS NULL), CHECK (d ? 'x' OR d ? 'y'))",
  'CREATE TABLE h6 (a integer, b boolean, CHECK (a <> ALL (ARRAY[1, 2])), CHECK (NOT a IS NULL), CHECK (b IS UNKNOWN), CHECK (b IS NOT TRUE OR a > 0), CHECK ((a > 0) = b))',
  "CREATE TABLE h7 (a integer, b integer, CHECK (CASE WHEN a > 0 THEN b > 0 WHEN a < 0 THEN b < 0 ELSE b = 0 END), CHECK (a + coalesce(b, 0) > 0), CHECK ((a + b)::text <> ''), CHECK (abs(a - b) < 10), CHECK (a % 2 = 0 AND b % 2 = 1))",
  "CREATE TABLE h8 (a text, b text, CHECK (a <> b), CHECK (a < b), CHECK (a || '-' || b <> '-'), CHECK (upper(a) || lower(b) <> ''), CHECK (a IN ('x') AND b NOT IN ('y', 'z')))",
  'CREATE TABLE h9 (a smallint, b bigint, c integer, CHECK (a < b), CHECK (a + c > b), CHECK (b * 2 > c), CHECK (a::bigint = b), CHECK (c::smallint > 0))',
  'CREATE TABLE h10 (a integer, b integer, CHECK (a > 0 AND (b > 0 OR b IS NULL)), CHECK (NOT (a > 0 OR b > 0)), CHECK (NOT a > 0), CHECK (a > 0 AND NOT b > 0), CHECK ((a > 0) IS TRUE))',
  "CREATE TABLE h11 (ts timestamptz, d date, CHECK (ts > CURRENT_TIMESTAMP - interval '1 year'), CHECK (d >= CURRENT_DATE - 365), CHECK (date_trunc('day', ts) = ts), CHECK (ts < 'infinity'), CHECK (d <> 'epoch'))",
  "CREATE TABLE h12 (a integer[], b text[], CHECK (cardinality(a) < 10), CHECK (array_length(b, 1) IS NULL OR array_length(b, 1) > 0), CHECK (a && ARRAY[1, 2]), CHECK (b <@ ARRAY['x', 'y']), CHECK (1 = ANY (a)))",
  "CREATE TABLE k1 (a timestamptz DEFAULT pg_catalog.now(), b smallint DEFAULT (1)::smallint, c real DEFAULT 1.5::real, d char(4) DEFAULT 'abc'::bpchar, e integer DEFAULT -2147483648)",
  "CREATE TABLE k2 (a numeric[] DEFAULT ARRAY[1.5, 2], b integer[] DEFAULT ARRAY[NULL::integer], c char(3) DEFAULT '   ', d text DEFAULT 'a''b', e numeric DEFAULT 1e2)",
  'CREATE TABLE k3 (a integer, b integer, c boolean, CHECK (a > 0 AND b > 0 OR c), CHECK (-a + b > 0), CHECK (a - -1 > b * -1), CHECK (a::text::integer > 0), CHECK (a = 1 OR a = 2))',
  "CREATE TABLE k4 (a text, b text, CHECK ((a || b)::varchar(5) <> ''), CHECK (length(a || b) > 0), CHECK (a = lower(a) AND a <> ''), CHECK (a !~~ '%''%'), CHECK (a IS NOT NULL AND a <> ''))",
  "CREATE TABLE k5 (d date, t timestamp, b boolean, j json, p numeric(5,2), CHECK (d > now()), CHECK (t > '2020-01-01'::date), CHECK (b = 'yes'), CHECK (j::jsonb ? 'a'), CHECK (p >= 0 AND p <= 100))",
  'CREATE TABLE k6 ("Tag" text, n integer, CHECK ("Tag" IN (\'A\', \'B\')), CHECK (n IN (1)), CHECK (n BETWEEN -1 AND 1), CHECK (n > 0.0), CHECK (n::numeric(5,1) > 1e2))',
  "CREATE TABLE k7 (a integer, b text, CHECK (CASE WHEN a > 0 THEN CASE WHEN b = 'x' THEN true ELSE false END ELSE a IS NULL END), CHECK (a > 0 AND CASE WHEN b IS NULL THEN true ELSE b <> '' END), CHECK (coalesce(a, 0) + 1 > 0))",
  "CREATE TABLE k8 (a varchar(10), b varchar(10), c text, CHECK (a = b), CHECK (a < b), CHECK (a || b = c), CHECK (coalesce(a, b) <> ''), CHECK (a IN (b, c)))",
  'CREATE TABLE k9 (a integer DEFAULT 1 + 1, b integer DEFAULT -1 * 2, c bigint DEFAULT 2 ^ 3, d numeric DEFAULT 10 / 4.0, e double precision DEFAULT 1.5 * 2)',
];

let server: PostgresHandle;
let client: pg.Client;

before(async () => {
  await loadModule();
  server = await startPostgres({ settings: { TimeZone: 'UTC' } });
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
  for (const s of TABLES) await client.query(s);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

/** A column's Stratum type and atttypmod from its TypeName (serial types as their integer types). */
function columnType(cd: ColumnDef): { type: SqlType; typmod?: number } {
  const tn = cd.typeName;
  const names = (tn?.names ?? []).map((x) => strOf(x) ?? '');
  const name = names[names.length - 1] ?? '';
  const base = ({ serial: 'integer', bigserial: 'bigint' } as Record<string, SqlType>)[name] ?? resolveTypeName(name);
  assert.ok(base, `type ${name}`);
  const type = tn?.arrayBounds?.length ? (`${base}[]` as SqlType) : base;
  const mods = (tn?.typmods ?? []).map((m) => Number(nodeOf(m, 'A_Const')?.ival?.ival ?? 0));
  if (mods.length === 0) return { type };
  const [p = 0, s = 0] = mods;
  return { type, typmod: base === 'numeric' ? ((p << 16) | s) + 4 : base === 'varchar' || base === 'char' ? p + 4 : p };
}

test('defaults and CHECK constraints print as PostgreSQL 15 prints them', async () => {
  const mismatches: string[] = [];
  let checked = 0;
  for (const sql of TABLES) {
    const stmt = nodeOf(parseSync(sql).stmts?.[0]?.stmt, 'CreateStmt') as CreateStmt | undefined;
    if (!stmt) continue;
    const table = stmt.relation?.relname ?? '';
    const columns = new Map<string, { type: SqlType; typmod?: number }>();
    const defaults: { column: string; expr: Node }[] = [];
    const checks: Node[] = [];
    const constraint = (c: Constraint, column?: string): void => {
      if (c.contype === 'CONSTR_DEFAULT' && c.raw_expr && column) defaults.push({ column, expr: c.raw_expr });
      if (c.contype === 'CONSTR_CHECK' && c.raw_expr) checks.push(c.raw_expr);
    };
    for (const el of stmt.tableElts ?? []) {
      const cd = nodeOf(el, 'ColumnDef');
      if (cd) {
        columns.set(cd.colname ?? '', columnType(cd));
        for (const c of cd.constraints ?? []) constraint(nodeOf(c, 'Constraint') as Constraint, cd.colname);
        const tn = (cd.typeName?.names ?? []).map((x) => strOf(x)).pop();
        if (tn === 'serial' || tn === 'bigserial')
          defaults.push({ column: cd.colname ?? '', expr: parseTarget(`nextval('${table}_${cd.colname}_seq'::regclass)`) });
      }
      const c = nodeOf(el, 'Constraint');
      if (c) constraint(c);
    }
    const rel = `public.${table}`;
    const d = await client.query(
      `SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS plain, pg_get_expr(d.adbin, d.adrelid, true) AS pretty
         FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = $1::regclass`,
      [rel],
    );
    const byColumn = new Map(d.rows.map((r) => [r.attname as string, r as { plain: string; pretty: string }]));
    assert.equal(byColumn.size, defaults.length, `defaults of ${table}`);
    for (const { column, expr } of defaults) {
      const stored = deparse(expr);
      const want = byColumn.get(column);
      const target = columns.get(column);
      for (const pretty of [false, true]) {
        checked++;
        const got = pgExprText(stored, columns, { pretty, context: 'default' }, target);
        const w = pretty ? want?.pretty : want?.plain;
        if (got !== w) mismatches.push(`${table}.${column} default ${stored} (pretty ${pretty}): PostgreSQL ${w}, Stratum ${got}`);
      }
    }
    const c = await client.query(
      `SELECT pg_get_constraintdef(oid) AS plain, pg_get_constraintdef(oid, true) AS pretty
         FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY oid`,
      [rel],
    );
    assert.equal(c.rows.length, checks.length, `checks of ${table}`);
    for (const [i, expr] of checks.entries()) {
      const stored = deparse(expr);
      const row = c.rows[i] as { plain: string; pretty: string };
      for (const pretty of [false, true]) {
        checked++;
        const got = `CHECK (${pgExprText(stored, columns, { pretty, context: 'check' })})`;
        const w = pretty ? row.pretty : row.plain;
        if (got !== w) mismatches.push(`${table} ${stored} (pretty ${pretty}): PostgreSQL ${w}, Stratum ${got}`);
      }
    }
  }
  assert.ok(checked >= 690, `checked ${checked} texts`);
  assert.deepEqual(mismatches, []);
});

test('what cannot be printed faithfully comes back as stored', () => {
  const columns = new Map<string, { type: SqlType }>([['a', { type: 'integer' }]]);
  const cases = [
    'a > (SELECT 1)',
    'EXTRACT(YEAR FROM now()) > 2000',
    "substring('abc' FROM 1 FOR 2) <> ''",
    "TRIM(BOTH FROM ' x ') <> ''",
    'b > 0',
    'a >',
    "'x' COLLATE \"C\" = 'x'",
    "CURRENT_USER = 'x'",
  ];
  for (const sql of cases) {
    assert.equal(pgExprText(sql, columns, { pretty: false, context: 'check' }), sql);
  }
});

/** Views over the tables above: plain SELECTs, joins, and what is printed as stored. */
const VIEWS = [
  'CREATE VIEW v1 AS SELECT a, b FROM d1',
  'CREATE VIEW v2 AS SELECT x.price, x.qty * 2 AS dbl FROM c1 x WHERE x.price > 100 AND x.qty <> 0',
  "CREATE VIEW v3 AS SELECT s.status, n.name FROM c2 s JOIN c7 n ON n.name = s.status LEFT JOIN c8 m ON m.name = n.name WHERE s.v IN ('a', 'b')",
  'CREATE VIEW v4 AS SELECT p.a AS first, q.b FROM c4 p RIGHT JOIN c4 q ON p.a = q.b',
  "CREATE VIEW v5 AS SELECT status || '!' AS loud, length(status) FROM c2",
];

test('view queries print as PostgreSQL 15 pg_get_viewdef prints them', async () => {
  const tables = new Map<string, Map<string, { type: SqlType; typmod?: number }>>();
  for (const sql of TABLES) {
    const stmt = nodeOf(parseSync(sql).stmts?.[0]?.stmt, 'CreateStmt') as CreateStmt | undefined;
    if (!stmt) continue;
    const cols = new Map<string, { type: SqlType; typmod?: number }>();
    for (const el of stmt.tableElts ?? []) {
      const cd = nodeOf(el, 'ColumnDef');
      if (cd) cols.set(cd.colname ?? '', columnType(cd));
    }
    tables.set(stmt.relation?.relname ?? '', cols);
  }
  const mismatches: string[] = [];
  for (const sql of VIEWS) {
    await client.query(sql);
    const view = nodeOf(parseSync(sql).stmts?.[0]?.stmt, 'ViewStmt');
    assert.ok(view?.query);
    const r = await client.query('SELECT pg_get_viewdef($1::regclass) AS def', [view.view?.relname]);
    const got = pgViewDefText(deparse(view.query), (name) => tables.get(name));
    if (got !== r.rows[0].def) mismatches.push(`${sql}:\nPostgreSQL ${JSON.stringify(r.rows[0].def)}\nStratum    ${JSON.stringify(got)}`);
  }
  assert.deepEqual(mismatches, []);
});

function parseTarget(expr: string): Node {
  const sel = nodeOf(parseSync(`SELECT ${expr}`).stmts?.[0]?.stmt, 'SelectStmt');
  const val = nodeOf(sel?.targetList?.[0], 'ResTarget')?.val;
  assert.ok(val);
  return val;
}
