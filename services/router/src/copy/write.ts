/**
 * COPY TO writers for the text, csv and binary formats: one buffer per row, as PostgreSQL sends
 * one CopyData message per row. Output matches PostgreSQL 15 byte for byte
 * (src/backend/commands/copyto.c: `CopyAttributeOutText`, `CopyAttributeOutCSV`, `CopyOneRowTo`).
 */
import { encodeBinaryValue, type TextSettings } from '../pgwire/binary-format.ts';
import type { CopyOptions } from './options.ts';
import { BINARY_SIGNATURE } from './parse.ts';

/** Encodes rows of text-format values (null = SQL NULL) into COPY data. */
export interface CopyWriter {
  /** Bytes before the first row (the text/csv header line; the binary file header), or null. */
  header(): Buffer | null;
  /** One row; `values` are PostgreSQL text format, one per column. */
  row(values: readonly (string | null)[]): Buffer;
  /** Bytes after the last row (the binary trailer), or null. */
  trailer(): Buffer | null;
}

/** What a writer needs: the options and the copied columns (names for HEADER, type OIDs for binary). */
export interface CopyWriterSpec {
  options: CopyOptions;
  columns: readonly { name: string; typeOid: number }[];
  /** The session's DateStyle, TimeZone and IntervalStyle, which the text values of dates, times and intervals follow (binary format). */
  settings?: TextSettings;
}

/** Create the writer for `spec.options.format`. Binary values are encoded from their text form (`encodeBinaryValue`). */
export function createCopyWriter(spec: CopyWriterSpec): CopyWriter {
  const o = spec.options;
  if (o.format === 'binary') return binaryWriter(spec);
  const encode = o.format === 'csv' ? csvEncoder(o, spec.columns.length) : textEncoder(o);
  const delim = o.delimiter;
  const line = (values: readonly (string | null)[], header: boolean) => {
    let s = '';
    for (let i = 0; i < values.length; i++) {
      if (i > 0) s += delim;
      const v = values[i] as string | null;
      s += v === null ? o.null : encode(v, i, header);
    }
    return Buffer.from(`${s}\n`, 'utf8');
  };
  return {
    header: () =>
      o.header
        ? line(
            spec.columns.map((c) => c.name),
            true,
          )
        : null,
    row: (values) => line(values, false),
    trailer: () => null,
  };
}

/** PostgreSQL's `CopyAttributeOutText`: backslash-escape the backslash, the delimiter and control characters. */
function textEncoder(o: CopyOptions): (v: string, column: number, header: boolean) => string {
  const delim = o.delimiter;
  const special = new RegExp(`[\\\\\\x00-\\x1f${delim.replace(/[\\\]^-]/g, '\\$&')}]`);
  const specialAll = new RegExp(special.source, 'g');
  return (v) => {
    if (!special.test(v)) return v;
    return v.replace(specialAll, (ch) => {
      switch (ch) {
        case '\b':
          return '\\b';
        case '\f':
          return '\\f';
        case '\n':
          return '\\n';
        case '\r':
          return '\\r';
        case '\t':
          return '\\t';
        case '\v':
          return '\\v';
        case '\\':
          return '\\\\';
        default:
          // The delimiter is backslashed; other control characters are sent as they are.
          return ch === delim ? `\\${ch}` : ch;
      }
    });
  };
}

/** PostgreSQL's `CopyAttributeOutCSV`: quote when forced, when equal to the NULL string, or when holding the delimiter, quote, CR or LF. */
function csvEncoder(o: CopyOptions, columnCount: number): (v: string, column: number, header: boolean) => string {
  const { delimiter: delim, quote, escape: esc } = o;
  const single = columnCount === 1;
  const escapeAll = new RegExp(`[${[quote, esc].map((c) => c.replace(/[\\\]^-]/g, '\\$&')).join('')}]`, 'g');
  return (v, column, header) => {
    let use = !header && o.forceQuote[column] === true;
    if (!use && v === o.null) use = true;
    if (!use) {
      // `\.` alone on a line would read back as the end-of-data marker.
      if (single && v === '\\.') use = true;
      else if (v.includes(delim) || v.includes(quote) || v.includes('\n') || v.includes('\r')) use = true;
    }
    if (!use) return v;
    return `${quote}${v.replace(escapeAll, (ch) => `${esc}${ch}`)}${quote}`;
  };
}

function binaryWriter(spec: CopyWriterSpec): CopyWriter {
  const oids = spec.columns.map((c) => c.typeOid);
  const settings = spec.settings ?? {};
  return {
    header: () => {
      const b = Buffer.alloc(19);
      BINARY_SIGNATURE.copy(b, 0);
      return b; // flags 0, no header extension
    },
    row: (values) => {
      const parts: Buffer[] = [];
      let size = 2;
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as string | null;
        if (v === null) {
          parts.push(NULL_FIELD);
          size += 4;
          continue;
        }
        const data = encodeBinaryValue(oids[i] as number, v, settings);
        const len = Buffer.allocUnsafe(4);
        len.writeInt32BE(data.length);
        parts.push(len, data);
        size += 4 + data.length;
      }
      const out = Buffer.allocUnsafe(size);
      out.writeInt16BE(values.length, 0);
      let off = 2;
      for (const p of parts) off += p.copy(out, off);
      return out;
    },
    trailer: () => Buffer.from([0xff, 0xff]),
  };
}

const NULL_FIELD = Buffer.from([0xff, 0xff, 0xff, 0xff]);
