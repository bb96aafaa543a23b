/**
 * Streaming COPY FROM parsers for the text, csv and binary formats. Input arrives in chunks that
 * may split lines, quoted fields, multi-byte characters and binary fields anywhere; each `push`
 * returns the rows its chunk completed. The rules, line numbers, SQLSTATEs, messages and CONTEXT
 * texts are PostgreSQL 15's (src/backend/commands/copyfromparse.c: `CopyReadLineText`,
 * `CopyReadAttributesText`, `CopyReadAttributesCSV`, `NextCopyFrom`, `CopyReadBinaryTuple`).
 * Reference: PostgreSQL 15 docs, COPY, "File Formats".
 */
import { decodeBinaryParam, invalidUtf8Error as invalidEncoding, isValidText as validUtf8 } from '../pgwire/binary-format.ts';
import { PgError } from '../pgwire/errors.ts';
import type { CopyOptions } from './options.ts';
import { badCopyFormat, type CopyRow, copyColumnWhere, copyLineWhere, withWhere } from './row.ts';

/** What a parser needs to know about the target. */
export interface CopyParserSpec<T = string | null> {
  /** Relation name for CONTEXT (`COPY t, line 3 …`). */
  table: string;
  /** Names of the copied columns, in order (HEADER MATCH, "missing data for column", CONTEXT). */
  columns: readonly string[];
  /** Type OIDs of the copied columns; required for binary (each field is decoded with its type's binary format). */
  typeOids?: readonly number[];
  options: CopyOptions;
  /**
   * Optional per-column conversion of the text value (e.g. the column type's input function). When given,
   * rows carry converted values and conversion errors surface in PostgreSQL's order (column by column,
   * before "missing data" for a later column) with the column CONTEXT attached.
   */
  convert?: readonly ((text: string | null) => T)[];
}

/** A streaming COPY FROM parser. */
export interface CopyParser<T = string | null> {
  /**
   * Feed one CopyData chunk; returns the rows it completed, in order. When the chunk holds a bad row,
   * the rows before it are returned and the error is thrown by the next call of `check`, `push` or `finish`,
   * so errors of earlier rows found by the caller come first, as in PostgreSQL.
   * @throws PgError 22P04 bad_copy_file_format, 22021 bad UTF-8, 22P02 etc. from `convert` (all with `where`).
   */
  push(chunk: Buffer): CopyRow<T>[];
  /** End of input (CopyDone): returns the last rows. */
  finish(): CopyRow<T>[];
  /** Throw the error the last `push` stopped at, if any. */
  check(): void;
  /** The end-of-data marker (`\.` line, binary trailer) was read; later data is ignored (text, csv) or refused (binary). */
  readonly ended: boolean;
}

/** Create the parser for `spec.options.format`. */
export function createCopyParser<T = string | null>(spec: CopyParserSpec<T>): CopyParser<T> {
  return spec.options.format === 'binary' ? new BinaryCopyParser(spec) : new TextCopyParser(spec);
}

// ---------------------------------------------------------------- shared

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);

/** Line-scanner states. */
const NORMAL = 0;
/** Text: after a backslash (the next byte is data, or '.' of an end marker). */
const TEXT_ESC = 1;
/** After a CR whose meaning depends on the next byte (CRLF or lone CR). */
const CR_PENDING = 2;
/** After `\.`: an end marker if a newline follows. */
const DOT_1 = 3;
/** After `\.` and CR with CRLF line endings. */
const DOT_CR = 4;
/** CSV: after a backslash at the start of a line. */
const CSV_BS = 5;

const EOL_UNKNOWN = 0;
const EOL_NL = 1;
const EOL_CR = 2;
const EOL_CRNL = 3;

/** Base class: error deferral and value conversion shared by both parsers. */
abstract class ParserBase<T> {
  protected out: CopyRow<T>[] = [];
  protected pending: unknown = null;
  protected readonly ncols: number;
  ended = false;

  constructor(protected readonly spec: CopyParserSpec<T>) {
    this.ncols = spec.columns.length;
  }

  check(): void {
    if (this.pending !== null) throw this.pending;
  }

  protected run(fn: () => void): CopyRow<T>[] {
    this.check();
    this.out = [];
    try {
      fn();
    } catch (e) {
      if (this.out.length === 0) {
        this.pending = e;
        throw e;
      }
      this.pending = e;
    }
    const rows = this.out;
    this.out = [];
    return rows;
  }

