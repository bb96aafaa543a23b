/**
 * The history checker on hand-built histories: clean ones pass with every check exercised,
 * and each kind of violation (lost / twice-applied / aborted-but-applied writes, phantom and
 * future reads, monotonic, read-your-writes, real-time, bounded staleness, convergence) is
 * caught and named.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CheckName, checkHistory, formatReport } from './checker.ts';
import {
  buildVersionOrder,
  type History,
  HistoryRecorder,
  type Mode,
  type Phase,
  type ReadPath,
  type TableSpec,
  type VersionRow,
} from './history.ts';
import { syntheticHistory } from './synthetic.ts';

const TABLES: TableSpec[] = [
  { name: 'ev', mode: 'eventual' },
  { name: 'bs', mode: 'bounded_staleness', maxStalenessMs: 100 },
  { name: 'mr', mode: 'monotonic_reads' },
  { name: 'ss', mode: 'strict_serializable' },
];
const modeOf = (t: string): Mode => TABLES.find((x) => x.name === t)!.mode;

/** A tiny DSL: writes and reads with explicit times; the version order is given per key as values. */
class Scenario {
  readonly rec = new HistoryRecorder();
  /** table → key → values in version order. */
  readonly versions = new Map<string, Map<number, number[]>>();
  /** Values to list twice in __history, or to add without a write. */
  readonly extra: { table: string; key: number; value: number; ts?: number }[] = [];

  write(
    session: number,
    table: string,
    key: number,
    value: number,
    t0: number,
    t1: number,
    o: { ok?: boolean; sqlstate?: string; phase?: Phase; commit?: boolean } = {},
  ) {
    const ok = o.ok ?? true;
    this.rec.recordWrite({
      session,
      table,
      mode: modeOf(table),
      phase: o.phase ?? 'load',
      key,
      value,
      invokeMs: t0,
      completeMs: t1,
      ok,
      ...(o.sqlstate ? { sqlstate: o.sqlstate, error: 'x' } : {}),
    });
    if (o.commit ?? ok) this.commit(table, key, value);
    return this;
  }

  /** Append a value to a key's version order (what a write committed). */
  commit(table: string, key: number, value: number) {
    let t = this.versions.get(table);
    if (!t) this.versions.set(table, (t = new Map()));
    let l = t.get(key);
    if (!l) t.set(key, (l = []));
    l.push(value);
    return this;
  }

  read(
    session: number,
    table: string,
    keys: number[],
    values: (number | null)[],
    t0: number,
    t1: number,
    o: { path?: ReadPath; phase?: Phase; ok?: boolean; sqlstate?: string } = {},
  ) {
    this.rec.recordRead({
      session,
      table,
      mode: modeOf(table),
      phase: o.phase ?? 'load',
      path: o.path ?? 'point',
      keys,
      values: o.ok === false ? [] : values,
      invokeMs: t0,
      completeMs: t1,
      ok: o.ok ?? true,
      ...(o.sqlstate ? { sqlstate: o.sqlstate, error: 'x' } : {}),
    });
    return this;
  }

  history(epsMs = 5): History {
    return this.rec.toHistory(TABLES, epsMs);
  }

  order() {
    const rows = new Map<string, VersionRow[]>();
    let n = 0;
    for (const [table, byKey] of this.versions) {
      const l: VersionRow[] = [];
      for (const [key, values] of byKey)
        values.forEach((value, i) => {
          l.push({ key, value, ts: 1000 + i, engine: 'tx1', version: `v${String(n++).padStart(6, '0')}` });
        });
      rows.set(table, l);
    }
    for (const e of this.extra) {
      let l = rows.get(e.table);
      if (!l) rows.set(e.table, (l = []));
      l.push({ key: e.key, value: e.value, ts: e.ts ?? 999_999, engine: 'tx2', version: `x${n++}` });
    }
    return buildVersionOrder(rows);
  }

  check(opts: Parameters<typeof checkHistory>[2] = {}) {
    return checkHistory(this.history(), this.order(), opts);
  }
}

