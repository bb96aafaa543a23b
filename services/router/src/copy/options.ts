/**
 * COPY options: validation and defaults exactly as PostgreSQL 15's `ProcessCopyOptions`
 * (src/backend/commands/copy.c) and the FORCE_* column checks of `BeginCopyFrom`/`BeginCopyTo`,
 * with the same SQLSTATEs and messages. Reference: PostgreSQL 15 docs, SQL command COPY.
 */
import type { DefElem, Node } from '@pgsql/types';
import { PgError } from '../pgwire/errors.ts';
import type { CopyFormat } from '../pgwire/types.ts';

/** Resolved options of one COPY statement, per copied column where it applies. */
export interface CopyOptions {
  format: CopyFormat;
  /** Column delimiter, one ASCII character (text: tab, csv: comma). Unused for binary. */
  delimiter: string;
  /** The string that stands for NULL (text: `\N`, csv: empty unquoted). Unused for binary. */
  null: string;
  /** HEADER: skip (COPY FROM) or write (COPY TO) a header line; 'match' also checks the names (COPY FROM only). */
  header: boolean | 'match';
  /** CSV quote character (default `"`); '' outside CSV. */
  quote: string;
  /** CSV escape character (default: the quote); '' outside CSV. */
  escape: string;
  /** FORCE_QUOTE per copied column (COPY TO, csv). */
  forceQuote: boolean[];
  /** FORCE_NOT_NULL per copied column (COPY FROM, csv): a NULL-string match reads as that string. */
  forceNotNull: boolean[];
  /** FORCE_NULL per copied column (COPY FROM, csv): a quoted NULL-string match reads as NULL. */
  forceNull: boolean[];
  /** FREEZE (accepted; it has no effect here). */
  freeze: boolean;
}

/** One option as written, independent of the parser: `value` is a string, boolean, integer, a column list, or '*' (A_Star). */
export interface CopyOptionInput {
  name: string;
  value?: string | boolean | number | string[] | '*';
  /** 0-based character offset of the option in the query text (libpg-query's `location`), for error positions. */
  location?: number;
}

/** What the options are resolved against. */
export interface CopyOptionsContext {
  /** COPY FROM (true) or COPY TO (false). */
  from: boolean;
  /** Names of the copied columns, in order (the column list, or every column of the table or query). */
  columns: readonly string[];
  /** Every column of the relation (for "does not exist" vs "not referenced"); defaults to `columns`. */
  allColumns?: readonly string[];
  /** Relation name for error messages; absent for `COPY (query) TO`. */
  relation?: string;
}

/** Default options of a format (what `COPY t FROM STDIN` with no options means for text). */
export function defaultCopyOptions(format: CopyFormat, columnCount: number): CopyOptions {
  const csv = format === 'csv';
  const none = Array.from({ length: columnCount }, () => false);
  return {
    format,
    delimiter: csv ? ',' : '\t',
    null: csv ? '' : '\\N',
    header: false,
    quote: csv ? '"' : '',
    escape: csv ? '"' : '',
    forceQuote: none,
    forceNotNull: [...none],
    forceNull: [...none],
    freeze: false,
  };
}

/** libpg-query `DefElem` options of a CopyStmt (legacy syntax is already normalised by the parser) to {@link CopyOptionInput}s. */
export function copyOptionInputs(options: readonly Node[] | undefined): CopyOptionInput[] {
  return (options ?? []).map((n) => {
    const d = (n as { DefElem?: DefElem }).DefElem;
    if (!d?.defname) throw new PgError('42601', 'unexpected COPY option node');
    const input: CopyOptionInput = { name: d.defname };
    if (d.location !== undefined) input.location = d.location;
    const value = nodeValue(d.arg);
    if (value !== undefined) input.value = value;
    return input;
  });
}

function nodeValue(arg: Node | undefined): CopyOptionInput['value'] {
  if (!arg) return undefined;
  const a = arg as Record<string, unknown>;
  if ('String' in a) return (a.String as { sval?: string }).sval ?? '';
  if ('Boolean' in a) return (a.Boolean as { boolval?: boolean }).boolval ?? false;
  if ('Integer' in a) return (a.Integer as { ival?: number }).ival ?? 0;
  if ('Float' in a) return (a.Float as { fval?: string }).fval ?? '0';
  if ('A_Star' in a) return '*';
  if ('List' in a) {
    const items = (a.List as { items?: Node[] }).items ?? [];
    return items.map((i) => String(nodeValue(i)));
  }
  return undefined;
}