  /** Convert a row's fields column by column (PostgreSQL's `NextCopyFrom` order). */
  protected emit(line: number, fields: (string | null)[], raw: Buffer | undefined): void {
    const conv = this.spec.convert;
    if (!conv) {
      this.out.push(raw === undefined ? { line, values: fields as T[] } : { line, values: fields as T[], raw });
      return;
    }
    const values: T[] = new Array(fields.length);
    const row = raw === undefined ? { line } : { line, raw };
    for (let i = 0; i < fields.length; i++) {
      const v = fields[i] as string | null;
      try {
        values[i] = (conv[i] as (t: string | null) => T)(v);
      } catch (e) {
        throw withWhere(e, copyColumnWhere(this.spec.table, row, this.spec.columns[i] as string, v));
      }
    }
    this.out.push(raw === undefined ? { line, values } : { line, values, raw });
  }
}

// ---------------------------------------------------------------- text and csv

class TextCopyParser<T> extends ParserBase<T> implements CopyParser<T> {
  private readonly csv: boolean;
  private readonly delim: number;
  private readonly delimChar: string;
  private readonly quote: number;
  private readonly quoteChar: string;
  private readonly escape: number;
  /** Any FORCE_NOT_NULL / FORCE_NULL column. */
  private readonly hasForce: boolean;
  /** Absolute byte range of the current chunk already known to be valid UTF-8 without NUL (-1: none). */
  private validFrom = -1;
  private validTo = -1;
  /** The escape as the line scanner sees it: none when it equals the quote (PostgreSQL then toggles on the quote alone). */
  private readonly scanEscape: number;
  private readonly nullStr: string;
  private readonly nullBytes: Buffer;
  private headerPending: boolean;
  private eol = EOL_UNKNOWN;
  private state = NORMAL;
  private inQuote = false;
  private lastWasEsc = false;
  private firstChar = true;
  /** PostgreSQL's cur_lineno while reading the current line. */
  private lineNo = 1;
  /** Absolute offset of the current line's first byte. */
  private lineStart = 0;
  /** Absolute offset of `chunk[0]`. */
  private base = 0;
  private chunk: Buffer = EMPTY;
  /** Earlier pieces of the current line; the first starts at `lineStart`. */
  private parts: Buffer[] = [];
  /** Absolute offset of the CR or backslash a lookahead state refers to. */
  private mark = 0;
  private scratch: Buffer = Buffer.alloc(256);
  /** Bytes the line scanner acts on in the NORMAL state, and where each occurs next in the current chunk. */
  private readonly specials: Uint8Array;
  private readonly next: Int32Array;

  constructor(spec: CopyParserSpec<T>) {
    super(spec);
    const o = spec.options;
    this.csv = o.format === 'csv';
    this.delimChar = o.delimiter;
    this.delim = o.delimiter.charCodeAt(0);
    this.quote = this.csv ? o.quote.charCodeAt(0) : -1;
    this.quoteChar = this.csv ? o.quote : '';
    this.hasForce = this.csv && (o.forceNotNull.includes(true) || o.forceNull.includes(true));
    this.escape = this.csv ? o.escape.charCodeAt(0) : -1;
    this.scanEscape = this.escape === this.quote ? -1 : this.escape;
    const specials = [LF, CR, BACKSLASH];
    if (this.csv) specials.push(this.quote);
    if (this.scanEscape >= 0 && !specials.includes(this.scanEscape)) specials.push(this.scanEscape);
    this.specials = Uint8Array.from(specials);
    this.next = new Int32Array(specials.length);
    this.nullStr = o.null;
    this.nullBytes = Buffer.from(o.null, 'utf8');
    this.headerPending = o.header !== false;
  }

  push(chunk: Buffer): CopyRow<T>[] {
    if (this.ended || chunk.length === 0) {
      this.check();
      return [];
    }
    return this.run(() => this.scan(chunk));
  }

  finish(): CopyRow<T>[] {
    return this.run(() => {
      this.chunk = EMPTY;
      while (!this.ended) {
        const st = this.state;
        this.state = NORMAL;
        if (st === CR_PENDING) {
          if (this.eol === EOL_CRNL) throw this.crError();
          this.eol = EOL_CR;
          this.endLine(this.mark, this.mark + 1);
          continue;
        }
        if (st === DOT_1 || st === DOT_CR) {
          if (!this.csv) throw this.readError('end-of-copy marker corrupt');
          this.firstChar = false;
          this.step(DOT, this.mark + 1);
          if (st === DOT_CR) this.step(CR, this.mark + 2);
          continue;
        }
        if (this.base > this.lineStart) this.endLine(this.base, this.base);
        this.ended = true;
      }
    });
  }

