/**
 * Test support for the analytical differential test: the OLAP tier's query path without
 * servers — a DuckDB connection with `PG_SEMANTICS_SQL` holding the fixture tables under the
 * OLAP tier's column types, and each statement parsed, rewritten by `rewriteForTier` (views,
 * session functions, PostgreSQL semantics) and deparsed, exactly as the router plans an
 * analytical read — and the same tables in PostgreSQL. Answers are compared as PostgreSQL's
 * text output of each value, with the result type OIDs and the SQLSTATE of an error.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { Catalog, charLength, formatValue, pgTypeOid, StratumError, type TableDef } from '@stratum/shared';
import { convertResult, mapDuckDbError, viewType } from '@stratum/shared/duckdb';
import type { FixtureTable } from '@stratum/shared/testing';
import type pg from 'pg';
import type { SessionValues } from '../analyze/scope.ts';
import { parseFirst } from '../sql/parse.ts';
import { deparse, rewriteForTier } from './duckdb-sql.ts';

/** One side's answer: rows as PostgreSQL's text of each value and the columns' type OIDs, or an error. */
export interface Answer {
  rows?: (string | null)[][];
  oids?: number[];
  code?: string;
  message?: string;
  /** The SQL DuckDB ran (Stratum's side). */
  sql?: string;
}

const SESSION: SessionValues = { user: 'stratum', database: 'stratum', serverVersion: '15.0', setting: () => undefined };

/** A catalog holding the fixture tables (so the rewrite knows their column types). */
export function fixtureCatalog(tables: readonly FixtureTable[]): Catalog {
  const catalog = new Catalog();
  let v = 0;
  for (const t of tables) {
    const def: TableDef = {
      name: t.name,
      columns: t.columns.map((c) => ({
        name: c.name,
        type: c.type,
        notNull: false,
        ...(c.typmod !== undefined ? { typmod: c.typmod } : {}),
      })),
      primaryKey: ['_rowid'],
    };
    def.columns.push({ name: '_rowid', type: 'bigint', notNull: true, hidden: true });
    catalog.apply(++v, { kind: 'create_table', table: def, at: 0 });
  }
  return catalog;
}

/** Create and fill the fixture tables in PostgreSQL and in DuckDB (each column in the type the OLAP tier's views give it). */
export async function loadFixture(client: pg.Client, duck: DuckDBConnection, tables: readonly FixtureTable[]): Promise<void> {
  for (const t of tables) {
    await client.query(`DROP TABLE IF EXISTS ${t.name}`);
    await client.query(`CREATE TABLE ${t.name} (${t.columns.map((c) => `${c.name} ${c.pg}`).join(', ')})`);
    await client.query(`INSERT INTO ${t.name} VALUES ${t.rows.join(', ')}`);
    await duck.run(`CREATE OR REPLACE TABLE ${t.name} (${t.columns.map((c) => `${c.name} ${viewType(c.type, c.typmod)}`).join(', ')})`);
    await duck.run(`INSERT INTO ${t.name} VALUES ${t.rows.join(', ')}`);
    // Unconstrained numerics are PostgreSQL's text of each value, as Stratum's write path stores them.
    for (const c of t.columns) {
      if (!c.type.startsWith('numeric') || !viewType(c.type, c.typmod).startsWith('VARCHAR')) continue;
      const array = c.type.endsWith('[]');
      const r = await client.query<{ id: number; v: string | (string | null)[] | null }>(
        `SELECT id, ${c.name}::${array ? 'text[]' : 'text'} AS v FROM ${t.name}`,
      );
      const quote = (x: string | null) => (x === null ? 'NULL' : `'${x}'`);
      for (const row of r.rows) {
        const v = row.v === null ? 'NULL' : Array.isArray(row.v) ? `CAST([${row.v.map(quote).join(', ')}] AS VARCHAR[])` : quote(row.v);
        await duck.run(`UPDATE ${t.name} SET ${c.name} = ${v} WHERE id = ${row.id}`);
      }
    }
    // char(n) values are stored padded to n, as Stratum's write path stores them.
    for (const c of t.columns) {
      const n = c.type === 'char' ? charLength(c.typmod) : undefined;
      if (n !== undefined) await duck.run(`UPDATE ${t.name} SET ${c.name} = rpad(${c.name}, ${n}, ' ')`);
    }
  }
}

/** PostgreSQL's answer (session: TimeZone UTC, DateStyle ISO, IntervalStyle postgres). */
export async function pgAnswer(client: pg.Client, sql: string): Promise<Answer> {
  try {
    const r = await client.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } });
    return { rows: r.rows as (string | null)[][], oids: r.fields.map((f) => f.dataTypeID) };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'ERROR', message: (e as Error).message };
  }
}

/** The analytical tier's answer: parse, rewriteForTier, deparse, DuckDB, convertResult, text output. */
export async function stratumAnswer(duck: DuckDBConnection, catalog: Catalog, sql: string): Promise<Answer> {
  let text: string | undefined;
  try {
    const stmt = parseFirst(sql);
    if (!stmt) throw new Error(`no statement in ${sql}`);
    text = deparse(rewriteForTier(stmt, catalog, SESSION));
    const res = await convertResult(await duck.run(text));
    const rows = res.rows.map((row) => row.map((v, i) => formatValue(v, res.columns[i]?.type ?? 'text')));
    return { rows, oids: res.columns.map((c) => pgTypeOid(c.type)), sql: text };
  } catch (e) {
    const err = e instanceof StratumError ? e : mapDuckDbError(e);
    return { code: err.code, message: err.message, ...(text !== undefined ? { sql: text } : {}) };
  }
}
