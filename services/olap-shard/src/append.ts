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
import { DataError, type SqlType, SqlState, type TableInfo, type Value, type VersionRecord } from '@stratum/shared';

type Put = (a: DuckDBAppender, v: Value) => void;

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

/** Appender call for a column of `type`; returns false when `v` is not a valid value of it. */
function putter(type: SqlType): (a: DuckDBAppender, v: Exclude<Value, null>) => boolean {
  switch (type) {
    case 'smallint':
      return (a, v) => {
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < -32768 || n > 32767) return false;
        a.appendSmallInt(n);
        return true;
      };
    case 'integer':
      return (a, v) => {
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) return false;
        a.appendInteger(n);
        return true;
      };
    case 'bigint':
      return (a, v) => {
        const b = asBigint(v);
        if (b === undefined) return false;
        a.appendBigInt(b);
        return true;
      };
    case 'real':
      return (a, v) => {
        if (typeof v !== 'number') return false;
        a.appendFloat(v);
        return true;
      };
    case 'double':
      return (a, v) => {
        if (typeof v !== 'number') return false;
        a.appendDouble(v);
        return true;
      };
    case 'text':
      return (a, v) => {
        if (typeof v !== 'string') return false;
        a.appendVarchar(v);
        return true;
      };
    case 'boolean':
      return (a, v) => {
        if (typeof v !== 'boolean') return false;
        a.appendBoolean(v);
        return true;
      };
    case 'timestamp':
      return (a, v) => {
        const b = asBigint(v);
        if (b === undefined) return false;
        a.appendTimestamp(new DuckDBTimestampValue(b));
        return true;
      };
    case 'timestamptz':
      return (a, v) => {
        const b = asBigint(v);
        if (b === undefined) return false;
        a.appendTimestampTZ(new DuckDBTimestampTZValue(b));
        return true;
      };
    case 'date':
      return (a, v) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) return false;
        a.appendDate(new DuckDBDateValue(v));
        return true;
      };
    case 'uuid':
      return (a, v) => {
        if (typeof v !== 'string' || !UUID_RE.test(v)) return false;
        a.appendVarchar(v); // the appender casts VARCHAR to the UUID column
        return true;
      };
  }
}

/** Appends versions of one table: user columns, then `_ts`, `_version`, `_op`, `_engine`. */
export class VersionAppender {
  private readonly puts: Put[];
  /** For each column, its index in the primary key (to fill it from `key` for deletes), or -1. */
  private readonly keyPos: number[];

  constructor(
    private readonly table: TableInfo,
    /** `_ts` column type of the target table. */
    private readonly tsType: 'TIMESTAMP_MS' | 'TIMESTAMP',
  ) {
    this.puts = table.columns.map((c) => {
      const put = putter(c.type);
      return (a: DuckDBAppender, v: Value) => {
        if (v === null || v === undefined) a.appendNull();
        else if (!put(a, v)) {
          throw new DataError(
            SqlState.invalidParameterValue,
            `value ${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)} (${typeof v}) is not a valid ${c.type} for column "${c.name}" of table "${table.name}"`,
          );
        }
      };
    });
    this.keyPos = table.columns.map((c) => table.primaryKey.indexOf(c.name));
  }

  /**
   * Append one version. Key columns come from `row`, or from `key` when the row lacks them
   * (deletes carry `row: null`); other columns of a delete are NULL.
   * @throws DataError 22023 naming table, column and version when a value does not fit its column.
   */
  append(a: DuckDBAppender, v: VersionRecord): void {
    const row = v.row;
    const cols = this.table.columns;
    try {
      for (let i = 0; i < cols.length; i++) {
        const name = (cols[i] as { name: string }).name;
        let val: Value | undefined = row ? row[name] : undefined;
        const kp = this.keyPos[i] as number;
        if ((val === undefined || val === null) && kp >= 0) val = v.key[kp];
        (this.puts[i] as Put)(a, val ?? null);
      }
      if (!Number.isFinite(v.commitTs)) {
        throw new DataError(SqlState.invalidParameterValue, `commitTs ${v.commitTs} is not a number of ms`);
      }
      const ms = BigInt(Math.trunc(v.commitTs));
      if (this.tsType === 'TIMESTAMP_MS') a.appendTimestampMilliseconds(new DuckDBTimestampMillisecondsValue(ms));
      else a.appendTimestamp(new DuckDBTimestampValue(ms * 1000n));
      if (typeof v.version !== 'string' || !UUID_RE.test(v.version)) {
        throw new DataError(SqlState.invalidParameterValue, `version "${String(v.version)}" is not a UUID`);
      }
      a.appendVarchar(v.version);
      if (v.op !== 'insert' && v.op !== 'update' && v.op !== 'delete') {
        throw new DataError(SqlState.invalidParameterValue, `op "${String(v.op)}" is not insert/update/delete`);
      }
      a.appendVarchar(v.op);
      a.appendVarchar(String(v.engine));
      a.endRow();
    } catch (e) {
      // Drop the half-written row so the appender stays usable for the caller's cleanup.
      a.clear();
      if (e instanceof DataError) {
        throw new DataError(e.code, `${e.message} (table "${this.table.name}", version ${v.version})`, { cause: e });
      }
      throw e;
    }
  }
}