  private scan(chunk: Buffer): void {
    this.chunk = chunk;
    const base = this.base;
    const n = chunk.length;
    // Validate the lines wholly inside this chunk at once: between its first and last LF.
    this.validFrom = this.validTo = -1;
    const first = chunk.indexOf(LF);
    const last = chunk.lastIndexOf(LF);
    if (first >= 0 && last > first) {
      const region = chunk.subarray(first + 1, last);
      if (validUtf8(region)) {
        this.validFrom = base + first + 1;
        this.validTo = base + last;
      }
    }
    // Jump from one byte that means something to the line scanner to the next with native searches;
    // `next[k]` memoizes where `specials[k]` occurs next (-1: not in this chunk), so each byte is searched once.
    const specials = this.specials;
    const next = this.next;
    next.fill(-2);
    let i = 0;
    while (i < n) {
      if (this.state === NORMAL) {
        let j = n;
        for (let k = 0; k < specials.length; k++) {
          let pos = next[k] as number;
          if (pos !== -1 && pos < i) next[k] = pos = chunk.indexOf(specials[k] as number, i);
          if (pos !== -1 && pos < j) j = pos;
        }
        if (j > i && this.csv) {
          // Skipped bytes are neither quote nor escape: the CSV state after them is "not after an escape, not at line start".
          this.lastWasEsc = false;
          this.firstChar = false;
        }
        if (j >= n) break;
        i = j;
      }
      this.step(chunk[i] as number, base + i);
      if (this.ended) break;
      i++;
    }
    if (!this.ended) {
      const from = this.lineStart - base;
      if (from < n) this.parts.push(from <= 0 ? chunk : chunk.subarray(from));
    }
    this.base = base + n;
    this.chunk = EMPTY;
    this.validFrom = this.validTo = -1;
  }

  /** One byte at absolute offset `abs` through the line scanner (PostgreSQL's `CopyReadLineText`). */
  private step(c: number, abs: number): void {
    switch (this.state) {
      case NORMAL:
        this.normal(c, abs);
        return;
      case TEXT_ESC:
        this.state = c === DOT ? DOT_1 : NORMAL; // any other byte after a backslash is data
        return;
      case CSV_BS:
        if (c === DOT) {
          this.state = DOT_1;
          return;
        }
        this.state = NORMAL;
        this.firstChar = false;
        this.normal(c, abs);
        return;
      case CR_PENDING:
        this.state = NORMAL;
        if (c === LF) {
          this.eol = EOL_CRNL;
          this.endLine(this.mark, abs + 1);
          return;
        }
        if (this.eol === EOL_CRNL) throw this.crError();
        this.eol = EOL_CR;
        this.endLine(this.mark, this.mark + 1);
        this.normal(c, abs);
        return;
      case DOT_1:
        if (this.eol === EOL_CRNL) {
          if (c === CR) {
            this.state = DOT_CR;
            return;
          }
          if (!this.csv)
            throw this.readError(c === LF ? 'end-of-copy marker does not match previous newline style' : 'end-of-copy marker corrupt');
          this.notEndMarker([c], abs);
          return;
        }
        if (c !== CR && c !== LF) {
          if (!this.csv) throw this.readError('end-of-copy marker corrupt');
          this.notEndMarker([c], abs);
          return;
        }
        if ((this.eol === EOL_NL && c !== LF) || (this.eol === EOL_CR && c !== CR)) {
          throw this.readError('end-of-copy marker does not match previous newline style');
        }
        this.endMarker();
        return;
      case DOT_CR:
        if (c !== CR && c !== LF) {
          if (!this.csv) throw this.readError('end-of-copy marker corrupt');
          this.notEndMarker([CR, c], abs);
          return;
        }
        if (c !== LF) throw this.readError('end-of-copy marker does not match previous newline style');
        this.endMarker();
        return;
    }
  }

