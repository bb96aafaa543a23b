/**
 * Per-table consistency YAML (issue 5 item 1, and the reload part of item 8): `table_consistency`
 * is validated with errors naming the path; `SHOW stratum.consistency` shows what is in force;
 * SIGHUP and `stratum config reload` apply a changed file without a restart; an invalid file is
 * refused and the old config stays in force.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError, parseConfigText } from '@stratum/shared';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const BIN = fileURLToPath(new URL('../bin/stratum.mjs', import.meta.url));
const run = promisify(execFile);

test('table_consistency is validated with errors that name the file, line and path', () => {
  const bad = (yaml: string, re: RegExp) =>
    assert.throws(
      () => parseConfigText(yaml, 'stratum.yaml', {}),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, re);
        return true;
      },
    );
  bad('table_consistency:\n  t:\n    mode: sometimes\n', /stratum\.yaml:3:\d+.*table_consistency\.t\.mode/);
  bad('table_consistency:\n  t:\n    mode: bounded_staleness\n    max_staleness_ms: -5\n', /table_consistency\.t\.max_staleness_ms/);
  bad(
    'table_consistency:\n  t:\n    mode: bounded_staleness\n',
    /table_consistency\.t\.max_staleness_ms.*bounded_staleness needs max_staleness_ms/,
  );
  bad('table_consistency:\n  t:\n    mode: eventual\n    colour: red\n', /table_consistency\.t/);
  const ok = parseConfigText(
    'table_consistency:\n  t: { mode: bounded_staleness, max_staleness_ms: 250, allow_degraded: true }\n',
    'stratum.yaml',
    {},
  );
  assert.deepEqual(ok.table_consistency.t, { mode: 'bounded_staleness', max_staleness_ms: 250, allow_degraded: true });
});

describe('config reload without a restart', { timeout: 120_000 }, () => {
  let dir: string;
  let file: string;
  let server: EmbeddedServer;
  let c: pg.Client;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-reload-'));
    file = join(dir, 'stratum.yaml');
    await writeFile(file, 'table_consistency:\n  orders: { mode: eventual }\n');
    server = await startEmbeddedServer(join(dir, 'data'), ['--config', file]);
    c = new pg.Client({ host: '127.0.0.1', port: server.pgPort, user: 'stratum', database: 'stratum' });
    await c.connect();
    await c.query('CREATE TABLE orders (id bigint PRIMARY KEY, n integer)');
    await c.query('CREATE TABLE items (id bigint PRIMARY KEY)');
  });

  after(async () => {
    await c?.end().catch(() => {});
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  const shown = async () =>
    Object.fromEntries(
      (await c.query('SHOW stratum.consistency')).rows.map((r) => [
        r.table_name,
        `${r.mode}/${r.max_staleness_ms ?? '-'}/${r.allow_degraded}`,
      ]),
    );

  test('SHOW stratum.consistency shows the file; SIGHUP applies a change; stratum config reload too; an invalid file changes nothing', async () => {
    assert.deepEqual(await shown(), { items: 'monotonic_reads/-/off', orders: 'eventual/-/off' });

    await writeFile(
      file,
      'table_consistency:\n  orders: { mode: strict_serializable }\n  items: { mode: bounded_staleness, max_staleness_ms: 500, allow_degraded: true }\n',
    );
    server.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && (await shown()).orders !== 'strict_serializable/-/off'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await shown(), { items: 'bounded_staleness/500/on', orders: 'strict_serializable/-/off' });

    await writeFile(file, 'table_consistency:\n  orders: { mode: monotonic_reads }\n');
    const ok = await run(process.execPath, [BIN, 'config', 'reload', '--http-port', String(server.httpPort)]);
    assert.match(ok.stdout, /reloaded/);
    assert.deepEqual(await shown(), { items: 'monotonic_reads/-/off', orders: 'monotonic_reads/-/off' });

    await writeFile(file, 'table_consistency:\n  orders: { mode: whenever }\n');
    await assert.rejects(
      run(process.execPath, [BIN, 'config', 'reload', '--http-port', String(server.httpPort)]),
      (e: { code?: number; stdout?: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stdout ?? '', /REFUSED: .*stratum\.yaml:2:\d+.*table_consistency\.orders\.mode/);
        return true;
      },
    );
    server.proc.kill('SIGHUP'); // also refused, and logged
    assert.deepEqual(await shown(), { items: 'monotonic_reads/-/off', orders: 'monotonic_reads/-/off' }, 'the old config stays in force');
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the server is up');
  });
});
