/**
 * A full disk: `stratum up` runs on a small tmpfs; writes are inserted until the disk is full.
 * The failing write gets a clear error (SQLSTATE 53100 disk_full or 58030 io_error, naming what
 * failed), the server stays up and keeps answering reads, and after moving the data to a
 * larger disk every acknowledged row is there (nothing stored was corrupted).
 * Needs root to mount a tmpfs; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedServer } from './test-harness.ts';

const root = await mkdtemp(join(tmpdir(), 'stratum-full-'));
const mnt = join(root, 'small');
let why: string | undefined;
try {
  await mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt], { stdio: 'pipe' });
} catch (e) {
  why = `cannot mount a small tmpfs to fill (needs root): ${(e as Error).message.split('\n')[0]}`;
}

describe('disk full', { timeout: 180_000, skip: why ?? false }, () => {
  let srv: EmbeddedServer;
  let c: pg.Client;
  const acked: number[] = [];
  const payload = 'x'.repeat(60_000);

  before(async () => {
    srv = await startEmbeddedServer(join(mnt, 'data'));
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    await c.connect();
    await c.query('CREATE TABLE blobs (id bigint PRIMARY KEY, body text)');
  });
  after(async () => {
    await c?.end().catch(() => {});
    await srv?.kill();
    try {
      execFileSync('umount', ['-l', mnt]);
    } catch {
      // not mounted
    }
    await rm(root, { recursive: true, force: true });
  });

  test('the write that does not fit fails cleanly and the server stays up', async () => {
    let failure: { code?: string; message: string } | undefined;
    for (let i = 0; i < 2000 && !failure; i++) {
      try {
        await c.query('INSERT INTO blobs VALUES ($1, $2)', [i, payload]);
        acked.push(i);
      } catch (e) {
        failure = e as { code?: string; message: string };
      }
    }
    assert.ok(failure, 'the disk never filled up');
    assert.ok(failure.code === '53100' || failure.code === '58030', `${failure.code}: ${failure.message}`);
    assert.match(failure.message, /space|disk|write/i);
    assert.ok(acked.length > 10, `only ${acked.length} rows fitted`);
    // Still up: health, and reads of stored rows.
    assert.equal((await fetch(`http://127.0.0.1:${srv.httpPort}/health`)).status, 200);
    // Point reads (served by the TX engine from its store).
    for (const id of [acked[0]!, acked[acked.length - 1]!]) {
      const r = await c.query('SELECT body FROM blobs WHERE id = $1', [id]);
      assert.equal(r.rows[0]?.body.length, payload.length);
    }
  });

  test('moved to a larger disk, every acknowledged row is intact', async () => {
    await c.end();
    await srv.kill();
    const big = join(root, 'big');
    await cp(join(mnt, 'data'), big, { recursive: true });
    await rm(join(big, 'stratum.lock'), { force: true });
    srv = await startEmbeddedServer(big);
    c = new pg.Client({ host: '127.0.0.1', port: srv.pgPort, user: 'stratum', database: 'stratum' });
    c.on('error', () => {});
    await c.connect();
    for (const id of acked) {
      const r = await c.query('SELECT body FROM blobs WHERE id = $1', [id]);
      assert.equal(r.rows[0]?.body.length, payload.length, `row ${id}`);
    }
    const n = await c.query('SELECT count(*) AS n FROM blobs');
    assert.equal(Number(n.rows[0].n), acked.length);
    // And it takes writes again.
    await c.query('INSERT INTO blobs VALUES ($1, $2)', [99_999, 'after']);
    assert.equal((await c.query('SELECT body FROM blobs WHERE id = 99999')).rows[0]?.body, 'after');
  });
});