  private normal(c: number, abs: number): void {
    if (this.csv) {
      if (this.inQuote && c === this.scanEscape) this.lastWasEsc = !this.lastWasEsc;
      if (c === this.quote && !this.lastWasEsc) this.inQuote = !this.inQuote;
      if (c !== this.scanEscape) this.lastWasEsc = false;
      // PostgreSQL counts quoted newlines of the known line-ending style (CR while it is still unknown).
      if (this.inQuote && c === (this.eol === EOL_NL ? LF : CR)) this.lineNo++;
    }
    const quoted = this.csv && this.inQuote;
    if (c === CR && !quoted) {
      if (this.eol === EOL_UNKNOWN || this.eol === EOL_CRNL) {
        this.mark = abs;
        this.state = CR_PENDING;
        return;
      }
      if (this.eol === EOL_NL) throw this.crError();
      this.endLine(abs, abs + 1);
      return;
    }
    if (c === LF && !quoted) {
      if (this.eol === EOL_CR || this.eol === EOL_CRNL) {
        throw this.readError(
          this.csv ? 'unquoted newline found in data' : 'literal newline found in data',
          this.csv ? 'Use quoted CSV field to represent newline.' : 'Use "\\n" to represent newline.',
        );
      }
      this.eol = EOL_NL;
      this.endLine(abs, abs + 1);
      return;
    }
    if (c === BACKSLASH && (!this.csv || this.firstChar)) {
      this.mark = abs;
      this.state = this.csv ? CSV_BS : TEXT_ESC;
      return;
    }
    this.firstChar = false;
  }

  /** CSV: `\.` turned out to be data; scan the bytes after the backslash again as ordinary input. */
  private notEndMarker(rest: number[], abs: number): void {
    this.state = NORMAL;
    this.firstChar = false;
    this.step(DOT, this.mark + 1);
    for (let k = 0; k < rest.length; k++) this.step(rest[k] as number, abs - rest.length + 1 + k);
  }

  private endMarker(): void {
    const content = this.checked(this.mark, this.lineNo);
    this.parts = [];
    this.state = NORMAL;
    this.ended = true;
    // Data before `\.` on the same line is a last row (text mode allows `abc\.`).
    if (content.length > 0) this.processLine(content, this.lineNo);
  }

  private endLine(contentEnd: number, nextStart: number): void {
    const content = this.checked(contentEnd, this.lineNo);
    this.parts = [];
    this.lineStart = nextStart;
    this.inQuote = false;
    this.lastWasEsc = false;
    this.firstChar = true;
    const line = this.lineNo++;
    this.processLine(content, line);
  }

  /**
   * The current line's bytes up to `end`, checked to be UTF-8 without NUL (22021 with `COPY t, line N`).
   * As in PostgreSQL, the bad sequence shown may run into the bytes after the line.
   */
  private checked(end: number, line: number): Buffer {
    const content = this.bytes(this.lineStart, end);
    if ((this.lineStart >= this.validFrom && end <= this.validTo) || validUtf8(content)) return content;
    const extended = this.bytes(this.lineStart, Math.min(end + 3, this.base + this.chunk.length));
    throw withWhere(invalidEncoding(extended.length > content.length ? extended : content), `COPY ${this.spec.table}, line ${line}`);
  }

  /** Bytes [start, end) by absolute offsets, from the retained pieces and the current chunk. */
  private bytes(start: number, end: number): Buffer {
    if (this.parts.length === 0) return this.chunk.subarray(start - this.base, end - this.base);
    const tail = end > this.base ? [this.chunk.subarray(0, end - this.base)] : [];
    const all = this.parts.length === 1 && tail.length === 0 ? (this.parts[0] as Buffer) : Buffer.concat([...this.parts, ...tail]);
    return all.subarray(0, end - start);
  }

  private readError(message: string, hint?: string): PgError {
    return badCopyFormat(message, `COPY ${this.spec.table}, line ${this.lineNo}`, hint);
  }

  private crError(): PgError {
    return this.readError(
      this.csv ? 'unquoted carriage return found in data' : 'literal carriage return found in data',
      this.csv ? 'Use quoted CSV field to represent carriage return.' : 'Use "\\r" to represent carriage return.',
    );
  }

  // ------------------------------------------------------------ one line → fields

