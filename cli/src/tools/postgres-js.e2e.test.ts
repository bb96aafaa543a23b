/**
 * postgres.js (npm `postgres`), which speaks the extended protocol its own way: it pipelines
 * queries on one connection, describes every statement before binding it, fetches array and
 * type OIDs from pg_type at connect (`fetch_types`), and prepares named statements by default.
 * A typical workload (issue 11 item 3): inserts and selects through tagged templates with
 * parameters, a pipelined batch of queries in flight at once, `sql.begin` transactions (one
 * committed, one rolled back by a thrown error, savepoints), arrays both ways (passed as they are, as v4 wants), json and jsonb,
 * dynamic column lists and `sql(obj)` inserts, `unsafe` with parameters, and an error's SQLSTATE.
 *
 * The transcript against Stratum must equal the one against a throw-away PostgreSQL 15 given
 * the same schema. postgres.js runs in this process (it is a library), with its defaults.
 * Normalized: nothing (values are printed as postgres.js returns them; timestamps are given,
 * not defaulted).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { maybeWriteCorpus, npmVersion } from './corpus.ts';
import { type Pair, startPair, type Target } from './pair.ts';

/** The workload against `t`; one transcript line a step. */
async function workload(t: Target): Promise<string[]> {
  const sql = postgres(t.url, { max: 2, onnotice: () => undefined, connect_timeout: 20 });
  const lines: string[] = [];
  const log = (step: string, v: unknown) => lines.push(`${step}: ${JSON.stringify(v)}`);
  try {
    await sql`CREATE TABLE pj_events (
      id serial PRIMARY KEY,
      kind text NOT NULL,
      tags text[] NOT NULL DEFAULT '{}',
      scores integer[],
      payload jsonb,
      raw json,
      at timestamptz NOT NULL
    )`;
    const at = new Date('2024-04-01T10:00:00Z');
    log(
      'insert returning',
      await sql`INSERT INTO pj_events (kind, tags, scores, payload, raw, at)
        VALUES (${'click'}, ${['a', 'b']}, ${[1, 2, 3]}, ${sql.json({ x: 1, y: [true, null] })}, ${'{"b": 1, "a": 2}'}, ${at})
        RETURNING id, kind, tags, scores, payload, raw`,
    );
    const rows = [
      { kind: 'view', tags: ['x'], scores: [5], payload: { n: 2 }, raw: null, at: new Date('2024-04-02T10:00:00Z') },
      { kind: 'view', tags: [], scores: null, payload: null, raw: '[1]', at: new Date('2024-04-03T10:00:00Z') },
    ];
    log(
      'insert sql(objects)',
      (await sql`INSERT INTO pj_events ${sql(rows, 'kind', 'tags', 'scores', 'payload', 'raw', 'at')} RETURNING id`).count,
    );
    const kind = 'view';
    log(
      'select with parameters',
      await sql`SELECT id, kind, tags, scores, payload FROM pj_events WHERE kind = ${kind} AND at >= ${at} ORDER BY id`,
    );
    log('= ANY(array)', await sql`SELECT id FROM pj_events WHERE id = ANY(${[1, 3]}) ORDER BY id`);
    log('array contains', await sql`SELECT id FROM pj_events WHERE tags @> ${['a']} ORDER BY id`);
    log(
      'jsonb operators',
      await sql`SELECT id, payload->>'n' AS n, payload->'y' AS y FROM pj_events WHERE payload IS NOT NULL ORDER BY id`,
    );
    const cols = ['id', 'kind'];
    log('dynamic columns', await sql`SELECT ${sql(cols)} FROM pj_events ORDER BY id DESC LIMIT ${2}`);
    // Pipelined: every query is sent before the first answer is read.
    log(
      'pipelined',
      await Promise.all([1, 2, 3, 4, 5].map((n) => sql`SELECT ${n}::int AS n, count(*)::int AS c FROM pj_events WHERE id <= ${n}`)),
    );
    log(
      'begin commit',
      await sql.begin(async (tx) => {
        await tx`INSERT INTO pj_events (kind, at) VALUES ('tx', ${at})`;
        await tx.savepoint(async (sp) => {
          await sp`INSERT INTO pj_events (kind, at) VALUES ('kept', ${at})`;
        });
        try {
          await tx.savepoint(async (sp) => {
            await sp`INSERT INTO pj_events (kind, at) VALUES ('dropped', ${at})`;
            throw new Error('roll back to the savepoint');
          });
        } catch {
          // the savepoint was rolled back; the block goes on
        }
        return tx`SELECT kind FROM pj_events WHERE kind IN ('tx', 'kept', 'dropped') ORDER BY kind`;
      }),
    );
    try {
      await sql.begin(async (tx) => {
        await tx`INSERT INTO pj_events (kind, at) VALUES ('never', ${at})`;
        throw new Error('roll back');
      });
    } catch (e) {
      log('begin rollback', (e as Error).message);
    }
    log('after rollback', await sql`SELECT count(*)::int AS n FROM pj_events WHERE kind = 'never'`);
    log(
      'unsafe with parameters',
      await sql.unsafe('SELECT kind, count(*)::int AS n FROM pj_events WHERE id > $1 GROUP BY kind ORDER BY kind', [1]),
    );
    log('update count', (await sql`UPDATE pj_events SET scores = ${[9]} WHERE kind = ${'view'}`).count);
    log(
      'schema rows',
      await sql`SELECT c.id, c.email, o.amount, o.tags FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY o.id`,
    );
    try {
      await sql`SELECT * FROM pj_nowhere WHERE id = ${1}`;
    } catch (e) {
      log('error', (e as { code?: string }).code);
    }
    log('delete count', (await sql`DELETE FROM pj_events WHERE kind <> ${'click'}`).count);
    await sql`DROP TABLE pj_events`;
    return lines;
  } catch (e) {
    throw new Error(`postgres.js against ${t.engine} failed after:\n${lines.join('\n')}\n${(e as Error).message}`, { cause: e });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('postgres.js', { timeout: 300_000 }, () => {
  let pair: Pair;
  let expected: string[];
  before(async () => {
    pair = await startPair();
    expected = await workload(pair.postgres);
  });
  after(async () => {
    if (pair === undefined) return;
    maybeWriteCorpus(
      'postgres-js',
      [`postgres ${npmVersion('postgres')} (npm, postgres.js) with its defaults; ran the workload of postgres-js.e2e.test.ts.`],
      await pair.statements(),
    );
    await pair.close();
  });

  test('the workload runs on PostgreSQL 15 (the reference is complete)', () => {
    assert.ok(
      expected.some((l) => l.startsWith('error: ')),
      expected.join('\n'),
    );
  });

  test('the workload gives on Stratum what it gives on PostgreSQL 15', async () => {
    assert.deepEqual(await workload(pair.stratum), expected);
  });
});
