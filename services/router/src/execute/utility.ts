/**
 * Session and transaction statements: SET / SHOW / RESET, BEGIN … COMMIT / ROLLBACK,
 * savepoints (PostgreSQL 15 semantics), DISCARD. A block's DDL is published atomically at
 * COMMIT, before its writes commit (its writes never touch the tables its DDL changed, see
 * execute/write.ts), so a block that fails leaves no DDL behind.
 */

import type { Node, VariableSetStmt } from '@pgsql/types';
import {
  counter,
  type DdlEvent,
  type IntervalParts,
  type IsolationLevel,
  parseInterval,
  SqlState,
  StratumError,
  type TxEngineApi,
  type TxResult,
  UnsupportedError,
} from '@stratum/shared';
import { nodeOf } from '../analyze/ast.ts';
import type { StatementResult } from '../pgwire/types.ts';
import { isolationOf } from '../plan/planner.ts';
import type { UtilityPlan } from '../plan/types.ts';
import { type OpenTxn, REPORTED, type RouterSession } from '../session.ts';
import {
  checkSet,
  defaultSetting,
  offsetZoneName,
  parseSetting,
  type SettingDef,
  settingDef,
  settingRows,
  showSetting,
} from '../settings.ts';
import { buildBlockIndexes, publish } from './ddl.ts';

const mStatements = counter('stratum_router_statements_total', 'Statements executed, by kind and tier', ['kind', 'tier']);

/** Run a utility plan. */
export async function runUtility(s: RouterSession, plan: UtilityPlan): Promise<StatementResult> {
  switch (plan.op) {
    case 'empty':
      return { commandTag: '' };
    case 'unsupported':
      throw new UnsupportedError(plan.message);
    case 'set':
      return set(s, plan.stmt);
    case 'show':
      return show(s, plan.name);
    case 'deallocate':
      return { commandTag: plan.name === null ? 'DEALLOCATE ALL' : 'DEALLOCATE', deallocate: plan.name };
    case 'discard':
      resetAll(s);
      return { commandTag: 'DISCARD ALL' };
    case 'begin':
      return begin(s, plan.isolation);
    case 'commit':
      return commit(s);
    case 'rollback': {
      const t = s.txn;
      if (!t) return { commandTag: 'ROLLBACK', notices: [warn('25P01', 'there is no transaction in progress')] };
      s.txn = undefined;
      const rep = endBlockSettings(s, t, false);
      await (s.ctx.txEngines[t.engine] as TxEngineApi).rollback(t.id);
      return rep ? { commandTag: 'ROLLBACK', parameterStatus: rep } : { commandTag: 'ROLLBACK' };
    }
    case 'savepoint':
    case 'release':
    case 'rollback_to':
      return savepoint(s, plan.op, plan.name);
  }
}

function warn(code: string, message: string) {
  return { severity: 'WARNING' as const, code, message };
}

async function begin(s: RouterSession, requested: IsolationLevel | undefined): Promise<StatementResult> {
  if (s.txn) return { commandTag: 'BEGIN', notices: [warn('25001', 'there is already a transaction in progress')] };
  const isolation = requested ?? (s.settings.default_transaction_isolation === 'serializable' ? 'serializable' : 'repeatable_read');
  // Read before the snapshot is taken, so it is at or below it (predicate writes read candidates as of it).
  const watermark = s.ctx.watermarks.current().catch(() => -1);
  const id = await s.engine.begin(isolation);
  s.txn = {
    id,
    isolation,
    failed: false,
    wrote: new Set(),
    used: false,
    tables: new Set(),
    engine: s.engineIdx,
    pinned: false,
    startUs: BigInt(Date.now()) * 1000n,
    watermark,
    ddl: [],
    savepoints: [],
  };
  return { commandTag: 'BEGIN' };
}

