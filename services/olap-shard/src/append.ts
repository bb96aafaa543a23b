/**
 * Loading {@link VersionRecord}s into DuckDB tables with the appender (internal). Values are
 * checked against the column's {@link SqlType} (stored representation, shared types.ts) and
 * appended with the typed appender calls, so no SQL text is built per row.
 */
import {
  type DuckDBAppender,
  DuckDBDateValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
} from '@duckdb/node-api';
import { DataError, type SqlType, SqlState, type TableInfo, type Value, type VersionRecord } from './shared.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function asBigint(v: Value): bigint | undefined {
  if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    return b >= INT64_MIN && b <= INT64_MAX ? b : undefined;
  }
  return undefined;
}

/** True when `v` can be appended to a column of `type` (stored representation, lenient on bigint/number). */
function validFor(type: SqlType, v: Exclude<Value, null>): boolean {
  switch (type) {
    case 'smallint':
    case 'integer': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      const lim = type === 'smallint' ? 32768 : 2147483648;
      return typeof n === 'number' && Number.isInteger(n) && n >= -lim && n < lim;
    }
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      return asBigint(v) !== undefined;
    case 'real':
    case 'double':
      return typeof v === 'number';
    case 'text':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'date':
      return typeof v === 'number' && Number.isInteger(v);
    case 'uuid':
      return typeof v === 'string' && UUID_RE.test(v);
  }
}

/** Appender call for a value already checked by {@link validFor}. */
type Put = (a: DuckDBAppender, v: Exclude<Value, null>) => void;

function putter(type: SqlType): Put {
  switch (type) {
    case 'smallint':
      return (a, v) => a.appendSmallInt(Number(v));
    case 'integer':
      return (a, v) => a.appendInteger(Number(v));
    case 'bigint':
      return (a, v) => a.appendBigInt(asBigint(v) as bigint);
    case 'real':
      return (a, v) => a.appendFloat(v as number);
    case 'double':
      return (a, v) => a.appendDouble(v as number);
    case 'text':
      return (a, v) => a.appendVarchar(v as string);
    case 'boolean':
      return (a, v) => a.appendBoolean(v as boolean);
    case 'timestamp':
      return (a, v) => a.appendTimestamp(new DuckDBTimestampValue(asBigint(v) as bigint));
    case 'timestamptz':
      return (a, v) => a.appendTimestampTZ(new DuckDBTimestampTZValue(asBigint(v) as bigint));
    case 'date':
      return (a, v) => a.appendDate(new DuckDBDateValue(v as number));
    case 'uuid':
      // The appender casts VARCHAR to the UUID column.
      return (a, v) => a.appendVarchar(v as string);
  }
}

/** Appends versions of one table: user columns, then `_ts`, `_version`, `_op`, `_engine`. */
export class VersionAppender {
  private readonly puts: Put[];
  /** For each column, its index in the primary key (to fill it from `key` for deletes), or -1. */
  private readonly keyPos: number[];
  private readonly vals: Value[];

  constructor(
    private readonly table: TableInfo,
    /** `_ts` column type of the target table. */
    private readonly tsType: 'TIMESTAMP_MS' | 'TIMESTAMP',
  ) {
    this.puts = table.columns.map((c) => putter(c.type));
    this.keyPos = table.columns.map((c) => table.primaryKey.indexOf(c.name));
    this.vals = new Array<Value>(table.columns.length).fill(null);
  }

  /**
   * Append one version. Key columns come from `row`, or from `key` when the row lacks them
   * (deletes carry `row: null`); other columns of a delete are NULL. The version is checked
   * before anything is appended, so a refused version leaves the appender untouched.
   * @throws DataError 22023 naming table, column and version when a value does not fit.
   */
  append(a: DuckDBAppender, v: VersionRecord): void {
    const problem = this.check(v);
    if (problem) {
      throw new DataError(SqlState.invalidParameterValue, `${problem} (table "${this.table.name}", version ${String(v.version)})`);
    }
    const vals = this.vals;
    for (let i = 0; i < vals.length; i++) {
      const x = vals[i] as Value;
      if (x === null) a.appendNull();
      else (this.puts[i] as Put)(a, x);
    }
    const ms = BigInt(Math.trunc(v.commitTs));
    if (this.tsType === 'TIMESTAMP_MS') a.appendTimestampMilliseconds(new DuckDBTimestampMillisecondsValue(ms));
    else a.appendTimestamp(new DuckDBTimestampValue(ms * 1000n));
    a.appendVarchar(v.version);
    a.appendVarchar(v.op);
    a.appendVarchar(String(v.engine));
    a.endRow();
  }

  /** Fill `this.vals` from `v` and validate everything; returns what is wrong, if anything. */
  private check(v: VersionRecord): string | undefined {
    if (!Number.isFinite(v.commitTs)) return `commitTs ${String(v.commitTs)} is not a number of ms`;
    if (typeof v.version !== 'string' || !UUID_RE.test(v.version)) return `version "${String(v.version)}" is not a UUID`;
    if (v.op !== 'insert' && v.op !== 'update' && v.op !== 'delete') return `op "${String(v.op)}" is not insert/update/delete`;
    const row = v.row;
    const cols = this.table.columns;
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i] as (typeof cols)[number];
      let val: Value | undefined = row ? row[c.name] : undefined;
      const kp = this.keyPos[i] as number;
      if ((val === undefined || val === null) && kp >= 0) val = Array.isArray(v.key) ? v.key[kp] : undefined;
      if (val === undefined) val = null;
      if (val !== null && !validFor(c.type, val)) {
        return `value ${typeof val === 'bigint' ? `${val}n` : JSON.stringify(val)} (${typeof val}) is not a valid ${c.type} for column "${c.name}"`;
      }
      if (val === null && kp >= 0) return `primary-key column "${c.name}" is NULL`;
      this.vals[i] = val;
    }
    return undefined;
  }
}
