/**
 * Conversions at the DuckDB boundary (shared by the OLAP shard and the router's gather step): DuckDB result types → Stratum
 * {@link ResultType}s and stored-representation {@link Value}s (shared/src/types.ts), query
 * parameters → DuckDB bindings, and DuckDB errors → {@link StratumError} with a PostgreSQL
 * SQLSTATE (PostgreSQL 15 Appendix A).
 */
import {
  type DuckDBArrayValue,
  type DuckDBBlobValue,
  type DuckDBDateValue,
  type DuckDBIntervalValue,
  type DuckDBListValue,
  type DuckDBMaterializedResult,
  type DuckDBPreparedStatement,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBTimestampNanosecondsValue,
  type DuckDBTimestampSecondsValue,
  type DuckDBTimestampTZValue,
  type DuckDBTimestampValue,
  type DuckDBTimeValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  JsonDuckDBValueConverter,
} from '@duckdb/node-api';
import {
  type Literal,
  makeInterval,
  type QueryResult,
  type ResultColumn,
  type ResultType,
  SqlState,
  StratumError,
  type Value,
} from '../index.ts';
import { markedColumn, pgErrorOf } from './pg-macros.ts';

/** A per-column converter from a DuckDB value (never null here) to a stored Value. */
type Conv = ((v: DuckDBValue) => Value) | null;

interface ColumnPlan {
  type: ResultType;
  /** null = the DuckDB JS value already is the stored representation. */
  conv: Conv;
}

const str = (v: DuckDBValue): Value => String(v);
const toBigint = (v: DuckDBValue): Value => (typeof v === 'bigint' ? v : BigInt(v as number));

/** DuckDB's -infinity timestamp (µs); PostgreSQL's (types.ts TS_NEG_INFINITY) is one less. */
const DUCK_TS_NEG_INFINITY = -(2n ** 63n) + 1n;
/** DuckDB's -infinity date (days); PostgreSQL's (types.ts DATE_NEG_INFINITY) is one less. */
const DUCK_DATE_NEG_INFINITY = -2147483647;

/** Stored µs of a DuckDB timestamp: DuckDB's ±infinity become PostgreSQL's sentinels (+infinity is the same). */
function tsMicros(us: bigint): bigint {
  return us === DUCK_TS_NEG_INFINITY ? us - 1n : us;
}

/** Stored days of a DuckDB date: DuckDB's ±infinity become PostgreSQL's sentinels (+infinity is the same). */
function dateDays(d: number): number {
  return d === DUCK_DATE_NEG_INFINITY ? d - 1 : d;
}

/** Nested DuckDB types: a list of them is not a one-dimensional array of a scalar type. */
const NESTED = new Set<DuckDBTypeId>([
  DuckDBTypeId.LIST,
  DuckDBTypeId.ARRAY,
  DuckDBTypeId.STRUCT,
  DuckDBTypeId.MAP,
  DuckDBTypeId.UNION,
  DuckDBTypeId.VARIANT,
]);

/**
 * Map one DuckDB column type to its result type and a converter to the stored representation
 * (shared/src/types.ts): DECIMAL/HUGEINT → numeric text, TIME → µs, INTERVAL → ISO 8601 text,
 * BLOB → Uint8Array, LIST/ARRAY of a scalar → array of converted elements, JSON → json text;
 * other nested values → their JSON text.
 */
