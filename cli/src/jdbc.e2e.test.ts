/**
 * A JDBC client (the PostgreSQL JDBC driver, from Debian's libpostgresql-jdbc-java, run with
 * the machine's Java) against `stratum up`: connection startup, server-prepared statements
 * past prepareThreshold with binary transfer, point and analytical reads, SQLSTATE on errors.
 * Skipped, with the reason, where Java or the driver cannot be had.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const run = promisify(execFile);
const JAR = '/usr/share/java/postgresql.jar';
const SOURCE = fileURLToPath(new URL('./clients/JdbcCheck.java', import.meta.url));

function jdbcUnavailable(): string | undefined {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    return 'java is not installed';
  }
  if (!existsSync(JAR)) {
    try {
      execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpostgresql-jdbc-java'], {
        stdio: 'ignore',
      });
    } catch {
      return `the PostgreSQL JDBC driver (${JAR}) is missing and apt-get could not install libpostgresql-jdbc-java`;
    }
  }
  return existsSync(JAR) ? undefined : `${JAR} is missing`;
}

const why = jdbcUnavailable();

describe('JDBC client', { timeout: 180_000, skip: why ?? false }, () => {
  let dir: string;
  let srv: EmbeddedServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-jdbc-'));
    srv = await startEmbeddedServer(join(dir, 'data'));
  });
  after(async () => {
    await srv?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('connects, writes with prepared statements, reads back, gets SQLSTATEs', async () => {
    const r = await run('java', ['-cp', JAR, SOURCE, String(srv.pgPort)], { timeout: 120_000 });
    const out = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.match(out.server ?? '', /^15\./);
    const points = (out.points ?? '').split(';').filter(Boolean);
    assert.equal(points.length, 12);
    for (let i = 1; i <= 12; i++) {
      const uuid = `00000000-0000-7000-8000-0000000000${String(i).padStart(2, '0')}`;
      const ts = `2024-03-0${1 + (i % 9)} 12:34:56.5`;
      const d = Number.isInteger(i / 4) ? (i / 4).toFixed(1) : String(i / 4); // Java's Double.toString
      assert.equal(points[i - 1], `${i}:${i * 10}:${d}:row ${i}:${i % 2 === 0}:${ts}:${uuid}`);
    }
    const expected = [false, true]
      .map((b) => {
        const ns = Array.from({ length: 12 }, (_, k) => k + 1)
          .filter((i) => i * 10 > 20 && (i % 2 === 0) === b)
          .map((i) => i * 10);
        return `${b}:${ns.length}:${ns.reduce((a, x) => a + x, 0)}`;
      })
      .join(';');
    assert.equal(out.groups, `${expected};`);
    assert.equal(out.error, '42P01');
    assert.equal(out.after_error, '2');
  });
});
