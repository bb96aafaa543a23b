/**
 * History checker (issue 5 item 7; DESIGN §6 modes, §10 invariants): pure functions over a
 * recorded {@link History} and each key's version order from `<table>__history` (read after
 * quiescence). Every value is unique per write, so an observed value is a position in the
 * key's version order; the checks compare positions:
 *
 * - `integrity` (all tables): every acknowledged write is in `__history` exactly once (none
 *   lost, none applied twice); no write that failed with 40001 (aborted) is there; every
 *   version in `__history` comes from a write of the history; every value a read observed is a
 *   committed version of that key whose write had begun before the read completed.
 * - `monotonic` (monotonic_reads, strict_serializable): per session and key, observed positions
 *   never decrease (point and analytical reads alike).
 * - `read_your_writes` (monotonic_reads, strict_serializable): a read observes at least the
 *   session's own acknowledged writes of that key.
 * - `real_time` (strict_serializable): for operations A, B on one key with A completed before
 *   B began — B a read: B observes A's position or later (A a write: its version; A a read: what
 *   it observed, i.e. linearizable reads); B a write: B's version is after A's.
 * - `bounded_staleness` (bounded_staleness): a read that began at real time b observes at least
 *   the newest write of the key acknowledged before b − max_staleness_ms − slack. The mode
 *   promises "every commit with ts ≤ now − max_staleness" in commit timestamps, which may lead
 *   real time by up to ε on a skewed engine and trail it on the reading node; `slackMs`
 *   (default 2ε + 1 ms) absorbs that, so the check is exactly as strong as the promise.
 * - `convergence` (all tables, `converge` phase): after writes stopped, each key's reads reach
 *   the key's last version within `convergeDeadlineMs` and never leave it again.
 *
 * Failed reads are not checked (there is nothing observed) but counted by SQLSTATE.
 */
import type { History, Mode, Operation, ReadOp, VersionOrder, WriteOp } from './history.ts';

/** The checks, in report order. */
export const CHECKS = ['integrity', 'monotonic', 'read_your_writes', 'real_time', 'bounded_staleness', 'convergence'] as const;

/** One of {@link CHECKS}. */
export type CheckName = (typeof CHECKS)[number];

/** One broken promise. */
export interface Violation {
  readonly check: CheckName;
  /** Session of the offending operation (0 = setup, -1 = none, e.g. a version no write produced). */
  readonly session: number;
  readonly table: string;
  readonly key: number;
  /** `id` of the offending operation, when there is one. */
  readonly opId?: number;
  /** What was observed and what was expected, with positions in the key's version order. */
  readonly detail: string;
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Bounded staleness slack, ms (default 2 × `history.epsMs` + 1). */
  readonly slackMs?: number;
  /** How long after writes stopped every key must have converged, ms (default 30000). */
  readonly convergeDeadlineMs?: number;
  /** Keep at most this many violations in the list (all are counted; default 1000). */
  readonly maxViolations?: number;
}

/** Result of {@link checkHistory}. */
export interface CheckReport {
  /** Operations in the history (all phases, failed ones included). */
  readonly operations: number;
  readonly reads: number;
  readonly writes: number;
  /** Key observations of successful reads (an analytical read of 4 keys is 4). */
  readonly observations: number;
  /** Operations that failed, by SQLSTATE (`none` when the error had no SQLSTATE). */
  readonly failedBySqlstate: Readonly<Record<string, number>>;
  /** Per check: how many operations / observations it examined. */
  readonly checked: Readonly<Record<CheckName, number>>;
  /** Per check: how many violations it found. */
  readonly violationCounts: Readonly<Record<CheckName, number>>;
  /**
   * Observations in eventual / bounded_staleness tables that went backwards within a session:
   * allowed by those modes, reported for information only.
   */
  readonly weakNonMonotonic: number;
  /** The first `maxViolations` violations. */
  readonly violations: readonly Violation[];
  /** Total violations (all checks). */
  readonly totalViolations: number;
}

/** A read's observation of one key, with the value resolved to a position (-1 = absent / before every version). */
interface Obs {
  readonly op: ReadOp;
  readonly key: number;
  readonly value: number | null;
  readonly pos: number;
}

/** An event on one key for the real-time checks: a write at its position or a read observation. */
interface KeyEvent {
  readonly op: Operation;
  readonly pos: number;
  readonly isWrite: boolean;
}

const MODES_MONOTONIC: ReadonlySet<Mode> = new Set(['monotonic_reads', 'strict_serializable']);

const keyId = (table: string, key: number) => `${table}\u0000${key}`;

/**
 * Check `history` against the version order `order` (from `<table>__history` after every
 * acknowledged write is there). Pure: same input, same report.
 */
