/**
 * Rows produced by the COPY FROM parsers and PostgreSQL's error CONTEXT for them
 * (`CopyFromErrorCallback` in src/backend/commands/copyfrom.c, PostgreSQL 15).
 */
import { PgError } from '../pgwire/errors.ts';

/** One parsed input row. */
export interface CopyRow<T = string | null> {
  /**
   * 1-based line number as PostgreSQL counts it (`cur_lineno`): the header is line 1; a CSV row with
   * quoted newlines counts them; in binary format, the tuple number.
   */
  line: number;
  /**
   * One value per copied column in PostgreSQL *text* format (null = SQL NULL). Binary input is
   * decoded with each column type's binary format into the same text form, so one conversion path serves
   * all three formats.
   */
  values: T[];
  /** The input line without its terminator (text and csv), for error context; absent for binary. */
  raw?: Buffer;
}

/** PostgreSQL's MAX_COPY_DATA_DISPLAY: context values are cut to this many bytes (at a character boundary) plus "...". */
const MAX_DISPLAY_BYTES = 100;

/** Cut `s` to at most 100 UTF-8 bytes at a character boundary and append "..." when cut (`limit_printout_length`). */
export function limitPrintout(s: string): string {
  if (s.length <= MAX_DISPLAY_BYTES / 4 || Buffer.byteLength(s) <= MAX_DISPLAY_BYTES) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > MAX_DISPLAY_BYTES) break;
    bytes += n;
    end += ch.length;
  }
  return `${s.slice(0, end)}...`;
}

/**
 * CONTEXT for an error about a whole row: `COPY t, line 3: "<line>"` (binary: `COPY t, line 3`).
 * `table` is the relation name as PostgreSQL prints it (unqualified).
 */
export function copyLineWhere(table: string, row: Pick<CopyRow, 'line' | 'raw'>): string {
  if (row.raw === undefined) return `COPY ${table}, line ${row.line}`;
  return `COPY ${table}, line ${row.line}: "${limitPrintout(row.raw.toString('utf8'))}"`;
}

/**
 * CONTEXT for an error converting one value: `COPY t, line 3, column b: "x"`, `…, column b: null input`,
 * or (binary) `COPY t, line 3, column b`.
 */
export function copyColumnWhere(table: string, row: Pick<CopyRow, 'line' | 'raw'>, column: string, value: string | null): string {
  const head = `COPY ${table}, line ${row.line}, column ${column}`;
  if (row.raw === undefined) return head;
  return value === null ? `${head}: null input` : `${head}: "${limitPrintout(value)}"`;
}

/** Set `where` on an error (a PgError, or any error object carrying a SQLSTATE `code`) unless it already has one; returns it. */
export function withWhere<E>(err: E, where: string): E {
  if (typeof err === 'object' && err !== null && (err as { where?: unknown }).where === undefined) {
    (err as { where?: string }).where = where;
  }
  return err;
}

/**
 * Convert one row's text values with a converter per column (e.g. the column type's input function,
 * `coerceLiteral`), attaching PostgreSQL's CONTEXT (`COPY t, line 3, column b: "x"`) to any error thrown.
 */
export function convertCopyRow<T>(
  table: string,
  columns: readonly string[],
  row: CopyRow,
  convert: readonly ((text: string | null) => T)[],
): T[] {
  const out: T[] = new Array(row.values.length);
  for (let i = 0; i < row.values.length; i++) {
    const v = row.values[i] as string | null;
    try {
      out[i] = (convert[i] as (text: string | null) => T)(v);
    } catch (e) {
      throw withWhere(e, copyColumnWhere(table, row, columns[i] ?? `$${i + 1}`, v));
    }
  }
  return out;
}

/** 22P04 bad_copy_file_format with a CONTEXT. */
export function badCopyFormat(message: string, where: string, hint?: string): PgError {
  return new PgError('22P04', message, hint === undefined ? { where } : { where, hint });
}