  private processLine(content: Buffer, line: number): void {
    if (this.headerPending) {
      this.headerPending = false;
      if (this.spec.options.header === 'match') this.matchHeader(this.fields(content, line), content, line);
      return;
    }
    const fields = this.fields(content, line);
    if (this.ncols > 0 && fields.length > this.ncols) throw this.lineError('extra data after last expected column', content, line);
    const o = this.spec.options;
    if (this.hasForce) {
      for (let i = 0; i < fields.length; i++) {
        const v = fields[i] as string | null;
        if (v === null && o.forceNotNull[i]) fields[i] = this.nullStr;
        else if (v !== null && o.forceNull[i] && v === this.nullStr) fields[i] = null;
      }
    }
    if (fields.length < this.ncols) {
      const message = `missing data for column "${this.spec.columns[fields.length]}"`;
      if (!this.spec.convert) throw this.lineError(message, content, line);
      // Convert the present columns first so their errors win, as in PostgreSQL.
      this.emit(line, fields, content);
      this.out.pop();
      throw this.lineError(message, content, line);
    }
    this.emit(line, fields, content);
  }

  /** 22P04 about a whole line, with PostgreSQL's CONTEXT showing the line. */
  private lineError(message: string, content: Buffer, line: number): PgError {
    return badCopyFormat(message, copyLineWhere(this.spec.table, { line, raw: content }));
  }

  private fields(content: Buffer, line: number): (string | null)[] {
    if (this.csv) return this.csvFields(content.toString('utf8'), content, line);
    if (content.indexOf(BACKSLASH) < 0) {
      const parts: (string | null)[] = content.toString('utf8').split(this.delimChar);
      for (let i = 0; i < parts.length; i++) if (parts[i] === this.nullStr) parts[i] = null;
      return parts;
    }
    return this.textFields(content, line);
  }

  /** PostgreSQL's `CopyReadAttributesText`: split on the delimiter, undo backslash escapes, match NULL on the raw text. */
  private textFields(src: Buffer, line: number): (string | null)[] {
    if (this.scratch.length < src.length) this.scratch = Buffer.alloc(Math.max(src.length, this.scratch.length * 2));
    const outBuf = this.scratch;
    const fields: (string | null)[] = [];
    const end = src.length;
    let p = 0;
    for (;;) {
      const start = p;
      let o = 0;
      let sawNonAscii = false;
      let foundDelim = false;
      let rawEnd = p;
      for (;;) {
        rawEnd = p;
        if (p >= end) break;
        let c = src[p++] as number;
        if (c === this.delim) {
          foundDelim = true;
          break;
        }
        if (c === BACKSLASH) {
          if (p >= end) break;
          c = src[p++] as number;
          if (c >= 0x30 && c <= 0x37) {
            let val = c - 0x30;
            if (p < end && (src[p] as number) >= 0x30 && (src[p] as number) <= 0x37) {
              val = (val << 3) + ((src[p++] as number) - 0x30);
              if (p < end && (src[p] as number) >= 0x30 && (src[p] as number) <= 0x37) val = (val << 3) + ((src[p++] as number) - 0x30);
            }
            c = val & 0xff;
            if (c === 0 || c >= 0x80) sawNonAscii = true;
          } else if (c === 0x78 /* x */) {
            const h1 = p < end ? hexValue(src[p] as number) : -1;
            if (h1 >= 0) {
              p++;
              let val = h1;
              const h2 = p < end ? hexValue(src[p] as number) : -1;
              if (h2 >= 0) {
                p++;
                val = (val << 4) + h2;
              }
              c = val & 0xff;
              if (c === 0 || c >= 0x80) sawNonAscii = true;
            }
          } else if (c === 0x62) c = 0x08;
          else if (c === 0x66) c = 0x0c;
          else if (c === 0x6e) c = LF;
          else if (c === 0x72) c = CR;
          else if (c === 0x74) c = 0x09;
          else if (c === 0x76) c = 0x0b;
        }
        outBuf[o++] = c;
      }
      const rawLen = rawEnd - start;
      if (rawLen === this.nullBytes.length && src.compare(this.nullBytes, 0, rawLen, start, rawEnd) === 0) {
        fields.push(null);
      } else {
        const value = outBuf.subarray(0, o);
        if (sawNonAscii && !validUtf8(value)) throw withWhere(invalidEncoding(value), copyLineWhere(this.spec.table, { line, raw: src }));
        fields.push(value.toString('utf8'));
      }
      if (!foundDelim) return fields;
    }
  }

