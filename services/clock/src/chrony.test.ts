/**
 * chrony exporter against a real `chronyd -x` (no control of the system clock) with a local
 * reference, in a temporary directory with its own command socket: the clock service's
 * /metrics carries the tracking fields chronyc reports, and a chronyd that goes away turns
 * `stratum_chrony_up` to 0 without taking the service down. Skipped (with the reason) where
 * chronyd is not installed; `npm test` installs Debian's chrony package when missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rootLogger } from '@stratum/shared';
import { parseTracking, readTracking } from './chrony.ts';
import { type ClockService, startClockService } from './index.ts';

const SAMPLE = '7F7F0101,,8,1795323800.140697035,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal';

/** Path of a binary on PATH or in /usr/sbin (root's PATH may lack it), or undefined. */
function which(bin: string): string | undefined {
  try {
    return (
      execFileSync('sh', ['-c', `command -v ${bin} || { test -x /usr/sbin/${bin} && echo /usr/sbin/${bin}; }`])
        .toString()
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

test('parses chrony 4 tracking CSV and names the field of a malformed line', () => {
  const t = parseTracking(SAMPLE);
  assert.equal(t.refId, '7F7F0101');
  assert.equal(t.stratum, 8);
  assert.equal(t.leapStatus, 'Normal');
  assert.throws(() => parseTracking(SAMPLE.split(',').slice(0, 13).join(',')), /expected 14 CSV fields/);
  assert.throws(() => parseTracking(SAMPLE.replace(',8,', ',x,')), /field 3 \(stratum\) is not a number/);
  assert.throws(() => parseTracking(SAMPLE.replace('Normal', 'Sideways')), /field 14 \(leap status\)/);
  assert.throws(() => parseTracking(`zz${SAMPLE.slice(2)}`), /reference ID/);
});

const CHRONYD = which('chronyd');
const CHRONYC = which('chronyc');
const haveChrony = CHRONYD !== undefined && CHRONYC !== undefined;

describe('chrony exporter with a real chronyd -x', {
  skip: haveChrony ? false : 'chronyd/chronyc not installed (apt-get install chrony)',
}, () => {
  let dir: string;
  let chronyd: ChildProcess;
  let svc: ClockService;
  let sock: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stratum-chrony-'));
    await chmod(dir, 0o700); // chronyd refuses a command socket in a directory others can write
    sock = join(dir, 'chronyd.sock');
    const conf = join(dir, 'chrony.conf');
    await writeFile(
      conf,
      [
        'local stratum 8',
        'manual',
        `driftfile ${join(dir, 'drift')}`,
        `pidfile ${join(dir, 'chronyd.pid')}`,
        `bindcmdaddress ${sock}`,
        'cmdport 0',
        'port 0',
      ].join('\n'),
    );
    chronyd = spawn(CHRONYD as string, ['-x', '-d', '-f', conf, ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    chronyd.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    for (let i = 0; ; i++) {
      try {
        await readTracking({ host: sock, chronyc: CHRONYC as string });
        break;
      } catch (e) {
        if (i > 100 || chronyd.exitCode !== null) throw new Error(`chronyd did not answer: ${(e as Error).message}\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    svc = await startClockService({
      nodeId: 'clock-test',
      epsMs: 1,
      http: { host: '127.0.0.1', port: 0 },
      chrony: { host: sock, intervalMs: 100, chronyc: CHRONYC as string },
      log: rootLogger(),
    });
  });

  after(async () => {
    await svc?.close();
    chronyd?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const metrics = async () => (await fetch(`http://127.0.0.1:${svc.port}/metrics`)).text();
  const value = (text: string, name: string) => {
    const m = new RegExp(`^${name}\\{node="clock-test"[^}]*\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };

  test('/metrics carries what chronyc -c tracking reports', async () => {
    let text = '';
    for (let i = 0; i < 100 && value(text, 'stratum_chrony_up') !== 1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await metrics();
    }
    const want = await readTracking({ host: sock, chronyc: CHRONYC as string });
    assert.equal(value(text, 'stratum_chrony_up'), 1);
    assert.equal(value(text, 'stratum_chrony_stratum'), want.stratum);
    assert.equal(
      value(text, 'stratum_chrony_leap_status'),
      ['Normal', 'Insert second', 'Delete second', 'Not synchronised'].indexOf(want.leapStatus),
    );
    assert.equal(value(text, 'stratum_chrony_frequency_ppm'), want.frequencyPpm);
    assert.equal(value(text, 'stratum_chrony_skew_ppm'), want.skewPpm);
    assert.match(
      text,
      new RegExp(`stratum_chrony_reference_info\\{node="clock-test",ref_id="${want.refId}",ref_name="${want.refName}"\\} 1`),
    );
    assert.ok(value(text, 'stratum_chrony_root_dispersion_seconds') !== undefined);
    assert.equal(value(text, 'stratum_clock_uncertainty_seconds'), 0.001, "the node's ε is exported too");
  });

  test('a chronyd that goes away turns stratum_chrony_up to 0; the service stays up', async () => {
    chronyd.kill('SIGKILL');
    let text = await metrics();
    for (let i = 0; i < 100 && value(text, 'stratum_chrony_up') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await metrics();
    }
    assert.equal(value(text, 'stratum_chrony_up'), 0);
    assert.ok((value(text, 'stratum_chrony_read_errors_total') ?? 0) > 0);
    assert.equal((await fetch(`http://127.0.0.1:${svc.port}/health`)).status, 200);
  });
});
