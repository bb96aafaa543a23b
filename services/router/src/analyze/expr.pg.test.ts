/**
 * Differential test of scalar expressions against a throw-away PostgreSQL 15: every case of
 * expr-cases.ts runs as `SELECT <expr>` in PostgreSQL and through compileExpr + bindParams +
 * evaluate; the result text (formatValue), the result type OID and, on error, the SQLSTATE must
 * be equal. Known differences are listed with their reason in expr-cases.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Node } from '@pgsql/types';
import { type EvalContext, evaluate, outputText, pgTypeOid, type ResultType, typeOf } from '@stratum/shared';
import { type PostgresHandle, startPostgres } from '@stratum/shared/testing';
import { loadModule, parseSync } from 'libpg-query';
import pg from 'pg';
import { bindParams, compileExpr, constantScope, finalizeOutput } from './expr.ts';
import { CASES, type ExprCase, KNOWN_DIFFERENCES } from './expr-cases.ts';

interface Outcome {
  text?: string | null;
  oid?: number;
  code?: string;
  message?: string;
}

let server: PostgresHandle;
let client: pg.Client;

before(async () => {
  await loadModule();
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url, options: '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres' });
  await client.connect();
});

after(async () => {
  await client?.end();
  await server?.stop();
});

function normalize(c: ExprCase): { expr: string; params: (string | null)[]; typeOnly: boolean } {
  if (typeof c === 'string') return { expr: c, params: [], typeOnly: false };
  if (Array.isArray(c)) return { expr: c[0], params: c[1], typeOnly: false };
  return { expr: c.expr, params: c.params ?? [], typeOnly: c.typeOnly === true };
}

async function inPostgres(expr: string, params: (string | null)[]): Promise<Outcome> {
  try {
    const r = await client.query({
      text: `SELECT ${expr}`,
      values: params,
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => v },
    });
    const row = r.rows[0] as (string | null)[];
    return { text: row[0] ?? null, oid: r.fields[0]?.dataTypeID as number };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'ERROR', message: (e as Error).message };
  }
}

/** Both sides use one transaction time so now()-like values agree. */
const ctx: EvalContext = { txnTimeUs: 1_700_000_000_123_456n, stmtTimeUs: 1_700_000_000_123_456n, timeZone: 'UTC' };

function inStratum(expr: string, params: (string | null)[]): Outcome {
  try {
    const tree = parseSync(`SELECT ${expr}`) as { stmts: { stmt: { SelectStmt: { targetList: { ResTarget: { val: Node } }[] } } }[] };
    const node = tree.stmts[0]?.stmt.SelectStmt.targetList[0]?.ResTarget.val as Node;
    const scope = constantScope([]);
    let e = finalizeOutput(compileExpr(node, scope), scope);
    e = bindParams(e, params, ctx);
    const t = typeOf(e) as ResultType;
    const v = evaluate(e, { row: {} }, ctx);
    return { text: v === null ? null : outputText(v, t), oid: pgTypeOid(t) };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'JS', message: (e as Error).message };
  }
}

test('scalar expressions equal PostgreSQL 15', async () => {
  const mismatches: string[] = [];
  let total = 0;
  let known = 0;
  for (const [family, cases] of Object.entries(CASES)) {
    for (const c of cases) {
      const { expr, params, typeOnly } = normalize(c);
      total++;
      const want = await inPostgres(expr, params);
      const got = inStratum(expr, params);
      const same =
        want.code !== undefined
          ? got.code === want.code
          : got.code === undefined && got.oid === want.oid && (typeOnly || got.text === want.text);
      if (KNOWN_DIFFERENCES[expr] !== undefined) {
        known++;
        continue;
      }
      if (!same) {
        const show = (o: Outcome): string => (o.code ? `ERROR ${o.code} ${o.message}` : `${JSON.stringify(o.text)} (oid ${o.oid})`);
        mismatches.push(
          `[${family}] ${expr}${params.length ? ` ${JSON.stringify(params)}` : ''}\n    postgres: ${show(want)}\n    stratum:  ${show(got)}`,
        );
      }
    }
  }
  if (mismatches.length) console.log(`${mismatches.length} of ${total} differ:\n${mismatches.join('\n')}`);
  console.log(`${total} expressions, ${known} known differences`);
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${total} expressions differ from PostgreSQL`);
});