const pos = (o: CopyOptionInput) => (o.location !== undefined ? { position: o.location + 1 } : {});

/**
 * Validate options and fill in defaults (PostgreSQL 15 `ProcessCopyOptions`).
 * @throws PgError 42601 (conflicting or redundant options, unknown option, BINARY with DELIMITER/NULL),
 *   22023 (bad values), 0A000 (option not available in this mode or direction, multi-byte delimiter/quote),
 *   42703/42P10 (FORCE_* column unknown or not copied).
 */
export function resolveCopyOptions(inputs: readonly CopyOptionInput[], ctx: CopyOptionsContext): CopyOptions {
  let format: CopyFormat | undefined;
  let freeze: boolean | undefined;
  let header: boolean | 'match' | undefined;
  let delimiter: string | undefined;
  let nullString: string | undefined;
  let quote: string | undefined;
  let esc: string | undefined;
  let forceQuote: string[] | '*' | undefined;
  let forceNotNull: string[] | '*' | undefined;
  let forceNull: string[] | '*' | undefined;
  let encoding: string | undefined;

  for (const o of inputs) {
    const conflict = (seen: unknown) => {
      if (seen !== undefined) throw new PgError('42601', 'conflicting or redundant options', pos(o));
    };
    switch (o.name) {
      case 'format': {
        conflict(format);
        const f = stringValue(o);
        if (f !== 'text' && f !== 'csv' && f !== 'binary') {
          throw new PgError('22023', `COPY format "${f}" not recognized`, pos(o));
        }
        format = f;
        break;
      }
      case 'freeze':
        conflict(freeze);
        freeze = booleanValue(o);
        break;
      case 'delimiter':
        conflict(delimiter);
        delimiter = stringValue(o);
        break;
      case 'null':
        conflict(nullString);
        nullString = stringValue(o);
        break;
      case 'header':
        conflict(header);
        header = headerValue(o, ctx.from);
        break;
      case 'quote':
        conflict(quote);
        quote = stringValue(o);
        break;
      case 'escape':
        conflict(esc);
        esc = stringValue(o);
        break;
      case 'force_quote':
        conflict(forceQuote);
        forceQuote = columnList(o, true);
        break;
      case 'force_not_null':
        conflict(forceNotNull);
        forceNotNull = columnList(o, false);
        break;
      case 'force_null':
        conflict(forceNull);
        forceNull = columnList(o, false);
        break;
      case 'encoding': {
        conflict(encoding);
        encoding = stringValue(o);
        const norm = encoding.toLowerCase().replace(/[^a-z0-9]/g, '');
        if (!/^[a-z][a-z0-9]*$/.test(norm)) {
          throw new PgError('22023', `argument to option "${o.name}" must be a valid encoding name`, pos(o));
        }
        if (norm !== 'utf8' && norm !== 'unicode' && norm !== 'sqlascii') {
          throw new PgError('0A000', `COPY ENCODING "${encoding}" is not supported: data must be UTF8`, pos(o));
        }
        break;
      }
      default:
        throw new PgError('42601', `option "${o.name}" not recognized`, pos(o));
    }
  }

  const fmt = format ?? 'text';
  const csv = fmt === 'csv';
  const binary = fmt === 'binary';
  if (binary && delimiter !== undefined) throw new PgError('42601', 'cannot specify DELIMITER in BINARY mode');
  if (binary && nullString !== undefined) throw new PgError('42601', 'cannot specify NULL in BINARY mode');
  const delim = delimiter ?? (csv ? ',' : '\t');
  const nul = nullString ?? (csv ? '' : '\\N');
  if (csv) {
    quote ??= '"';
    esc ??= quote;
  }
  if (Buffer.byteLength(delim) !== 1) throw new PgError('0A000', 'COPY delimiter must be a single one-byte character');
  if (/[\r\n]/.test(delim)) throw new PgError('22023', 'COPY delimiter cannot be newline or carriage return');
  if (/[\r\n]/.test(nul)) throw new PgError('22023', 'COPY null representation cannot use newline or carriage return');
  if (!csv && '\\.abcdefghijklmnopqrstuvwxyz0123456789'.includes(delim)) {
    throw new PgError('22023', `COPY delimiter cannot be "${delim}"`);
  }
  if (binary && header) throw new PgError('0A000', 'cannot specify HEADER in BINARY mode');
  if (!csv && quote !== undefined) throw new PgError('0A000', 'COPY quote available only in CSV mode');
  if (csv && Buffer.byteLength(quote as string) !== 1) throw new PgError('0A000', 'COPY quote must be a single one-byte character');
  if (csv && delim === quote) throw new PgError('22023', 'COPY delimiter and quote must be different');
  if (!csv && esc !== undefined) throw new PgError('0A000', 'COPY escape available only in CSV mode');
  if (csv && Buffer.byteLength(esc as string) !== 1) throw new PgError('0A000', 'COPY escape must be a single one-byte character');
  if (!csv && forceQuote !== undefined) throw new PgError('0A000', 'COPY force quote available only in CSV mode');
  if (forceQuote !== undefined && ctx.from) throw new PgError('0A000', 'COPY force quote only available using COPY TO');
  if (!csv && forceNotNull !== undefined) throw new PgError('0A000', 'COPY force not null available only in CSV mode');
  if (forceNotNull !== undefined && !ctx.from) throw new PgError('0A000', 'COPY force not null only available using COPY FROM');
  if (!csv && forceNull !== undefined) throw new PgError('0A000', 'COPY force null available only in CSV mode');
  if (forceNull !== undefined && !ctx.from) throw new PgError('0A000', 'COPY force null only available using COPY FROM');
  if (!binary && nul.includes(delim)) throw new PgError('22023', 'COPY delimiter must not appear in the NULL specification');
  if (csv && nul.includes(quote as string)) throw new PgError('22023', 'CSV quote character must not appear in the NULL specification');

  return {
    format: fmt,
    delimiter: delim,
    null: nul,
    header: header ?? false,
    quote: quote ?? '',
    escape: esc ?? '',
    forceQuote: columnFlags(forceQuote, 'FORCE_QUOTE', ctx),
    forceNotNull: columnFlags(forceNotNull, 'FORCE_NOT_NULL', ctx),
    forceNull: columnFlags(forceNull, 'FORCE_NULL', ctx),
    freeze: freeze ?? false,
  };
}