function planColumn(t: DuckDBType): ColumnPlan {
  if (t.alias?.toUpperCase() === 'JSON') return { type: 'json', conv: null };
  const marked = markedColumn(t);
  if (marked) return marked as ColumnPlan;
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { type: 'boolean', conv: null };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.SMALLINT:
      return { type: 'smallint', conv: null };
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.INTEGER:
      return { type: 'integer', conv: null };
    case DuckDBTypeId.UINTEGER:
      return { type: 'bigint', conv: toBigint };
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
      return { type: 'bigint', conv: null };
    case DuckDBTypeId.FLOAT:
      return { type: 'real', conv: null };
    case DuckDBTypeId.DOUBLE:
      return { type: 'double', conv: null };
    case DuckDBTypeId.VARCHAR:
      return { type: 'text', conv: null };
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.BIT:
      return { type: 'text', conv: str };
    case DuckDBTypeId.SQLNULL:
      return { type: 'text', conv: null };
    case DuckDBTypeId.TIMESTAMP:
      return { type: 'timestamp', conv: (v) => tsMicros((v as DuckDBTimestampValue).micros) };
    case DuckDBTypeId.TIMESTAMP_MS:
      return { type: 'timestamp', conv: (v) => (v as DuckDBTimestampMillisecondsValue).millis * 1000n };
    case DuckDBTypeId.TIMESTAMP_S:
      return { type: 'timestamp', conv: (v) => (v as DuckDBTimestampSecondsValue).seconds * 1_000_000n };
    case DuckDBTypeId.TIMESTAMP_NS: {
      // Floor to µs (PostgreSQL's resolution).
      return {
        type: 'timestamp',
        conv: (v) => {
          const ns = (v as DuckDBTimestampNanosecondsValue).nanos;
          const q = ns / 1000n;
          return ns < 0n && q * 1000n !== ns ? q - 1n : q;
        },
      };
    }
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { type: 'timestamptz', conv: (v) => tsMicros((v as DuckDBTimestampTZValue).micros) };
    case DuckDBTypeId.DATE:
      return { type: 'date', conv: (v) => dateDays((v as DuckDBDateValue).days) };
    case DuckDBTypeId.UUID:
      return { type: 'uuid', conv: str };
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
    case DuckDBTypeId.DECIMAL:
      return { type: 'numeric', conv: str };
    case DuckDBTypeId.INTERVAL:
      return {
        type: 'interval',
        conv: (v) => {
          const iv = v as DuckDBIntervalValue;
          return makeInterval({ months: iv.months, days: iv.days, micros: iv.micros });
        },
      };
    case DuckDBTypeId.TIME:
      return { type: 'time', conv: (v) => Number((v as DuckDBTimeValue).micros) };
    case DuckDBTypeId.TIME_NS:
      // Floor to µs (PostgreSQL's resolution); times are never negative.
      return { type: 'time', conv: (v) => Number((v as { nanos: bigint }).nanos / 1000n) };
    case DuckDBTypeId.TIME_TZ:
      return { type: 'text', conv: str };
    case DuckDBTypeId.BLOB:
      return { type: 'bytea', conv: (v) => (v as DuckDBBlobValue).bytes };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const child = (t as { valueType: DuckDBType }).valueType;
      // Elements the rewrite marked (a numeric[] of text numerics) are the marked type's elements.
      if (!NESTED.has(child.typeId) || markedColumn(child)) {
        const cp = planColumn(child);
        if (cp.type !== 'unknown' && !cp.type.endsWith('[]')) {
          const conv = cp.conv;
          return {
            type: `${cp.type}[]` as ResultType,
            conv: (v) => {
              const items = (v as DuckDBListValue | DuckDBArrayValue).items;
              return items.map((x) => (x === null || x === undefined ? null : conv === null ? (x as Value) : conv(x)));
            },
          };
        }
      }
      return { type: 'json', conv: (v) => JSON.stringify(JsonDuckDBValueConverter(v, t, JsonDuckDBValueConverter)) };
    }
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
    case DuckDBTypeId.UNION:
    case DuckDBTypeId.VARIANT:
      return { type: 'json', conv: (v) => JSON.stringify(JsonDuckDBValueConverter(v, t, JsonDuckDBValueConverter)) };
    default:
      return { type: 'text', conv: str };
  }
}

/** The {@link ResultType} a DuckDB column type is reported as. */
export function resultTypeOf(t: DuckDBType): ResultType {
  return planColumn(t).type;
}

/**
 * Convert a materialized DuckDB result to a {@link QueryResult} (column-wise per chunk: one
 * converter call per non-null value, no per-row allocation beyond the row arrays).
 */
export async function convertResult(res: DuckDBMaterializedResult): Promise<QueryResult> {
  const n = res.columnCount;
  const names = res.columnNames();
  const plans: ColumnPlan[] = [];
  const columns: ResultColumn[] = [];
  for (let c = 0; c < n; c++) {
    const plan = planColumn(res.columnType(c));
    plans.push(plan);
    columns.push({ name: names[c] ?? `column${c}`, type: plan.type });
  }
  const rows: Value[][] = [];
  // A materialized result's chunks are read synchronously (no thread-pool round trip per chunk).
  const chunks = res.chunkCount;
  for (let i = 0; i < chunks; i++) {
    const chunk = res.getChunk(i);
    if (chunk.rowCount === 0) continue;
    const base = rows.length;
    const count = chunk.rowCount;
    for (let r = 0; r < count; r++) rows.push(new Array<Value>(n));
    for (let c = 0; c < n; c++) {
      const vals = chunk.getColumnValues(c);
      const conv = (plans[c] as ColumnPlan).conv;
      if (conv === null) {
        for (let r = 0; r < count; r++) (rows[base + r] as Value[])[c] = vals[r] as Value;
      } else {
        for (let r = 0; r < count; r++) {
          const v = vals[r];
          (rows[base + r] as Value[])[c] = v === null || v === undefined ? null : conv(v);
        }
      }
    }
  }
  return { columns, rows };
}