  /** PostgreSQL's `CopyReadAttributesCSV` over the decoded line (the delimiter, quote and escape are ASCII). */
  private csvFields(s: string, raw: Buffer, line: number): (string | null)[] {
    const quote = this.quote;
    if (s.indexOf(this.quoteChar) < 0) {
      const parts: (string | null)[] = s.split(this.delimChar);
      for (let i = 0; i < parts.length; i++) if (parts[i] === this.nullStr) parts[i] = null;
      return parts;
    }
    const delim = this.delim;
    const esc = this.escape;
    const fields: (string | null)[] = [];
    const end = s.length;
    let p = 0;
    for (;;) {
      const start = p;
      let out = '';
      let runStart = p;
      let sawQuote = false;
      let foundDelim = false;
      let rawEnd = p;
      field: for (;;) {
        // not in quotes
        for (;;) {
          rawEnd = p;
          if (p >= end) {
            out += s.slice(runStart, p);
            break field;
          }
          const c = s.charCodeAt(p++);
          if (c === delim) {
            out += s.slice(runStart, p - 1);
            foundDelim = true;
            break field;
          }
          if (c === quote) {
            out += s.slice(runStart, p - 1);
            runStart = p;
            sawQuote = true;
            break;
          }
        }
        // in quotes
        for (;;) {
          rawEnd = p;
          if (p >= end) throw this.lineError('unterminated CSV quoted field', raw, line);
          const c = s.charCodeAt(p++);
          if (c === esc && p < end) {
            const next = s.charCodeAt(p);
            if (next === esc || next === quote) {
              out += s.slice(runStart, p - 1) + s[p];
              p++;
              runStart = p;
              continue;
            }
          }
          if (c === quote) {
            out += s.slice(runStart, p - 1);
            runStart = p;
            break;
          }
        }
      }
      if (!sawQuote && rawEnd - start === this.nullStr.length && s.startsWith(this.nullStr, start)) fields.push(null);
      else fields.push(out);
      if (!foundDelim) return fields;
    }
  }

