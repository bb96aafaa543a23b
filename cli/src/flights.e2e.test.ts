/**
 * Point 7 of the pipeline issue, embedded: `stratum load flights --rows 50000` through the
 * write path over pgwire, then every reference analytical query over `flights` and
 * `airports` returns exactly what DuckDB returns over the original files.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { compareAnswers, FLIGHTS_QUERIES, pgAnswers, referenceAnswers } from './flights-queries.ts';
import { type EmbeddedServer, startEmbeddedServer, waitForRows } from './test-harness.ts';

const run = promisify(execFile);
const ROWS = 50_000;
const BIN = fileURLToPath(new URL('../bin/stratum.mjs', import.meta.url));

describe('flights: load 50k rows, answers equal DuckDB on the original files', { timeout: 300_000 }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  let client: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-flights-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
  });
  after(async () => {
    await client?.end().catch(() => {});
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('stratum load flights --rows 50000 reports its rate', async () => {
    const r = await run(process.execPath, [BIN, 'load', 'flights', '--rows', String(ROWS), '--pg-port', String(srv.pgPort)], {
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.match(r.stderr, new RegExp(`loaded ${ROWS} flights \\+ \\d+ airports in [\\d.]+ s \\(\\d+ rows/s\\)`));
  });

  test('every reference query returns exactly what DuckDB returns', async () => {
    client = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    await client.connect();
    await waitForRows(client, ROWS);
    const want = await referenceAnswers(ROWS);
    const got = await pgAnswers(client);
    assert.ok(FLIGHTS_QUERIES.length >= 5);
    for (const q of FLIGHTS_QUERIES) {
      const w = want.get(q.name);
      assert.ok(w && w.length > 0, `reference answer for ${q.name}`);
      assert.deepEqual(compareAnswers(w, got.get(q.name) ?? [], { relTol: q.relTol ?? 0 }), [], q.name);
    }
  });
});