/** A clean run over all four tables: setup inserts, interleaved writes and reads, then convergence reads. */
function clean(): Scenario {
  const s = new Scenario();
  for (const t of TABLES) s.write(0, t.name, 1, 1, 0, 1, { phase: 'setup' });
  for (const t of TABLES) {
    s.write(1, t.name, 1, 1_000_001, 10, 20);
    s.read(1, t.name, [1], [1_000_001], 21, 25); // own write
    s.read(2, t.name, [1], [1_000_001], 30, 35, { path: 'analytical' });
    s.write(2, t.name, 1, 2_000_001, 40, 50);
    s.read(1, t.name, [1], [2_000_001], 60, 65);
    s.read(2, t.name, [1], [2_000_001], 300, 305, { path: 'analytical' });
    // Concurrent with the write at 40–50: either value is fine everywhere.
    s.read(3, t.name, [1], [1_000_001], 41, 45);
    s.read(3, t.name, [1], [], 46, 47, { ok: false, sqlstate: '57014' });
  }
  for (const t of TABLES) {
    s.read(1, t.name, [1], [2_000_001], 400, 410, { phase: 'converge', path: 'analytical' });
    s.read(2, t.name, [1], [2_000_001], 411, 420, { phase: 'converge', path: 'analytical' });
  }
  return s;
}

const only = (r: ReturnType<typeof checkHistory>, check: CheckName) => {
  assert.ok(r.violationCounts[check] > 0, `expected a ${check} violation:\n${formatReport(r)}`);
  for (const [c, n] of Object.entries(r.violationCounts))
    if (c !== check) assert.equal(n, 0, `unexpected ${c} violation:\n${formatReport(r)}`);
};