/** The engine's warnings (e.g. a degraded strict write) as NOTICEs. */
function withTxNotices(out: StatementResult, r: TxResult): StatementResult {
  if (r.notices?.length)
    out.notices = [...(out.notices ?? []), ...r.notices.map((m) => ({ severity: 'WARNING' as const, code: '01000', message: m }))];
  return out;
}

async function commit(s: RouterSession): Promise<StatementResult> {
  const t = s.txn;
  if (!t) return { commandTag: 'COMMIT', notices: [warn('25P01', 'there is no transaction in progress')] };
  s.txn = undefined;
  const engine = s.ctx.txEngines[t.engine] as TxEngineApi;
  // A block that does not commit leaves its settings behind too.
  const rep = endBlockSettings(s, t, !t.failed);
  if (t.failed) {
    await engine.rollback(t.id);
    return rep ? { commandTag: 'ROLLBACK', parameterStatus: rep } : { commandTag: 'ROLLBACK' };
  }
  if (t.ddl.length > 0) {
    // The block's DDL first, all or nothing; then its writes (to tables the DDL did not change).
    if (!(await publish(s, blockEvents(t.ddl)))) {
      await engine.rollback(t.id);
      throw new StratumError(
        SqlState.serializationFailure,
        'could not commit the transaction block: a concurrent DDL statement changed the same objects first',
        {
          hint: 'The block was rolled back; retry it.',
        },
      );
    }
  }
  const r = await engine.commit(t.id).catch((e) => {
    const m = /\((\d+) ms\)\.$/.exec((e as StratumError).detail ?? '');
    if ((e as StratumError).code === SqlState.queryCanceled && m) s.noteWrite(t.engine, Number(m[1]), t.tables);
    throw e;
  });
  s.noteWrite(t.engine, r.commitTs, t.tables);
  if (t.ddl.length > 0) await buildBlockIndexes(s, t.ddl);
  mStatements.inc({ kind: 'Commit', tier: 'tx' });
  const out: StatementResult = { commandTag: r.rolledBack ? 'ROLLBACK' : 'COMMIT' };
  if (rep) out.parameterStatus = rep;
  return withTxNotices(out, r);
}

/**
 * A block's DDL as one list for its COMMIT: nested batches flattened, and the optimistic check
 * (`ifVersion`) kept only on the first change of a table that existed before the block (later
 * changes build on the block's own, which the check cannot name).
 */
function blockEvents(ddl: DdlEvent[]): DdlEvent[] {
  const out: DdlEvent[] = [];
  const touched = new Set<string>();
  const visit = (e: DdlEvent) => {
    if (e.kind === 'batch') {
      e.events.forEach(visit);
      return;
    }
    if (e.kind === 'create_table') touched.add(e.table.name);
    if (e.kind === 'replace_table') {
      const seen = touched.has(e.name);
      touched.add(e.name);
      touched.add(e.table.name);
      if (seen && e.ifVersion !== undefined) {
        const { ifVersion: _drop, ...rest } = e;
        out.push(rest);
        return;
      }
    }
    out.push(e);
  };
  ddl.forEach(visit);
  return out;
}