/** Convert one DuckDB value of type `t` to its stored representation (used for zone maps). */
export function convertValue(v: DuckDBValue, t: DuckDBType): Value {
  if (v === null) return null;
  const { conv } = planColumn(t);
  return conv === null ? (v as Value) : conv(v);
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Bind `params` to `$1..$n` of `stmt`. JS numbers bind as INTEGER/BIGINT when integral (else
 * DOUBLE), bigint as BIGINT (HUGEINT beyond 64 bits), strings as VARCHAR (DuckDB casts them to
 * the parameter's type, like PostgreSQL's text-format parameters), booleans as BOOLEAN.
 * @throws StratumError 08P01 when the count does not match the statement's parameters.
 */
export function bindParams(stmt: DuckDBPreparedStatement, params: readonly Literal[]): void {
  const want = stmt.parameterCount;
  if (want !== params.length) {
    throw new StratumError(
      SqlState.protocolViolation,
      `bind message supplies ${params.length} parameters, but the statement requires ${want}`,
    );
  }
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    const idx = i + 1;
    if (p === null || p === undefined) stmt.bindNull(idx);
    else if (typeof p === 'boolean') stmt.bindBoolean(idx, p);
    else if (typeof p === 'string') stmt.bindVarchar(idx, p);
    else if (typeof p === 'bigint') {
      if (p >= INT64_MIN && p <= INT64_MAX) stmt.bindBigInt(idx, p);
      else stmt.bindHugeInt(idx, p);
    } else if (typeof p === 'number') {
      if (Number.isInteger(p) && p >= INT32_MIN && p <= INT32_MAX) stmt.bindInteger(idx, p);
      else if (Number.isSafeInteger(p)) stmt.bindBigInt(idx, BigInt(p));
      else stmt.bindDouble(idx, p);
    } else {
      throw new StratumError(SqlState.invalidParameterValue, `parameter $${idx} has unsupported type ${typeof p}`);
    }
  }
}

/** [DuckDB error class prefix or message pattern, SQLSTATE] in match order (first wins). */
const RULES: [RegExp, string][] = [
  [/division by zero/i, '22012'],
  [/^Parser Error/, SqlState.syntaxError],
  [/^Catalog Error: (Scalar |Aggregate |Table |Macro |Pragma |Copy )?Function/i, SqlState.undefinedFunction],
  [/^Catalog Error: Type with name/, SqlState.undefinedObject],
  [/^Catalog Error: Schema with name/, '3F000'],
  [/^Catalog Error: .*does not exist/, SqlState.undefinedTable],
  [
    /^Binder Error: (Referenced column|Column .* not found|.*column .*not found|Values list .* does not have a column)/i,
    SqlState.undefinedColumn,
  ],
  [/^Binder Error: Referenced table .* not found/, SqlState.undefinedTable],
  [/^Binder Error: (No function matches|Could not choose a best candidate function)/, SqlState.undefinedFunction],
  [/^Binder Error: .*(GROUP BY clause|aggregate function)/i, '42803'],
  [/^Binder Error: .*(Cannot compare values|Cannot mix values|cannot be cast|type mismatch)/i, SqlState.datatypeMismatch],
  [/^Binder Error/, '42000'],
  [/^Conversion Error: .*out of range/i, SqlState.numericValueOutOfRange],
  [/^Conversion Error: .*(timestamp|date|time)/i, SqlState.invalidDatetimeFormat],
  [/^Conversion Error/, SqlState.invalidTextRepresentation],
  [/^Out of Range Error/, SqlState.numericValueOutOfRange],
  [/^Invalid Input Error: .*(parameters|prepared statement)/i, SqlState.protocolViolation],
  [/^Invalid Input Error: .*(multiple statements)/i, SqlState.syntaxError],
  [/^Invalid Input Error/, SqlState.invalidParameterValue],
  [/^Permission Error/, '42501'],
  [/^INTERRUPT Error/i, SqlState.queryCanceled],
  [/^Out of Memory Error/, '53200'],
  [/^IO Error/, SqlState.ioError],
  [/^Not implemented Error/, SqlState.featureNotSupported],
  [/^Constraint Error/, '23000'],
  [/^(Mismatch Type|Invalid type) Error/, SqlState.datatypeMismatch],
  [/^TransactionContext Error/, '25000'],
];

/**
 * Map an error thrown by DuckDB to a {@link StratumError} whose message is DuckDB's first
 * paragraph (the `LINE n:` excerpt goes to `detail`). StratumErrors pass through unchanged;
 * anything unrecognised becomes XX000.
 */
export function mapDuckDbError(e: unknown): StratumError {
  if (e instanceof StratumError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  const cut = raw.indexOf('\n\nLINE ');
  const message = (cut >= 0 ? raw.slice(0, cut) : raw).trim();
  const detail = cut >= 0 ? raw.slice(cut + 2).trim() : undefined;
  const pg = pgErrorOf(message);
  if (pg) return new StratumError(pg.code, pg.message, { cause: e });
  let code: string = SqlState.internalError;
  for (const [re, c] of RULES) {
    if (re.test(message)) {
      code = c;
      break;
    }
  }
  return new StratumError(code, message, detail === undefined ? { cause: e } : { cause: e, detail });
}
