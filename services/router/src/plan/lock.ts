/**
 * LOCK TABLE (PostgreSQL 15 "LOCK"), as pg_dump sends it: `LOCK TABLE t IN ACCESS SHARE MODE`
 * inside its REPEATABLE READ block, before it reads each table's definition and rows.
 *
 * ACCESS SHARE conflicts only with ACCESS EXCLUSIVE (DROP, TRUNCATE, most ALTER TABLE). Stratum
 * holds no table locks: each read of the block sees one snapshot of the rows, and a concurrent
 * DDL statement publishes a new catalog version that readers of the old one keep reading. So
 * ACCESS SHARE is accepted (the tables must exist) and has no effect to have; stronger modes
 * would promise to block writers, which Stratum cannot, and are refused (docs/sql.md "Tools:
 * pg_dump").
 */
import type { LockStmt } from '@pgsql/types';
import { StratumError, UnsupportedError } from '@stratum/shared';
import { nodeOf } from '../analyze/ast.ts';
import { resolveRangeVar } from '../analyze/relations.ts';
import type { PlanEnv } from './planner.ts';

/** PostgreSQL's lock mode numbers (lockdefs.h) and names. */
const MODES = [
  '',
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
];
const ACCESS_SHARE = 1;

/**
 * Check a LOCK statement: inside a transaction block, tables that exist, ACCESS SHARE mode.
 * @throws StratumError 25P01 outside a transaction block (PostgreSQL's message); SchemaError
 *   42P01 for an unknown table; UnsupportedError 0A000 for a mode stronger than ACCESS SHARE.
 */
export function checkLock(s: LockStmt, env: PlanEnv): void {
  if (!env.inBlock) throw new StratumError('25P01', 'LOCK TABLE can only be used in transaction blocks');
  for (const r of s.relations ?? []) {
    const rv = nodeOf(r, 'RangeVar');
    if (rv) resolveRangeVar(env.catalog, rv, new Set(), env.positionOf);
  }
  const mode = s.mode ?? 8;
  if (mode !== ACCESS_SHARE) {
    throw new UnsupportedError(`LOCK TABLE … IN ${MODES[mode] ?? 'ACCESS EXCLUSIVE'} MODE is not supported: Stratum holds no table locks`, {
      hint: 'ACCESS SHARE mode is accepted (reads in a transaction block see one snapshot). See docs/sql.md "Tools: pg_dump".',
    });
  }
}