async function savepoint(s: RouterSession, op: 'savepoint' | 'release' | 'rollback_to', name: string): Promise<StatementResult> {
  const t = s.txn;
  const what = op === 'savepoint' ? 'SAVEPOINT' : op === 'release' ? 'RELEASE' : 'ROLLBACK';
  if (!t) throw new StratumError('25P01', `${what === 'ROLLBACK' ? 'ROLLBACK TO SAVEPOINT' : what} can only be used in transaction blocks`);
  t.pinned = true; // the savepoint lives on this engine
  try {
    await (s.ctx.txEngines[t.engine] as TxEngineApi).savepoint(
      t.id,
      name,
      op === 'savepoint' ? 'set' : op === 'release' ? 'release' : 'rollback',
    );
  } catch (e) {
    t.failed = true;
    throw e;
  }
  if (op === 'savepoint') t.savepoints.push({ name, ddl: t.ddl.length });
  else {
    let i = t.savepoints.length - 1;
    while (i >= 0 && t.savepoints[i]?.name !== name) i--;
    if (i >= 0) {
      const sp = t.savepoints[i] as { name: string; ddl: number };
      if (op === 'rollback_to' && t.ddl.length > sp.ddl) {
        t.ddl.length = sp.ddl;
        // Rebuild the block's catalog from the router's plus the DDL kept.
        t.catalog = s.ctx.catalog.clone();
        for (const ev of t.ddl) t.catalog.applyPrivately(ev);
        if (t.ddl.length === 0) delete t.catalog;
      }
      t.savepoints.length = op === 'release' ? i : i + 1;
    }
  }
  if (op === 'rollback_to') t.failed = false;
  return { commandTag: what };
}

/**
 * A SET value as text (`SET x = 'a', 'b'` → `a, b`); `SET TIME ZONE INTERVAL '+05:30' HOUR TO
 * MINUTE` → PostgreSQL's name of that fixed zone.
 */
function setValue(args: Node[] | undefined): string {
  return (args ?? [])
    .map((a) => {
      const cast = nodeOf(a, 'TypeCast');
      const c = nodeOf(a, 'A_Const') ?? nodeOf(cast?.arg, 'A_Const');
      if (!c) return '';
      const typeName = cast?.typeName?.names?.map((x) => nodeOf(x, 'String')?.sval).pop();
      if (typeName === 'interval' && c.sval !== undefined) return offsetZoneName(intervalSeconds(String(c.sval.sval ?? '')));
      if (c.ival !== undefined) return String(c.ival.ival ?? 0);
      if (c.fval !== undefined) return String(c.fval.fval ?? '0');
      if (c.sval !== undefined) return String(c.sval.sval ?? '');
      if (c.boolval !== undefined) return c.boolval.boolval ? 'on' : 'off';
      return '';
    })
    .join(', ');
}

/** Seconds east of an interval used as a time zone (`INTERVAL '+05:30'`); months or days are refused (22023) as PostgreSQL does. */
function intervalSeconds(text: string): number {
  let v: IntervalParts;
  try {
    v = parseInterval(text);
  } catch {
    throw new StratumError(SqlState.invalidParameterValue, `invalid interval value for time zone: "${text}"`);
  }
  if (v.months !== 0 || v.days !== 0)
    throw new StratumError(SqlState.invalidParameterValue, 'invalid interval value for time zone: day not allowed');
  return Math.round(Number(v.micros) / 1e6);
}

/** Milliseconds of a duration setting in PostgreSQL's syntax (`10s`, `'10000ms'`, `1min`, a bare number = ms); undefined when invalid. */
export function durationMs(v: string): number | undefined {
  try {
    return Number(parseSetting(settingDef('statement_timeout') as SettingDef, v, '0'));
  } catch {
    return undefined;
  }
}

/** Reported (ParameterStatus) values of settings that changed from `before` (PostgreSQL's GUC_REPORT parameters). */
function reportChanges(s: RouterSession, before: Readonly<Record<string, string>>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [k, rep] of Object.entries(REPORTED)) {
    if (s.settings[k] !== before[k]) {
      out ??= {};
      out[rep] = s.setting(k) ?? '';
    }
  }
  return out;
}

/** Remember the block's settings before its first SET (ROLLBACK restores them; SET LOCAL values end with the block). */
function noteBlockSet(s: RouterSession): void {
  const t = s.txn;
  if (t && !t.settingsBefore) {
    t.settingsBefore = { ...s.settings };
    t.sessionSets = new Map();
  }
}

/**
 * End of a transaction block for its settings (PostgreSQL 15 SET): after a COMMIT the block's
 * SET SESSION values stay and its SET LOCAL values end; after a ROLLBACK both end.
 * @returns ParameterStatus changes to report, if any.
 */
