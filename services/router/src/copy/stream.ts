/**
 * Adapters between the wire layer's COPY contract (`CopyInSink`, `CopyOutSource` in
 * ../pgwire/types.ts) and the SQL layer: the SQL layer gives a row consumer (COPY FROM) or a row
 * iterable (COPY TO); parsing, encoding, error context and the `COPY n` tag are handled here.
 */

import type { TextSettings } from '../pgwire/binary-format.ts';
import { toPgErrorLike } from '../pgwire/errors.ts';
import type { CopyInSink, CopyOutSource, Notice, StatementResult } from '../pgwire/types.ts';
import type { CopyOptions } from './options.ts';
import { createCopyParser } from './parse.ts';
import type { CopyRow } from './row.ts';
import { createCopyWriter } from './write.ts';

/** A copied column: its name and PostgreSQL type OID. */
export interface CopyColumn {
  name: string;
  typeOid: number;
}

/** The target of a COPY FROM. */
export interface CopyFromSpec<T = string | null> {
  /** Relation name as PostgreSQL prints it in CONTEXT (unqualified). */
  table: string;
  /** Copied columns, in input order. */
  columns: readonly CopyColumn[];
  options: CopyOptions;
  /**
   * Optional per-column conversion of text values (the column type's input: `coerceLiteral` with its typmod).
   * When given, the consumer gets converted values and conversion errors carry PostgreSQL's CONTEXT.
   */
  convert?: readonly ((text: string | null) => T)[];
}

/** What the SQL layer implements to store the rows of a COPY FROM. */
export interface CopyRowConsumer<T = string | null> {
  /**
   * The rows completed by one CopyData message, in input order (never empty). Awaited before the next
   * message is read (backpressure). Throw a PgErrorLike to fail the COPY; use `copyLineWhere` /
   * `copyColumnWhere` (./row.ts) for its `where`, e.g. a 23502 NOT NULL violation.
   */
  rows(batch: CopyRow<T>[]): Promise<void>;
  /** All data arrived and was accepted: store the rows atomically. Returns the number of rows copied (default: rows received). */
  commit(): Promise<number | undefined>;
  /** Messages for the client after a successful commit (sent as NOTICEs before `COPY n`). Optional. */
  notices?(): Notice[];
  /** The COPY failed (bad data, CopyFail, lost connection): discard everything received. Called at most once, never after `commit`. */
  abort(reason: string): Promise<void>;
}

/**
 * A {@link CopyInSink} that parses the client's data with `spec.options` and hands the rows to `consumer`.
 * Every error reaches the client with its SQLSTATE and CONTEXT; the consumer is aborted before the error
 * is reported, so nothing of a failed COPY is stored.
 */
export function createCopyInSink<T = string | null>(spec: CopyFromSpec<T>, consumer: CopyRowConsumer<T>): CopyInSink {
  const parser = createCopyParser<T>({
    table: spec.table,
    columns: spec.columns.map((c) => c.name),
    typeOids: spec.columns.map((c) => c.typeOid),
    options: spec.options,
    ...(spec.convert ? { convert: spec.convert } : {}),
  });
  let count = 0;
  let state: 'open' | 'done' = 'open';
  const abort = async (reason: string) => {
    if (state === 'done') return;
    state = 'done';
    await consumer.abort(reason);
  };
  const guarded = async <R>(fn: () => Promise<R>): Promise<R> => {
    if (state === 'done') throw new Error('COPY is already finished');
    try {
      return await fn();
    } catch (e) {
      try {
        await abort(toPgErrorLike(e).message);
      } catch {
        /* the original error is the one to report */
      }
      throw e;
    }
  };
  const deliver = async (rows: CopyRow<T>[]) => {
    if (rows.length > 0) {
      count += rows.length;
      await consumer.rows(rows);
    }
    parser.check();
  };
  const binary = spec.options.format === 'binary';
  return {
    kind: 'copy-in',
    format: spec.options.format,
    columnFormats: spec.columns.map(() => (binary ? 1 : 0)),
    write: (chunk) => guarded(() => deliver(parser.push(chunk))),
    end: () =>
      guarded(async () => {
        await deliver(parser.finish());
        const n = await consumer.commit();
        state = 'done';
        const notices = consumer.notices?.() ?? [];
        return { commandTag: `COPY ${n ?? count}`, ...(notices.length > 0 ? { notices } : {}) };
      }),
    fail: (message) => abort(message),
  };
}

/** The source of a COPY TO. */
export interface CopyToSpec {
  /** Copied columns (names for HEADER, type OIDs for binary). */
  columns: readonly CopyColumn[];
  options: CopyOptions;
  /** The session's DateStyle, TimeZone and IntervalStyle, which the rows' date/time text follows (binary format). */
  settings?: TextSettings;
}

/**
 * A {@link CopyOutSource} writing `rows` (PostgreSQL text-format values, null = SQL NULL) in `spec.options`'s
 * format, one CopyData per row, then `COPY n`. Binary values are encoded from their text form.
 * Breaking off (connection closed) calls `return` on the rows' iterator.
 */
export function createCopyOutSource(
  spec: CopyToSpec,
  rows: AsyncIterable<readonly (string | null)[]> | Iterable<readonly (string | null)[]>,
  extra: Omit<StatementResult, 'commandTag' | 'fields' | 'rows'> = {},
): CopyOutSource {
  const writer = createCopyWriter(spec);
  let count = 0;
  const binary = spec.options.format === 'binary';
  return {
    kind: 'copy-out',
    format: spec.options.format,
    columnFormats: spec.columns.map(() => (binary ? 1 : 0)),
    async *data() {
      let head = writer.header();
      // PostgreSQL sends the text/csv header line as its own message and prefixes the binary header to the first row.
      if (head && !binary) {
        yield head;
        head = null;
      }
      for await (const row of rows) {
        const data = writer.row(row);
        count++;
        if (head) {
          yield Buffer.concat([head, data]);
          head = null;
        } else yield data;
      }
      const tail = writer.trailer();
      if (head || tail) yield Buffer.concat([head ?? Buffer.alloc(0), tail ?? Buffer.alloc(0)]);
    },
    end: async () => ({ ...extra, commandTag: `COPY ${count}` }),
  };
}