describe('history checker', () => {
  test('a clean history has no violations and every check examines something', () => {
    const r = clean().check();
    assert.equal(r.totalViolations, 0, formatReport(r));
    assert.equal(r.operations, 4 + 4 * 8 + 8);
    for (const [c, n] of Object.entries(r.checked)) assert.ok(n > 0, `${c} checked nothing`);
    assert.deepEqual(r.failedBySqlstate, { '57014': 4 });
  });

  test('an acknowledged write missing from __history is lost', () => {
    const s = clean().write(4, 'mr', 2, 4_000_001, 100, 110, { commit: false });
    only(s.check(), 'integrity');
    assert.match(s.check().violations[0]!.detail, /lost/);
  });

  test('a write applied twice, an aborted write applied, and a version nobody wrote are caught', () => {
    const twice = clean();
    twice.extra.push({ table: 'ev', key: 1, value: 1_000_001, ts: 1000 });
    only(twice.check(), 'integrity');
    assert.match(
      twice
        .check()
        .violations.map((v) => v.detail)
        .join('\n'),
      /applied twice/,
    );

    const aborted = clean().write(4, 'ss', 1, 4_000_001, 100, 110, { ok: false, sqlstate: '40001', commit: true });
    // The aborted version is last in the order, so convergence also (rightly) complains; look at integrity.
    assert.match(
      aborted
        .check()
        .violations.filter((v) => v.check === 'integrity')
        .map((v) => v.detail)
        .join('\n'),
      /40001/,
    );

    const phantom = clean();
    phantom.extra.push({ table: 'mr', key: 5, value: 9_999 });
    const r = phantom.check({ convergeDeadlineMs: 1e9 });
    assert.ok(
      r.violations.some((v) => v.check === 'integrity' && /no write of the history wrote/.test(v.detail)),
      formatReport(r),
    );
  });

  test('a write whose outcome is unknown (no SQLSTATE) may or may not be in __history', () => {
    const s = clean().write(4, 'ev', 2, 4_000_001, 100, 110, { ok: false, commit: true });
    s.read(4, 'ev', [2], [4_000_001], 400, 401, { phase: 'converge' });
    const r = s.check();
    assert.equal(r.totalViolations, 0, formatReport(r));
  });

  test('a read of an uncommitted value, and a read of a value written after it completed, are caught', () => {
    const dirty = clean()
      .write(4, 'ev', 1, 4_000_001, 100, 110, { ok: false, sqlstate: '40001' })
      .read(5, 'ev', [1], [4_000_001], 105, 106);
    only(dirty.check(), 'integrity');
    assert.match(dirty.check().violations[0]!.detail, /not a committed version/);

    const future = clean();
    future.write(4, 'ev', 3, 4_000_001, 200, 210).read(5, 'ev', [3], [4_000_001], 100, 150);
    future.read(5, 'ev', [3], [4_000_001], 400, 401, { phase: 'converge' });
    only(future.check(), 'integrity');
    assert.match(future.check().violations[0]!.detail, /began .* after the read completed/);
  });

  test('monotonic: a session that goes backwards is caught in monotonic_reads and strict tables only', () => {
    for (const t of ['mr', 'ss']) {
      const s = clean();
      // Session 3 saw 2_000_001 at 60ms? No: session 1 did; make session 1 go back to 1_000_001 later (concurrent with nothing).
      s.read(1, t, [1], [1_000_001], 70, 72, { path: 'analytical' });
      const r = s.check();
      assert.ok(r.violationCounts.monotonic > 0, formatReport(r));
      assert.equal(r.violations.find((v) => v.check === 'monotonic')?.session, 1);
    }
    // In an eventual table it is allowed and only counted.
    const ev = clean();
    ev.read(1, 'ev', [1], [1_000_001], 70, 72, { path: 'analytical' });
    const r = ev.check();
    assert.equal(r.totalViolations, 0, formatReport(r));
    assert.equal(r.weakNonMonotonic, 1);
  });

  test('read-your-writes: a session not seeing its own acknowledged write is caught', () => {
    const s = clean();
    s.write(4, 'mr', 2, 4_000_001, 100, 110).read(4, 'mr', [2], [null], 120, 125, { path: 'analytical' });
    s.read(4, 'mr', [2], [4_000_001], 400, 401, { phase: 'converge' });
    only(s.check(), 'read_your_writes');
    assert.equal(s.check().violations[0]!.session, 4);
  });

  test('strict real time: write→read, read→read and write→write orders are enforced', () => {
    // Another session's read after an acknowledged write sees the old value.
    const wr = clean();
    wr.read(5, 'ss', [1], [1_000_001], 55, 58);
    only(wr.check(), 'real_time');
    // Same in a monotonic_reads table is fine (no real-time promise; session 5 is new).
    const wrMr = clean();
    wrMr.read(5, 'mr', [1], [1_000_001], 55, 58);
    assert.equal(wrMr.check().totalViolations, 0, formatReport(wrMr.check()));

    // Linearizable reads: session 3 saw the new value, then session 5 began later and saw the old one.
    const rr = new Scenario();
    rr.write(0, 'ss', 1, 1, 0, 1, { phase: 'setup' }).write(1, 'ss', 1, 1_000_001, 10, 100);
    rr.read(3, 'ss', [1], [1_000_001], 20, 30).read(5, 'ss', [1], [1], 40, 45);
    rr.read(3, 'ss', [1], [1_000_001], 200, 201, { phase: 'converge' });
    only(rr.check(), 'real_time');
    assert.match(rr.check().violations[0]!.detail, /read op/);

    // Writes out of real-time order: B began after A was acknowledged but is ordered before A.
    const ww = new Scenario();
    ww.write(0, 'ss', 1, 1, 0, 1, { phase: 'setup' });
    ww.rec.recordWrite({
      session: 1,
      table: 'ss',
      mode: 'strict_serializable',
      phase: 'load',
      key: 1,
      value: 1_000_001,
      invokeMs: 10,
      completeMs: 20,
      ok: true,
    });
    ww.rec.recordWrite({
      session: 2,
      table: 'ss',
      mode: 'strict_serializable',
      phase: 'load',
      key: 1,
      value: 2_000_001,
      invokeMs: 30,
      completeMs: 40,
      ok: true,
    });
    ww.commit('ss', 1, 2_000_001).commit('ss', 1, 1_000_001);
    ww.read(3, 'ss', [1], [1_000_001], 200, 201, { phase: 'converge' });
    only(ww.check(), 'real_time');
    assert.match(ww.check().violations[0]!.detail, /write \(op 2\)/);
  });

  test('bounded staleness: stale beyond max_staleness + slack is caught, within it is not', () => {
    // Write acknowledged at 50 (clean); bound 100 ms + slack 11 ms (eps 5).
    const within = clean();
    within.read(5, 'bs', [1], [1_000_001], 150, 152); // 100 ms after: allowed
    assert.equal(within.check().totalViolations, 0, formatReport(within.check()));
    const stale = clean();
    stale.read(5, 'bs', [1], [1_000_001], 170, 172); // 120 ms after: too stale
    only(stale.check(), 'bounded_staleness');
    assert.match(stale.check().violations[0]!.detail, /acknowledged 120\.0 ms before/);
    // A larger slack accepts it.
    assert.equal(stale.check({ slackMs: 30 }).totalViolations, 0);
  });

  test('convergence: never reaching the last version, reaching it late, or leaving it are caught', () => {
    const never = clean();
    never.read(1, 'ev', [1], [1_000_001], 500, 510, { phase: 'converge' }); // also a regression after converging
    only(never.check(), 'convergence');

    const missing = new Scenario();
    missing.write(0, 'ev', 1, 1, 0, 1, { phase: 'setup' }).write(1, 'ev', 1, 1_000_001, 10, 20);
    missing.read(1, 'ev', [1], [1], 30, 31, { phase: 'converge' });
    only(missing.check(), 'convergence');
    assert.match(missing.check().violations[0]!.detail, /no read of key 1 observed its last version/);

    const late = new Scenario();
    late.write(0, 'ev', 1, 1, 0, 1, { phase: 'setup' }).write(1, 'ev', 1, 1_000_001, 10, 20);
    late.read(1, 'ev', [1], [1_000_001], 60_000, 60_001, { phase: 'converge' });
    only(late.check(), 'convergence');
    assert.match(late.check().violations[0]!.detail, /deadline/);
    assert.equal(late.check({ convergeDeadlineMs: 120_000 }).totalViolations, 0);

    const unread = new Scenario();
    unread.write(0, 'ev', 1, 1, 0, 1, { phase: 'setup' }).write(0, 'ev', 2, 2, 0, 1, { phase: 'setup' });
    unread.read(1, 'ev', [1], [1], 30, 31, { phase: 'converge' });
    only(unread.check(), 'convergence');
    assert.match(unread.check().violations[0]!.detail, /never read/);
  });

  test('version order follows last-writer-wins: commit time, then engine, then version', () => {
    const rows: VersionRow[] = [
      { key: 1, value: 3, ts: 20, engine: 'tx1', version: 'a' },
      { key: 1, value: 2, ts: 10, engine: 'tx2', version: 'a' },
      { key: 1, value: 1, ts: 10, engine: 'tx1', version: 'b' },
      { key: 1, value: 0, ts: 10, engine: 'tx1', version: 'a' },
    ];
    const o = buildVersionOrder(new Map([['t', rows]]));
    assert.deepEqual(
      o
        .get('t')
        ?.get(1)
        ?.map((r) => r.value),
      [0, 1, 2, 3],
    );
  });
  test('histories from a linearizable model have no violations (property over seeds), and a stale strict read planted in one is caught', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { history, order } = syntheticHistory({ tables: TABLES, sessions: 8, opsPerSession: 60, keys: 4, seed });
      const r = checkHistory(history, order);
      assert.equal(r.totalViolations, 0, `seed ${seed}:\n${formatReport(r)}`);
      assert.ok(r.checked.real_time > 0 && r.checked.bounded_staleness > 0 && r.checked.monotonic > 0);
    }
    // Plant: a strict read long after the last write of its key observes the setup value.
    const { history, order } = syntheticHistory({ tables: TABLES, sessions: 8, opsPerSession: 60, keys: 4, seed: 3 });
    const ops = [...history.operations];
    let i = ops.length - 1;
    for (; i >= 0; i--) {
      const o = ops[i]!;
      if (o.kind === 'read' && o.table === 'ss' && o.phase === 'load' && order.get('ss')!.get(o.keys[0]!)!.length > 2) break;
    }
    const victim = ops[i]!;
    assert.equal(victim.kind, 'read');
    if (victim.kind === 'read') ops[i] = { ...victim, values: victim.keys.map((k) => order.get('ss')!.get(k)![0]!.value) };
    const r = checkHistory({ ...history, operations: ops }, order);
    assert.ok(r.violationCounts.real_time > 0, formatReport(r));
  });
});