export function endBlockSettings(s: RouterSession, t: OpenTxn, committed: boolean): Record<string, string> | undefined {
  const before = t.settingsBefore;
  if (!before) return undefined;
  const now = { ...s.settings };
  const asOf = s.settings['stratum.as_of'];
  for (const k of Object.keys(s.settings)) delete s.settings[k];
  Object.assign(s.settings, before);
  if (committed) for (const [k, v] of t.sessionSets ?? []) s.settings[k] = v;
  if (asOf !== undefined) s.settings['stratum.as_of'] = asOf;
  return reportChanges(s, now);
}

/** RESET ALL / DISCARD ALL: every setting back to its value at connection start. */
function resetAll(s: RouterSession): void {
  for (const k of Object.keys(s.settings)) delete s.settings[k];
  Object.assign(s.settings, s.resetValues);
  for (const k of [...s.settingSources.keys()]) if (s.settingSources.get(k) !== 'client') s.settingSources.delete(k);
  s.asOfMs = undefined;
  s.settings['stratum.as_of'] = '';
  s.sqlPrepared.remove(undefined);
}

async function set(s: RouterSession, n: VariableSetStmt): Promise<StatementResult> {
  const before = { ...s.settings };
  const done = (tag: string): StatementResult => {
    const out: StatementResult = { commandTag: tag };
    const rep = reportChanges(s, before);
    if (rep) out.parameterStatus = rep;
    return out;
  };
  if (n.kind === 'VAR_RESET_ALL') {
    noteBlockSet(s);
    resetAll(s);
    for (const [k, v] of Object.entries(s.settings)) s.txn?.sessionSets?.set(k, v);
    return done('RESET');
  }
  if (n.kind === 'VAR_SET_MULTI') {
    // SET TRANSACTION … / SET SESSION CHARACTERISTICS AS TRANSACTION …
    const isolation =
      isolationOf(n.args) ?? (s.settings.default_transaction_isolation === 'serializable' ? 'serializable' : 'repeatable_read');
    if (n.name === 'TRANSACTION') {
      const t = s.txn;
      if (!t) return { commandTag: 'SET', notices: [warn('25P01', 'SET TRANSACTION can only be used in transaction blocks')] };
      if (t.isolation !== isolation) {
        if (t.used) throw new StratumError('25001', 'SET TRANSACTION ISOLATION LEVEL must be called before any query');
        const e = s.ctx.txEngines[t.engine] as TxEngineApi;
        await e.rollback(t.id);
        t.id = await e.begin(isolation);
        t.isolation = isolation;
      }
    } else s.settings.default_transaction_isolation = isolation === 'serializable' ? 'serializable' : 'repeatable read';
    return { commandTag: 'SET' };
  }
  if (n.kind !== 'VAR_SET_VALUE' && n.kind !== 'VAR_SET_CURRENT' && n.kind !== 'VAR_SET_DEFAULT' && n.kind !== 'VAR_RESET') {
    return { commandTag: 'SET' };
  }
  const name = String(n.name ?? '').toLowerCase();
  const reset = n.kind === 'VAR_RESET' || n.kind === 'VAR_SET_DEFAULT';
  const tag = n.kind === 'VAR_RESET' ? 'RESET' : 'SET';
  if (n.is_local && !s.txn) {
    // PostgreSQL: a warning, and the SET has no effect.
    return { commandTag: tag, notices: [warn('25P01', 'SET LOCAL can only be used in transaction blocks')] };
  }
  if (name === 'stratum.as_of') {
    setAsOf(s, reset ? '' : setValue(n.args));
    return { commandTag: tag };
  }
  if (name === 'stratum.session_token') {
    const v = reset ? '' : setValue(n.args);
    if (v.trim() !== '') s.adoptToken(v);
    return { commandTag: tag };
  }
  if (name === 'transaction_isolation' && !reset) {
    const v = checkSet(name, setValue(n.args), s.settings[name]);
    return set(s, {
      kind: 'VAR_SET_MULTI',
      name: 'TRANSACTION',
      args: [{ DefElem: { defname: 'transaction_isolation', arg: { A_Const: { sval: { sval: v } } } } }],
    });
  }
  const value = reset ? (s.resetValues[name] ?? defaultSetting(name)) : setValue(n.args);
  const stored = checkSet(name, value, s.settings[name]);
  if (s.txn) {
    noteBlockSet(s);
    if (!n.is_local) s.txn.sessionSets?.set(name, stored);
  }
  s.settings[name] = stored;
  if (!n.is_local) {
    if (reset && s.settingSources.get(name) !== 'client') s.settingSources.delete(name);
    else if (!reset) s.settingSources.set(name, 'session');
  }
  return done(tag);
}