function stringValue(o: CopyOptionInput): string {
  const v = o.value;
  if (v === undefined) throw new PgError('42601', `${o.name} requires a parameter`, pos(o));
  if (Array.isArray(v) || v === '*') throw new PgError('42601', `${o.name} requires a parameter`, pos(o));
  return String(v);
}

/** PostgreSQL `defGetBoolean`: no value, true/false/on/off (any case) or 0/1. */
function booleanValue(o: CopyOptionInput): boolean {
  const v = o.value;
  if (v === undefined) return true;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (s === 'true' || s === 'on') return true;
    if (s === 'false' || s === 'off') return false;
  }
  throw new PgError('42601', `${o.name} requires a Boolean value`, pos(o));
}

/** PostgreSQL 15 `defGetCopyHeaderChoice`: a boolean or "match" (COPY FROM only). */
function headerValue(o: CopyOptionInput, from: boolean): boolean | 'match' {
  const v = o.value;
  if (typeof v === 'string' && v.toLowerCase() === 'match') {
    if (!from) throw new PgError('0A000', `cannot use "${v}" with HEADER in COPY TO`);
    return 'match';
  }
  try {
    return booleanValue(o);
  } catch {
    throw new PgError('42601', `${o.name} requires a Boolean value or "match"`, pos(o));
  }
}

function columnList(o: CopyOptionInput, starAllowed: boolean): string[] | '*' {
  if (Array.isArray(o.value)) return o.value;
  if (o.value === '*' && starAllowed) return '*';
  throw new PgError('22023', `argument to option "${o.name}" must be a list of column names`, pos(o));
}

function columnFlags(list: string[] | '*' | undefined, option: string, ctx: CopyOptionsContext): boolean[] {
  const flags = ctx.columns.map(() => list === '*');
  if (list === undefined || list === '*') return flags;
  const all = ctx.allColumns ?? ctx.columns;
  for (const name of list) {
    if (!all.includes(name)) {
      throw new PgError(
        '42703',
        ctx.relation ? `column "${name}" of relation "${ctx.relation}" does not exist` : `column "${name}" does not exist`,
      );
    }
    const i = ctx.columns.indexOf(name);
    if (i < 0) throw new PgError('42P10', `${option} column "${name}" not referenced by COPY`);
    flags[i] = true;
  }
  return flags;
}
