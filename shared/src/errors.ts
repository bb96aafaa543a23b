/**
 * Error classes. Each failure a caller may handle has its own class with a stable `name`
 * and a `code`: the PostgreSQL SQLSTATE a pgwire client sees (PostgreSQL 15 Appendix A,
 * "PostgreSQL Error Codes"). Messages name the table, column, key, file or config path.
 */

/** Options common to every Stratum error. */
export interface StratumErrorOptions {
  cause?: unknown;
  detail?: string;
  hint?: string;
  /** 1-based character position in the SQL text, when the error points into a statement. */
  position?: number;
}

/** Base class: every error raised on purpose by Stratum. `code` is a 5-character SQLSTATE. */
export class StratumError extends Error {
  override name = 'StratumError';
  readonly code: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: number | undefined;
  constructor(code: string, message: string, opts: StratumErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.detail = opts.detail;
    this.hint = opts.hint;
    this.position = opts.position;
  }
}

/** SQLSTATE codes used by Stratum (PostgreSQL 15 Appendix A). */
export const SqlState = {
  syntaxError: '42601',
  undefinedTable: '42P01',
  undefinedColumn: '42703',
  duplicateTable: '42P07',
  duplicateColumn: '42701',
  invalidTableDefinition: '42P16',
  datatypeMismatch: '42804',
  undefinedFunction: '42883',
  invalidTextRepresentation: '22P02',
  invalidBinaryRepresentation: '22P03',
  numericValueOutOfRange: '22003',
  invalidDatetimeFormat: '22007',
  datetimeFieldOverflow: '22008',
  stringDataRightTruncation: '22001',
  intervalFieldOverflow: '22015',
  untranslatableCharacter: '22P05',
  uniqueViolation: '23505',
  notNullViolation: '23502',
  featureNotSupported: '0A000',
  protocolViolation: '08P01',
  programLimitExceeded: '54000',
  serializationFailure: '40001',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  connectionFailure: '08006',
  invalidParameterValue: '22023',
  undefinedObject: '42704',
  configFileError: 'F0000',
  ioError: '58030',
  diskFull: '53100',
  internalError: 'XX000',
  dataCorrupted: 'XX001',
  invalidSqlStatementName: '26000',
  cardinalityViolation: '21000',
  undefinedParameter: '42P02',
  insufficientResources: '53000',
} as const;

/** Invalid configuration: names the file, the path inside it and what was expected. */
export class ConfigError extends StratumError {
  override name = 'ConfigError';
  constructor(message: string, opts: StratumErrorOptions = {}) {
    super(SqlState.configFileError, message, opts);
  }
}

/** A statement refers to a table, column or type that does not exist, or violates the schema. */
export class SchemaError extends StratumError {
  override name = 'SchemaError';
}

/** A value cannot be converted to the column's type (22P02, 22003, 22007, ...). */
export class DataError extends StratumError {
  override name = 'DataError';
}

/** A constraint (PRIMARY KEY, NOT NULL) would be violated (23505, 23502). */
export class ConstraintError extends StratumError {
  override name = 'ConstraintError';
}

/** SQL that the grammar accepts but Stratum does not implement (0A000). */
export class UnsupportedError extends StratumError {
  override name = 'UnsupportedError';
  constructor(message: string, opts: StratumErrorOptions = {}) {
    super(SqlState.featureNotSupported, message, opts);
  }
}

/** The bus could not be reached or refused a publish; callers retry with backoff. */
export class BusUnavailableError extends StratumError {
  override name = 'BusUnavailableError';
  constructor(message: string, opts: StratumErrorOptions = {}) {
    super(SqlState.connectionFailure, message, opts);
  }
}

/** A tier (TX engine, ingestion, OLAP shard) did not answer or answered with an error. */
export class TierUnavailableError extends StratumError {
  override name = 'TierUnavailableError';
  constructor(message: string, opts: StratumErrorOptions = {}) {
    super(SqlState.connectionFailure, message, opts);
  }
}

/** A read could not meet the table's consistency mode in time (57014 / 40001). */
export class ConsistencyUnavailableError extends StratumError {
  override name = 'ConsistencyUnavailableError';
}

/** Stored data failed a check on read (XX001); the data is reported, never silently used. */
export class CorruptionError extends StratumError {
  override name = 'CorruptionError';
  constructor(message: string, opts: StratumErrorOptions = {}) {
    super(SqlState.dataCorrupted, message, opts);
  }
}

/** Why a statement was stopped: a CancelRequest (`user`) or `statement_timeout` (`timeout`). */
export type CancelReason = 'user' | 'timeout';

/**
 * A statement stopped by a CancelRequest or by `statement_timeout` (57014), worded as PostgreSQL
 * words it (`ProcessInterrupts` in src/backend/tcop/postgres.c). It is the `reason` of the
 * statement's AbortSignal, so every tier that stops on that signal throws this same error.
 */
export class QueryCanceledError extends StratumError {
  override name = 'QueryCanceledError';
  readonly reason: CancelReason;
  constructor(reason: CancelReason, opts: StratumErrorOptions = {}) {
    super(
      SqlState.queryCanceled,
      reason === 'user' ? 'canceling statement due to user request' : 'canceling statement due to statement timeout',
      opts,
    );
    this.reason = reason;
  }
}

/** True when `e` carries a SQLSTATE-like `code` (from Stratum or over RPC). */
export function hasSqlState(e: unknown): e is { code: string; message: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((e as { code: string }).code)
  );
}

/** Serialisable form of an error for RPC responses. */
export interface ErrorPayload {
  name: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
}

/** Convert any thrown value into an {@link ErrorPayload} (unknown errors become XX000). */
export function toErrorPayload(e: unknown): ErrorPayload {
  if (hasSqlState(e)) {
    const se = e as StratumError;
    const out: ErrorPayload = { name: se.name ?? 'StratumError', code: se.code, message: se.message };
    if (se.detail !== undefined) out.detail = se.detail;
    if (se.hint !== undefined) out.hint = se.hint;
    if (se.position !== undefined) out.position = se.position;
    return out;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { name: 'Error', code: SqlState.internalError, message: msg };
}

/** Rebuild a {@link StratumError} from an RPC {@link ErrorPayload}. */
export function fromErrorPayload(p: ErrorPayload): StratumError {
  const opts: StratumErrorOptions = {};
  if (p.detail !== undefined) opts.detail = p.detail;
  if (p.hint !== undefined) opts.hint = p.hint;
  if (p.position !== undefined) opts.position = p.position;
  const e = new StratumError(p.code, p.message, opts);
  e.name = p.name;
  return e;
}