export function checkHistory(history: History, order: VersionOrder, opts: CheckOptions = {}): CheckReport {
  const slackMs = opts.slackMs ?? 2 * history.epsMs + 1;
  const deadlineMs = opts.convergeDeadlineMs ?? 30_000;
  const maxViolations = opts.maxViolations ?? 1000;
  const checked = Object.fromEntries(CHECKS.map((c) => [c, 0])) as Record<CheckName, number>;
  const counts = Object.fromEntries(CHECKS.map((c) => [c, 0])) as Record<CheckName, number>;
  const violations: Violation[] = [];
  const violate = (v: Violation) => {
    counts[v.check]++;
    if (violations.length < maxViolations) violations.push(v);
  };
  const modeOf = new Map(history.tables.map((t) => [t.name, t]));

  // value → position per (table, key), and how often each value occurs in __history.
  const posOf = new Map<string, Map<number, number>>();
  const lastPos = new Map<string, number>();
  const seenValues = new Map<string, Map<number, number>>(); // table → value → occurrences (any key)
  for (const [table, byKey] of order) {
    const seen = new Map<number, number>();
    seenValues.set(table, seen);
    for (const [key, rows] of byKey) {
      const m = new Map<number, number>();
      rows.forEach((r, i) => {
        if (r.value !== null) {
          if (!m.has(r.value)) m.set(r.value, i);
          seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
        }
      });
      posOf.set(keyId(table, key), m);
      lastPos.set(keyId(table, key), rows.length - 1);
    }
  }
  const position = (table: string, key: number, value: number | null): number | undefined =>
    value === null ? -1 : posOf.get(keyId(table, key))?.get(value);

  // ---- integrity: writes vs __history
  let reads = 0;
  let writes = 0;
  const failedBySqlstate: Record<string, number> = {};
  const writeByValue = new Map<string, WriteOp>(); // `${table}\0${value}`
  for (const op of history.operations) {
    if (op.kind === 'read') reads++;
    else {
      writes++;
      writeByValue.set(keyId(op.table, op.value), op);
    }
    if (!op.ok) {
      const s = op.sqlstate ?? 'none';
      failedBySqlstate[s] = (failedBySqlstate[s] ?? 0) + 1;
    }
  }
  for (const op of history.operations) {
    if (op.kind !== 'write') continue;
    const occurrences = seenValues.get(op.table)?.get(op.value) ?? 0;
    const atKey = posOf.get(keyId(op.table, op.key))?.has(op.value) ?? false;
    if (op.ok) {
      checked.integrity++;
      if (occurrences === 0 || !atKey) {
        violate({
          check: 'integrity',
          session: op.session,
          table: op.table,
          key: op.key,
          opId: op.id,
          detail: `acknowledged write of v=${op.value} is missing from ${op.table}__history${occurrences > 0 ? ' under this key (found under another key)' : ''} (lost)`,
        });
      } else if (occurrences > 1) {
        violate({
          check: 'integrity',
          session: op.session,
          table: op.table,
          key: op.key,
          opId: op.id,
          detail: `write of v=${op.value} appears ${occurrences} times in ${op.table}__history (applied twice)`,
        });
      }
    } else if (op.sqlstate === '40001' && occurrences > 0) {
      checked.integrity++;
      violate({
        check: 'integrity',
        session: op.session,
        table: op.table,
        key: op.key,
        opId: op.id,
        detail: `write of v=${op.value} failed with 40001 (aborted) but is in ${op.table}__history`,
      });
    }
  }
  for (const [table, byKey] of order) {
    for (const [key, rows] of byKey) {
      for (const r of rows) {
        if (r.value !== null && !writeByValue.has(keyId(table, r.value))) {
          violate({
            check: 'integrity',
            session: -1,
            table,
            key,
            detail: `${table}__history holds v=${r.value} (version ${r.version}) that no write of the history wrote`,
          });
        }
      }
    }
  }

  // ---- observations
  const obsByKey = new Map<string, Obs[]>();
  const eventsByKey = new Map<string, KeyEvent[]>();
  const pushEvent = (table: string, key: number, e: KeyEvent) => {
    const id = keyId(table, key);
    let l = eventsByKey.get(id);
    if (!l) eventsByKey.set(id, (l = []));
    l.push(e);
  };
  let observations = 0;
  const sessionOps = new Map<number, Operation[]>();
  for (const op of history.operations) {
    let l = sessionOps.get(op.session);
    if (!l) sessionOps.set(op.session, (l = []));
    l.push(op);
    if (!op.ok) continue;
    if (op.kind === 'write') {
      const pos = position(op.table, op.key, op.value);
      if (pos !== undefined) pushEvent(op.table, op.key, { op, pos, isWrite: true });
      continue;
    }
    op.keys.forEach((key, i) => {
      const value = op.values[i] ?? null;
      observations++;
      checked.integrity++;
      const pos = position(op.table, key, value);
      if (pos === undefined) {
        const w = value === null ? undefined : writeByValue.get(keyId(op.table, value));
        violate({
          check: 'integrity',
          session: op.session,
          table: op.table,
          key,
          opId: op.id,
          detail: `${op.path} read observed v=${value}, which is not a committed version of key ${key}${w ? ` (written by session ${w.session} to key ${w.key}, ${w.ok ? 'acknowledged' : `failed ${w.sqlstate ?? ''}`})` : ' (no write wrote it)'}`,
        });
        return;
      }
      if (value !== null) {
        const w = writeByValue.get(keyId(op.table, value));
        if (w && w.invokeMs > op.completeMs) {
          violate({
            check: 'integrity',
            session: op.session,
            table: op.table,
            key,
            opId: op.id,
            detail: `read observed v=${value} from a write that began ${(w.invokeMs - op.completeMs).toFixed(1)} ms after the read completed`,
          });
        }
      }
      const o: Obs = { op, key, value, pos };
      const id = keyId(op.table, key);
      let ol = obsByKey.get(id);
      if (!ol) obsByKey.set(id, (ol = []));
      ol.push(o);
      pushEvent(op.table, key, { op, pos, isWrite: false });
    });
  }

  // ---- monotonic reads and read-your-writes, per session in session order
  let weakNonMonotonic = 0;
  for (const [session, ops] of sessionOps) {
    const sorted = [...ops].sort((a, b) => a.invokeMs - b.invokeMs);
    const maxRead = new Map<string, { pos: number; op: ReadOp; value: number | null }>();
    const ownWrite = new Map<string, { pos: number; op: WriteOp }>();
    for (const op of sorted) {
      if (!op.ok) continue;
      const mode = modeOf.get(op.table)?.mode ?? 'monotonic_reads';
      const strong = MODES_MONOTONIC.has(mode);
      if (op.kind === 'write') {
        const pos = position(op.table, op.key, op.value);
        if (pos === undefined) continue;
        const id = keyId(op.table, op.key);
        const cur = ownWrite.get(id);
        if (!cur || pos > cur.pos) ownWrite.set(id, { pos, op });
        continue;
      }
      op.keys.forEach((key, i) => {
        const value = op.values[i] ?? null;
        const pos = position(op.table, key, value);
        if (pos === undefined) return;
        const id = keyId(op.table, key);
        const prev = maxRead.get(id);
        const mine = ownWrite.get(id);
        if (strong) {
          checked.monotonic++;
          checked.read_your_writes++;
          if (prev && pos < prev.pos) {
            violate({
              check: 'monotonic',
              session,
              table: op.table,
              key,
              opId: op.id,
              detail: `${mode}: ${op.path} read (op ${op.id}) observed v=${value} (position ${pos}) after op ${prev.op.id} (${prev.op.path}) observed v=${prev.value} (position ${prev.pos})`,
            });
          }
          if (mine && pos < mine.pos) {
            violate({
              check: 'read_your_writes',
              session,
              table: op.table,
              key,
              opId: op.id,
              detail: `${mode}: ${op.path} read (op ${op.id}) observed v=${value} (position ${pos}) but the session's acknowledged write (op ${mine.op.id}) wrote v=${mine.op.value} (position ${mine.pos})`,
            });
          }
        } else if (prev && pos < prev.pos) {
          weakNonMonotonic++;
        }
        if (!prev || pos > prev.pos) maxRead.set(id, { pos, op, value });
      });
    }
  }

  // ---- real time (strict) and bounded staleness: per key, a sweep over completions
  for (const [id, events] of eventsByKey) {
    const first = events[0];
    if (!first) continue;
    const table = first.op.table;
    const spec = modeOf.get(table);
    const key = Number(id.slice(table.length + 1));
    if (spec?.mode === 'strict_serializable') {
      const byComplete = [...events].sort((a, b) => a.op.completeMs - b.op.completeMs);
      const byInvoke = [...events].sort((a, b) => a.op.invokeMs - b.op.invokeMs);
      let j = 0;
      let max: KeyEvent | undefined;
      for (const e of byInvoke) {
        while (j < byComplete.length && byComplete[j]!.op.completeMs < e.op.invokeMs) {
          const c = byComplete[j++]!;
          if (!max || c.pos > max.pos) max = c;
        }
        if (!max) continue;
        checked.real_time++;
        const bad = e.isWrite ? e.pos <= max.pos : e.pos < max.pos;
        if (bad) {
          const what = e.isWrite
            ? `write (op ${e.op.id}) got position ${e.pos}`
            : `read (op ${e.op.id}, ${(e.op as ReadOp).path}) observed position ${e.pos}`;
          violate({
            check: 'real_time',
            session: e.op.session,
            table,
            key,
            opId: e.op.id,
            detail: `strict_serializable: ${what}, but ${max.isWrite ? 'write' : 'read'} op ${max.op.id} (session ${max.op.session}) ${max.isWrite ? 'was acknowledged at' : 'observed'} position ${max.pos} and completed ${(e.op.invokeMs - max.op.completeMs).toFixed(1)} ms before it began`,
          });
        }
      }
    } else if (spec?.mode === 'bounded_staleness') {
      const bound = (spec.maxStalenessMs ?? 0) + slackMs;
      const writesByComplete = events.filter((e) => e.isWrite).sort((a, b) => a.op.completeMs - b.op.completeMs);
      const readsByInvoke = events.filter((e) => !e.isWrite && e.op.phase !== 'setup').sort((a, b) => a.op.invokeMs - b.op.invokeMs);
      let j = 0;
      let max: KeyEvent | undefined;
      for (const e of readsByInvoke) {
        while (j < writesByComplete.length && writesByComplete[j]!.op.completeMs < e.op.invokeMs - bound) {
          const c = writesByComplete[j++]!;
          if (!max || c.pos > max.pos) max = c;
        }
        checked.bounded_staleness++;
        if (max && e.pos < max.pos) {
          violate({
            check: 'bounded_staleness',
            session: e.op.session,
            table,
            key,
            opId: e.op.id,
            detail: `bounded_staleness (${spec.maxStalenessMs ?? 0} ms + ${slackMs} ms slack): ${(e.op as ReadOp).path} read (op ${e.op.id}) observed position ${e.pos}, but write op ${max.op.id} (v=${(max.op as WriteOp).value}, position ${max.pos}) was acknowledged ${(e.op.invokeMs - max.op.completeMs).toFixed(1)} ms before the read began`,
          });
        }
      }
    }
  }

  // ---- convergence after quiescence
  const converging = history.operations.some((o) => o.phase === 'converge');
  if (converging) {
    for (const [table, byKey] of order) {
      for (const key of byKey.keys()) {
        const id = keyId(table, key);
        const final = lastPos.get(id) ?? -1;
        const obs = (obsByKey.get(id) ?? [])
          .filter((o) => o.op.phase === 'converge' && o.op.invokeMs >= history.quiescentMs)
          .sort((a, b) => a.op.invokeMs - b.op.invokeMs);
        checked.convergence += obs.length;
        const firstFinal = obs.find((o) => o.pos === final);
        if (!firstFinal) {
          const last = obs[obs.length - 1];
          violate({
            check: 'convergence',
            session: last?.op.session ?? -1,
            table,
            key,
            ...(last ? { opId: last.op.id } : {}),
            detail: last
              ? `after writes stopped, no read of key ${key} observed its last version (position ${final}); the last read observed position ${last.pos}`
              : `after writes stopped, key ${key} was never read`,
          });
          continue;
        }
        if (firstFinal.op.completeMs > history.quiescentMs + deadlineMs) {
          violate({
            check: 'convergence',
            session: firstFinal.op.session,
            table,
            key,
            opId: firstFinal.op.id,
            detail: `key ${key} reached its last version only ${(firstFinal.op.completeMs - history.quiescentMs).toFixed(0)} ms after writes stopped (deadline ${deadlineMs} ms)`,
          });
        }
        for (const o of obs) {
          if (o.op.invokeMs > firstFinal.op.completeMs && o.pos !== final) {
            violate({
              check: 'convergence',
              session: o.op.session,
              table,
              key,
              opId: o.op.id,
              detail: `after converging (op ${firstFinal.op.id}), read op ${o.op.id} observed position ${o.pos} instead of the last version ${final}`,
            });
          }
        }
      }
    }
  }

  let total = 0;
  for (const c of CHECKS) total += counts[c];
  return {
    operations: history.operations.length,
    reads,
    writes,
    observations,
    failedBySqlstate,
    checked,
    violationCounts: counts,
    weakNonMonotonic,
    violations,
    totalViolations: total,
  };
}

/** A short multi-line summary of a report (per-check counts and the first violations), for test failures and bench output. */
export function formatReport(r: CheckReport, maxListed = 20): string {
  const lines = [
    `operations ${r.operations} (reads ${r.reads}, writes ${r.writes}, key observations ${r.observations}); failed ${JSON.stringify(r.failedBySqlstate)}`,
    ...CHECKS.map((c) => `  ${c.padEnd(18)} checked ${String(r.checked[c]).padStart(7)}  violations ${r.violationCounts[c]}`),
    `  weak-mode backward reads (allowed): ${r.weakNonMonotonic}`,
  ];
  for (const v of r.violations.slice(0, maxListed)) lines.push(`  ✗ [${v.check}] session ${v.session} ${v.table}[${v.key}]: ${v.detail}`);
  if (r.totalViolations > maxListed) lines.push(`  … ${r.totalViolations - maxListed} more`);
  return lines.join('\n');
}