/**
 * `SET stratum.as_of = '<timestamp>'` (ISO 8601 / PostgreSQL timestamp text; no zone = UTC;
 * '' or DEFAULT turns it off).
 * @throws 22007 for text that is not a timestamp, 22008 for a time in the future; 25001 after writes in a block.
 */
export function setAsOf(s: RouterSession, value: string): void {
  const v = value.trim();
  if (v === '' || v.toLowerCase() === 'default' || v.toLowerCase() === 'off') {
    s.asOfMs = undefined;
    s.settings['stratum.as_of'] = '';
    return;
  }
  const ms = parseTimestampMs(v);
  if (ms === undefined) {
    throw new StratumError(
      SqlState.invalidDatetimeFormat,
      `invalid input syntax for stratum.as_of: "${value}" (expected a timestamp such as 2026-11-22 10:00:00+00)`,
    );
  }
  if (ms > Date.now()) throw new StratumError('22008', `stratum.as_of ${value} is in the future: the state at that time is not known yet`);
  if (s.txn && s.txn.wrote.size > 0) throw new StratumError('25001', 'cannot set stratum.as_of after writes in this transaction block');
  s.asOfMs = ms;
  s.settings['stratum.as_of'] = new Date(ms).toISOString();
}

/** Milliseconds since epoch of timestamp text (ISO 8601 or `YYYY-MM-DD HH:MM:SS[.fff][+zz[:zz]]`; no zone = UTC). */
export function parseTimestampMs(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  if (!m) return undefined;
  let zone = m[3] ?? 'Z';
  if (/^(z|utc)$/i.test(zone)) zone = 'Z';
  else if (/^[+-]\d{2}$/.test(zone)) zone = `${zone}:00`;
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const time = (m[2] ?? '00:00:00').replace(/\.(\d{1,3})\d*$/, '.$1');
  const ms = Date.parse(`${m[1]}T${time.length === 5 ? `${time}:00` : time}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}

function show(s: RouterSession, name: string): StatementResult {
  const field = (n: string) => ({ name: n, typeOid: 25 });
  if (name === 'stratum.consistency') {
    const rows = s.catalog
      .list()
      .map((t) => [
        t.name,
        t.options.consistency.mode,
        t.options.consistency.maxStalenessMs?.toString() ?? null,
        t.options.consistency.allowDegraded ? 'on' : 'off',
      ]);
    rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    return { commandTag: 'SHOW', fields: [field('table_name'), field('mode'), field('max_staleness_ms'), field('allow_degraded')], rows };
  }
  if (name === 'all') {
    const rows = settingRows(s).map((r) => [r.name, showSetting(settingDef(r.name), r.setting), r.short_desc]);
    return { commandTag: 'SHOW', fields: [field('name'), field('setting'), field('description')], rows };
  }
  const v = s.setting(name);
  if (v === undefined) throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${name}"`);
  return { commandTag: 'SHOW', fields: [field(settingDef(name)?.name ?? name)], rows: [[v]] };
}