  /** HEADER MATCH (PostgreSQL 15): the header's fields must be the copied column names, in order. */
  private matchHeader(fields: (string | null)[], raw: Buffer, line: number): void {
    const where = () => copyLineWhere(this.spec.table, { line, raw });
    const cols = this.spec.columns;
    if (fields.length !== cols.length) {
      throw badCopyFormat(`wrong number of fields in header line: got ${fields.length}, expected ${cols.length}`, where());
    }
    for (let i = 0; i < cols.length; i++) {
      const f = fields[i];
      if (f === null) {
        throw badCopyFormat(
          `column name mismatch in header line field ${i + 1}: got null value ("${this.nullStr}"), expected "${cols[i]}"`,
          where(),
        );
      }
      if (f !== cols[i])
        throw badCopyFormat(`column name mismatch in header line field ${i + 1}: got "${f}", expected "${cols[i]}"`, where());
    }
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// ---------------------------------------------------------------- binary

/** "PGCOPY\n\377\r\n\0": the 11-byte signature of the binary format. */
export const BINARY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Signals that more bytes are needed; `need` is the absolute buffer length required. */
class Short {
  constructor(readonly need: number) {}
}

class BinaryCopyParser<T> extends ParserBase<T> implements CopyParser<T> {
  private chunks: Buffer[] = [];
  private avail = 0;
  /** Bytes required before the next parse attempt is worthwhile. */
  private need = 0;
  private headerDone = false;
  private tuples = 0;
  private readonly oids: readonly number[];

  constructor(spec: CopyParserSpec<T>) {
    super(spec);
    if (!spec.typeOids || spec.typeOids.length !== spec.columns.length) {
      throw new PgError('XX000', 'binary COPY needs the type OID of every copied column');
    }
    this.oids = spec.typeOids;
  }

  push(chunk: Buffer): CopyRow<T>[] {
    if (chunk.length === 0) {
      this.check();
      return [];
    }
    return this.run(() => {
      if (this.ended) throw badCopyFormat('received copy data after EOF marker', `COPY ${this.spec.table}, line ${this.tuples}`);
      this.chunks.push(chunk);
      this.avail += chunk.length;
      if (this.avail >= this.need) this.parse(false);
    });
  }

  finish(): CopyRow<T>[] {
    return this.run(() => {
      if (!this.ended && this.avail > 0) this.parse(true);
      else if (!this.headerDone && !this.ended) throw new PgError('22P04', 'COPY file signature not recognized');
    });
  }

  private parse(eof: boolean): void {
    const buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    let pos = 0;
    try {
      if (!this.headerDone) {
        pos = this.header(buf);
        this.headerDone = true;
      }
      while (pos < buf.length && !this.ended) pos = this.tuple(buf, pos);
      if (this.ended && pos < buf.length) {
        throw badCopyFormat('received copy data after EOF marker', `COPY ${this.spec.table}, line ${this.tuples}`);
      }
    } catch (e) {
      if (!(e instanceof Short)) throw e;
      if (eof) this.eofInside(buf, pos);
      this.need = e.need - pos;
    }
    const rest = buf.subarray(pos);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.avail = rest.length;
    if (!(this.need > this.avail)) this.need = 0;
  }

  /** Input ended inside a header or tuple (§ "File Formats": a tuple cut short is an error; less than a field count is EOF). */
  private eofInside(buf: Buffer, pos: number): void {
    if (!this.headerDone) {
      if (buf.length < 11 || !buf.subarray(0, 11).equals(BINARY_SIGNATURE))
        throw new PgError('22P04', 'COPY file signature not recognized');
      if (buf.length < 15) throw new PgError('22P04', 'invalid COPY file header (missing flags)');
      if (buf.length < 19) throw new PgError('22P04', 'invalid COPY file header (missing length)');
      throw new PgError('22P04', 'invalid COPY file header (wrong length)');
    }
    if (buf.length - pos < 2) {
      this.ended = true; // PostgreSQL reads a missing field count as the end of the data
      return;
    }
    throw badCopyFormat(
      'unexpected EOF in COPY data',
      `COPY ${this.spec.table}, line ${this.tuples + 1}, column ${this.shortColumn(buf, pos)}`,
    );
  }

  /** Name of the column whose field the data ended in. */
  private shortColumn(buf: Buffer, pos: number): string {
    let p = pos + 2;
    for (let i = 0; i < this.ncols; i++) {
      if (p + 4 > buf.length) return this.spec.columns[i] as string;
      const len = buf.readInt32BE(p);
      p += 4 + Math.max(0, len);
      if (p > buf.length) return this.spec.columns[i] as string;
    }
    return this.spec.columns[this.ncols - 1] ?? '';
  }

  private header(buf: Buffer): number {
    if (buf.length < 11) throw new Short(11);
    if (!buf.subarray(0, 11).equals(BINARY_SIGNATURE)) throw new PgError('22P04', 'COPY file signature not recognized');
    if (buf.length < 19) throw new Short(19);
    let flags = buf.readInt32BE(11);
    if ((flags & (1 << 16)) !== 0) throw new PgError('22P04', 'invalid COPY file header (WITH OIDS)');
    flags &= ~(1 << 16);
    if (flags >> 16 !== 0) throw new PgError('22P04', 'unrecognized critical flags in COPY file header');
    const ext = buf.readInt32BE(15);
    if (ext < 0) throw new PgError('22P04', 'invalid COPY file header (missing length)');
    if (buf.length < 19 + ext) throw new Short(19 + ext);
    return 19 + ext;
  }

  private tuple(buf: Buffer, start: number): number {
    if (buf.length - start < 2) throw new Short(start + 2);
    const count = buf.readInt16BE(start);
    const line = this.tuples + 1;
    if (count === -1) {
      this.tuples = line;
      this.ended = true;
      return start + 2;
    }
    if (count !== this.ncols)
      throw badCopyFormat(`row field count is ${count}, expected ${this.ncols}`, `COPY ${this.spec.table}, line ${line}`);
    // Check the whole tuple is here before decoding anything.
    let p = start + 2;
    for (let i = 0; i < count; i++) {
      if (p + 4 > buf.length) throw new Short(p + 4);
      const len = buf.readInt32BE(p);
      if (len < -1) throw badCopyFormat('invalid field size', `COPY ${this.spec.table}, line ${line}, column ${this.spec.columns[i]}`);
      p += 4 + Math.max(0, len);
      if (p > buf.length) throw new Short(p);
    }
    const fields: (string | null)[] = new Array(count);
    p = start + 2;
    for (let i = 0; i < count; i++) {
      const len = buf.readInt32BE(p);
      p += 4;
      if (len === -1) {
        fields[i] = null;
        continue;
      }
      try {
        fields[i] = decodeBinaryParam(this.oids[i] as number, buf.subarray(p, p + len));
      } catch (e) {
        throw withWhere(e, `COPY ${this.spec.table}, line ${line}, column ${this.spec.columns[i]}`);
      }
      p += len;
    }
    this.tuples = line;
    this.emit(line, fields, undefined);
    return p;
  }
}
