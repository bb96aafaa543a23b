/**
 * Query results as Apache Arrow IPC streams (the Arrow Columnar Format, "IPC Streaming Format":
 * a schema message, then record batches, then the end-of-stream marker), for clients that read
 * columns rather than PostgreSQL text: `POST /query` with `Accept: application/vnd.apache.arrow.stream`.
 * Loaded on its own (`@stratum/shared/arrow`), so code that does not need Arrow does not load it.
 *
 * Each result column becomes a nullable field of the Arrow type below; the value is the stored
 * representation of types.ts converted exactly (no rounding, no time-zone shift):
 * | Stratum / PostgreSQL type | Arrow type | value |
 * |---|---|---|
 * | boolean | Bool | |
 * | smallint (int2) | Int16 | |
 * | integer (int4) | Int32 | |
 * | bigint (int8) | Int64 | |
 * | real (float4) | Float32 | |
 * | double (float8) | Float64 | NaN, ±Infinity and -0 kept |
 * | text, varchar, char (bpchar), unknown | Utf8 | char keeps its padding |
 * | numeric | Utf8 | PostgreSQL's text ('1.50', 'NaN', 'Infinity'): numeric has up to 131,072 digits and its own scale per value, which no Arrow Decimal holds |
 * | json, jsonb | Utf8, extension `arrow.json` | the JSON text (jsonb as PostgreSQL prints it) |
 * | bytea | Binary | |
 * | uuid | FixedSizeBinary(16), extension `arrow.uuid` | the 16 bytes in RFC 9562 order (the order of the text form) |
 * | date | Date32 (DateDay) | days since 1970-01-01; 'infinity'/'-infinity' are int32 max/min |
 * | time | Time64(MICROSECOND) | µs since midnight; '24:00:00' is 86,400,000,000 |
 * | timestamp | Timestamp(MICROSECOND, no time zone) | µs since 1970-01-01 00:00:00; ±infinity are int64 max/min |
 * | timestamptz | Timestamp(MICROSECOND, 'UTC') | µs since the epoch (UTC); ±infinity are int64 max/min |
 * | interval | Interval(MONTH_DAY_NANO) | months, days and µs × 1000 ns kept apart, as PostgreSQL keeps them |
 * | T[] | List of T's Arrow type (child field `item`, nullable) | one dimension; NULL elements kept |
 *
 * Arrow's MonthDayNano holds ±2^63 ns (about 292 years) in its time part, PostgreSQL's interval
 * ±2^63 µs: an interval whose hours, minutes and seconds exceed that cannot be encoded (22015).
 *
 * Field metadata makes the stream lossless: `stratum.type` is the JSON of the column's
 * {@link ResultType} (`"timestamptz"`, `"integer[]"`), `stratum.type_oid` the PostgreSQL type OID a
 * pgwire client would see. Schema metadata `stratum.notices` (JSON string[]) and `stratum.scan`
 * (JSON `{filesTotal, filesOpened}`) carry the optional parts of a {@link QueryResult}.
 */
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateDay,
  Field,
  FixedSizeBinary,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  IntervalMonthDayNano,
  List,
  makeData,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimeMicrosecond,
  TimestampMicrosecond,
  Utf8,
} from 'apache-arrow';
import { SqlState, StratumError } from './errors.ts';
import { intervalParts, makeInterval } from './pgtypes/interval.ts';
import type { QueryResult, ResultColumn } from './tiers.ts';
import { elementType, isArrayType, PG_TYPE_OID, pgTypeOid, type ResultType, type ScalarType, type SqlType, type Value } from './types.ts';

/** Media type of an Arrow IPC stream (IANA registration `application/vnd.apache.arrow.stream`). */
export const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';

/** Field metadata key holding the JSON of the column's {@link ResultType}. */
export const ARROW_TYPE_KEY = 'stratum.type';

/** Field metadata key holding the column's PostgreSQL type OID (decimal text). */
export const ARROW_TYPE_OID_KEY = 'stratum.type_oid';

/** Rows per record batch unless {@link ArrowEncodeOptions.batchRows} says otherwise. */
export const DEFAULT_ARROW_BATCH_ROWS = 65_536;

/**
 * A result column as {@link encodeArrowStream} writes it: a {@link ResultColumn}, plus the
 * PostgreSQL type OID when clients were told another one than the type's own (a catalog column
 * of type `name` or `oid` that Stratum carries as `text`, as the HTTP API does).
 */
export interface ArrowResultColumn extends ResultColumn {
  /** PostgreSQL type OID (pg_type.oid); absent = `pgTypeOid(type)`. */
  typeOid?: number;
}

/** A {@link QueryResult} whose columns may carry a PostgreSQL type OID ({@link ArrowResultColumn}). */
export interface ArrowQueryResult extends QueryResult {
  columns: ArrowResultColumn[];
}

/** Options of {@link encodeArrowStream}. */
export interface ArrowEncodeOptions {
  /** Most rows per record batch, an integer ≥ 1; default {@link DEFAULT_ARROW_BATCH_ROWS} (65,536). */
  batchRows?: number;
}

type Scalar = ScalarType | 'unknown';

const EXTENSION_NAME = 'ARROW:extension:name';
const EXTENSION_METADATA = 'ARROW:extension:metadata';
const NOTICES_KEY = 'stratum.notices';
const SCAN_KEY = 'stratum.scan';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Largest offset of a Utf8/Binary/List column (offsets are int32). */
const MAX_OFFSET = 2 ** 31 - 1;
const US_PER_DAY = 86_400_000_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// fatal: a foreign stream's invalid UTF-8 is refused, not replaced by U+FFFD.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The Arrow type of a result column of type `t` (the table in the module comment). Arrays are
 * `List` with a nullable child field `item` of the element's Arrow type.
 */
export function arrowTypeOf(t: ResultType): DataType {
  if (t !== 'unknown' && isArrayType(t)) return new List(elementField(elementType(t)));
  return scalarArrowType(t as Scalar);
}

function scalarArrowType(t: Scalar): DataType {
  switch (t) {
    case 'boolean':
      return new Bool();
    case 'smallint':
      return new Int16();
    case 'integer':
      return new Int32();
    case 'bigint':
      return new Int64();
    case 'real':
      return new Float32();
    case 'double':
      return new Float64();
    case 'bytea':
      return new Binary();
    case 'uuid':
      return new FixedSizeBinary(16);
    case 'date':
      return new DateDay();
    case 'time':
      return new TimeMicrosecond();
    case 'timestamp':
      return new TimestampMicrosecond();
    case 'timestamptz':
      return new TimestampMicrosecond('UTC');
    case 'interval':
      return new IntervalMonthDayNano();
    default:
      // numeric, text, varchar, char, json, jsonb, unknown
      return new Utf8();
  }
}

/** Arrow canonical extension metadata of a scalar type's field (`arrow.uuid`, `arrow.json`), if any. */
function extensionMetadata(t: Scalar): [string, string][] {
  if (t === 'uuid')
    return [
      [EXTENSION_NAME, 'arrow.uuid'],
      [EXTENSION_METADATA, ''],
    ];
  if (t === 'json' || t === 'jsonb')
    return [
      [EXTENSION_NAME, 'arrow.json'],
      [EXTENSION_METADATA, ''],
    ];
  return [];
}

function elementField(t: ScalarType): Field {
  return new Field('item', scalarArrowType(t), true, new Map(extensionMetadata(t)));
}

function columnField(c: ArrowResultColumn): Field {
  const meta = new Map<string, string>([
    [ARROW_TYPE_KEY, JSON.stringify(c.type)],
    [ARROW_TYPE_OID_KEY, String(c.typeOid ?? pgTypeOid(c.type))],
  ]);
  if (c.type === 'unknown' || !isArrayType(c.type)) for (const [k, v] of extensionMetadata(c.type as Scalar)) meta.set(k, v);
  return new Field(c.name, arrowTypeOf(c.type), true, meta);
}

/**
 * Encode a query result as an Arrow IPC stream: the schema (one nullable field per column, types
 * and metadata as in the module comment), then record batches of at most `opts.batchRows` rows
 * (default 65,536), then the end-of-stream marker. An empty result is the schema alone; a result
 * without columns has batches of rows without fields. Rows hold stored-representation values
 * (types.ts); a Buffer for bytea is written as its bytes.
 * @throws StratumError 22023 when `batchRows` is not an integer ≥ 1; 22015 when an interval's
 *   time part exceeds Arrow's ±2^63 ns; 54000 when one batch of a text, bytea or array column
 *   exceeds 2 GiB (use a smaller `batchRows`); XX000 when a value is not the stored
 *   representation of its column's type (the message names the column and the row).
 */
export function encodeArrowStream(result: ArrowQueryResult, opts: ArrowEncodeOptions = {}): Uint8Array {
  const batchRows = opts.batchRows ?? DEFAULT_ARROW_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new StratumError(SqlState.invalidParameterValue, `batchRows must be an integer ≥ 1, got ${batchRows}`);
  }
  const fields = result.columns.map(columnField);
  const schemaMeta = new Map<string, string>();
  if (result.notices !== undefined) schemaMeta.set(NOTICES_KEY, JSON.stringify(result.notices));
  if (result.scan !== undefined) schemaMeta.set(SCAN_KEY, JSON.stringify(result.scan));
  const schema = new Schema(fields, schemaMeta);
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  for (let start = 0; start < result.rows.length; start += batchRows) {
    const rows = result.rows.slice(start, start + batchRows);
    rows.forEach((r, i) => {
      if (r.length !== fields.length) {
        throw new StratumError(SqlState.internalError, `row ${start + i + 1} has ${r.length} values for ${fields.length} columns`);
      }
    });
    const children = result.columns.map((c, ci) =>
      columnData(
        c.type,
        rows.map((r) => r[ci] ?? null),
        { column: c.name, type: c.type, row0: start },
      ),
    );
    const data = makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children });
    const batch = new RecordBatch(schema, data);
    // apache-arrow's RecordBatch constructor merges the schema's fields by name (Schema.assign), which
    // garbles results with two columns of one name (SELECT a.id, b.id …): keep the schema as is.
    Object.assign(batch, { schema, data });
    writer.write(batch);
  }
  writer.finish();
  return writer.toUint8Array(true);
}

/** Where a value being encoded sits, for error messages. */
interface Site {
  column: string;
  type: ResultType;
  /** Index in the result of the batch's first row. */
  row0: number;
}

function describe(v: Value): string {
  if (v instanceof Uint8Array) return 'a byte array';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `the ${typeof v} ${String(v)}`;
}

function badValue(site: Site, i: number, v: Value, expected: string, cause?: unknown): StratumError {
  return new StratumError(
    SqlState.internalError,
    `cannot encode ${describe(v)} in column "${site.column}" (${site.type}), row ${site.row0 + i + 1}, as Arrow: expected ${expected}`,
    cause === undefined ? {} : { cause },
  );
}

function tooLarge(site: Site): StratumError {
  return new StratumError(
    SqlState.programLimitExceeded,
    `column "${site.column}" (${site.type}) holds more than 2 GiB in one Arrow record batch (rows from ${site.row0 + 1})`,
    { hint: 'Encode with a smaller batchRows.' },
  );
}

/** Validity bitmap (LSB first, 1 = not null) and null count of `values`. */
function validity(values: readonly Value[]): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array((values.length + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null) nulls++;
    else bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return { bitmap, nulls };
}

function columnData(t: ResultType, values: readonly Value[], site: Site): Data {
  if (t === 'unknown' || !isArrayType(t)) return scalarData(t as Scalar, values, site);
  const elem = elementType(t);
  const { bitmap, nulls } = validity(values);
  const offsets = new Int32Array(values.length + 1);
  const flat: Value[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? null;
    if (v !== null) {
      if (!Array.isArray(v)) throw badValue(site, i, v, `an array of ${elem}`);
      for (const e of v) {
        if (Array.isArray(e)) throw badValue(site, i, v, `a one-dimensional array of ${elem}`);
        flat.push(e);
      }
      if (flat.length > MAX_OFFSET) throw tooLarge(site);
    }
    offsets[i + 1] = flat.length;
  }
  const child = scalarData(elem, flat, site, offsets);
  return makeData({
    type: new List(elementField(elem)),
    length: values.length,
    nullCount: nulls,
    nullBitmap: bitmap,
    valueOffsets: offsets,
    child,
  });
}

/**
 * Data of a scalar column. `listOffsets`, for the flattened elements of an array column, maps an
 * element back to its row for error messages.
 */
function scalarData(t: Scalar, values: readonly Value[], site: Site, listOffsets?: Int32Array): Data {
  const n = values.length;
  const { bitmap, nulls } = validity(values);
  const props = { length: n, nullCount: nulls, nullBitmap: bitmap };
  const row = (i: number): number => {
    if (!listOffsets) return i;
    let r = 0;
    while ((listOffsets[r + 1] ?? Number.POSITIVE_INFINITY) <= i) r++;
    return r;
  };
  const bad = (i: number, v: Value, expected: string, cause?: unknown): StratumError =>
    badValue(site, row(i), v, listOffsets ? `${expected} (array element ${i - (listOffsets[row(i)] ?? 0) + 1})` : expected, cause);
  switch (t) {
    case 'boolean': {
      const data = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'boolean') throw bad(i, v, 'a boolean');
        if (v) data[i >> 3]! |= 1 << (i & 7);
      }
      return makeData({ type: new Bool(), ...props, data });
    }
    case 'smallint':
    case 'integer':
    case 'date': {
      const [lo, hi, Ctor] = t === 'smallint' ? [-32768, 32767, Int16Array] : [-2147483648, 2147483647, Int32Array];
      const data = new Ctor(n);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
          throw bad(i, v, t === 'date' ? 'days since 1970-01-01 (an int32 number)' : `an integer number in [${lo}, ${hi}]`);
        }
        data[i] = v;
      }
      if (t === 'date') return makeData({ type: new DateDay(), ...props, data: data as Int32Array });
      return t === 'smallint'
        ? makeData({ type: new Int16(), ...props, data: data as Int16Array })
        : makeData({ type: new Int32(), ...props, data: data as Int32Array });
    }
    case 'bigint':
    case 'timestamp':
    case 'timestamptz': {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) {
          throw bad(i, v, t === 'bigint' ? 'an int64 bigint' : 'µs since 1970-01-01 as an int64 bigint');
        }
        data[i] = v;
      }
      if (t === 'bigint') return makeData({ type: new Int64(), ...props, data });
      return makeData({ type: new TimestampMicrosecond(t === 'timestamptz' ? 'UTC' : null), ...props, data });
    }
    case 'time': {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > US_PER_DAY)
          throw bad(i, v, 'µs since midnight (an integer number)');
        data[i] = BigInt(v);
      }
      return makeData({ type: new TimeMicrosecond(), ...props, data });
    }
    case 'real':
    case 'double': {
      const data = t === 'real' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        // A real is a float4 (types.ts); one that is not would be rounded here, so it is refused.
        if (typeof v !== 'number' || (t === 'real' && !Number.isNaN(v) && Math.fround(v) !== v)) {
          throw bad(i, v, t === 'real' ? 'a number exact in float4' : 'a number');
        }
        data[i] = v;
      }
      return t === 'real'
        ? makeData({ type: new Float32(), ...props, data: data as Float32Array })
        : makeData({ type: new Float64(), ...props, data: data as Float64Array });
    }
    case 'uuid': {
      const data = new Uint8Array(16 * n);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'string' || !UUID_RE.test(v)) throw bad(i, v, 'a lower-case canonical uuid string');
        const hex = v.replaceAll('-', '');
        for (let b = 0; b < 16; b++) data[16 * i + b] = Number.parseInt(hex.slice(2 * b, 2 * b + 2), 16);
      }
      return makeData({ type: new FixedSizeBinary(16), ...props, data });
    }
    case 'interval': {
      const data = new Int32Array(4 * n);
      const view = new DataView(data.buffer);
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v === null) continue;
        if (typeof v !== 'string') throw bad(i, v, 'an ISO 8601 interval string');
        let p: ReturnType<typeof intervalParts>;
        try {
          p = intervalParts(v);
        } catch (e) {
          throw bad(i, v, 'an ISO 8601 interval string', e);
        }
        const nanos = p.micros * 1000n;
        if (nanos < INT64_MIN || nanos > INT64_MAX) {
          throw new StratumError(
            SqlState.intervalFieldOverflow,
            `interval "${v}" in column "${site.column}", row ${site.row0 + row(i) + 1}, does not fit Arrow Interval(MONTH_DAY_NANO): its time part exceeds 2^63 ns (about 292 years)`,
            { hint: 'Cast the column to text to receive it as Utf8.' },
          );
        }
        data[4 * i] = p.months;
        data[4 * i + 1] = p.days;
        view.setBigInt64(16 * i + 8, nanos, true);
      }
      return makeData({ type: new IntervalMonthDayNano(), ...props, data });
    }
    case 'bytea': {
      const offsets = new Int32Array(n + 1);
      let size = 0;
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v !== null && !(v instanceof Uint8Array)) throw bad(i, v, 'a Uint8Array');
        size += v === null ? 0 : v.byteLength;
        if (size > MAX_OFFSET) throw tooLarge(site);
        offsets[i + 1] = size;
      }
      const data = new Uint8Array(size);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v instanceof Uint8Array) data.set(v, offsets[i]!);
      }
      return makeData({ type: new Binary(), ...props, valueOffsets: offsets, data });
    }
    default: {
      // numeric, text, varchar, char, json, jsonb, unknown: the string itself, written straight
      // into one buffer: a Uint8Array per string made 3 M short strings take 2–4 s, mostly
      // garbage collection (0.4 s so).
      const offsets = new Int32Array(n + 1);
      let size = 0;
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? null;
        if (v !== null) {
          if (typeof v !== 'string') throw bad(i, v, 'a string');
          size += Buffer.byteLength(v, 'utf8');
          if (size > MAX_OFFSET) throw tooLarge(site);
        }
        offsets[i + 1] = size;
      }
      const data = new Uint8Array(size);
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < n; i++) {
        const v = values[i] as string | null;
        if (v === null) continue;
        const at = offsets[i]!;
        const len = offsets[i + 1]! - at;
        // As many bytes as UTF-16 units means ASCII: a short one is copied in JS, cheaper than a
        // native call. Lone surrogates become U+FFFD, as with TextEncoder.
        if (len === v.length && len <= 32) for (let j = 0; j < len; j++) data[at + j] = v.charCodeAt(j);
        else buf.write(v, at, len, 'utf8');
      }
      return makeData({ type: new Utf8(), ...props, valueOffsets: offsets, data });
    }
  }
}

/** Refusal of bytes that are not a stream {@link encodeArrowStream} wrote (22P03, PostgreSQL's "invalid binary representation"). */
function badStream(message: string, cause?: unknown): StratumError {
  return new StratumError(
    SqlState.invalidBinaryRepresentation,
    `invalid Arrow result stream: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

const RESULT_SCALARS = new Set<string>(Object.keys(PG_TYPE_OID));

function isResultType(t: unknown): t is ResultType {
  if (typeof t !== 'string') return false;
  if (t.endsWith('[]')) {
    const e = t.slice(0, -2);
    return e !== 'unknown' && RESULT_SCALARS.has(e);
  }
  return RESULT_SCALARS.has(t);
}

/**
 * Decode an Arrow IPC stream written by {@link encodeArrowStream} back into the query result:
 * the inverse of encoding, value for value (bigint stays bigint, bytea becomes a plain
 * Uint8Array, a real is the same float4 number). The column types come from each field's
 * `stratum.type` metadata; a column's `typeOid` is set only when `stratum.type_oid` differs from
 * the type's own OID. The IPC file format is read too.
 * @throws StratumError 22P03 when `bytes` is empty or not Arrow IPC, or is Arrow without the
 *   Stratum metadata (streams of other writers), or a field's Arrow type does not match its
 *   `stratum.type`, or a value cannot be one of that type (invalid UTF-8, an interval with a
 *   sub-microsecond part); the message names the field.
 */
export function decodeArrowStream(bytes: Uint8Array): ArrowQueryResult {
  if (!(bytes instanceof Uint8Array)) throw badStream('expected a Uint8Array');
  if (bytes.byteLength === 0) throw badStream('no bytes (an Arrow IPC stream starts with a schema message)');
  // The reader's schema is the schema message as written; its batches' schemas (and tableFromIPC's)
  // merge fields of one name, so columns are taken by position from the batches' data.
  let schema: Schema | undefined;
  let batches: RecordBatch[];
  try {
    const reader = RecordBatchReader.from(bytes);
    reader.open({ autoDestroy: false });
    schema = reader.schema as Schema | undefined;
    batches = [...reader];
  } catch (e) {
    throw badStream(`not Arrow IPC (${(e as Error).message})`, e);
  }
  if (!schema) throw badStream('no schema message');
  const columns: ArrowResultColumn[] = schema.fields.map((f, i) => {
    const where = `field ${i + 1} ("${f.name}")`;
    const raw = f.metadata.get(ARROW_TYPE_KEY);
    if (raw === undefined) throw badStream(`${where} has no "${ARROW_TYPE_KEY}" metadata (not written by Stratum)`);
    let type: unknown;
    try {
      type = JSON.parse(raw);
    } catch (e) {
      throw badStream(`${where}: "${ARROW_TYPE_KEY}" is not JSON: ${raw}`, e);
    }
    if (!isResultType(type)) throw badStream(`${where}: unknown type ${raw}`);
    const expected = arrowTypeOf(type);
    if (f.type.typeId !== expected.typeId || String(f.type) !== String(expected)) {
      throw badStream(`${where} of type ${type} is Arrow ${f.type}, expected ${expected}`);
    }
    const col: ArrowResultColumn = { name: f.name, type };
    const oidText = f.metadata.get(ARROW_TYPE_OID_KEY);
    if (oidText !== undefined) {
      const oid = Number(oidText);
      if (!/^\d+$/.test(oidText) || !Number.isSafeInteger(oid))
        throw badStream(`${where}: "${ARROW_TYPE_OID_KEY}" is not an OID: ${oidText}`);
      if (oid !== pgTypeOid(type)) col.typeOid = oid;
    }
    return col;
  });
  const rows: Value[][] = [];
  for (const batch of batches) {
    // A stream without batches reads as one empty placeholder batch.
    if (batch.numRows === 0) continue;
    if (batch.data.children.length !== columns.length)
      throw badStream(`a record batch has ${batch.data.children.length} fields, the schema ${columns.length}`);
    const cols = columns.map((c, ci) => {
      const data = batch.data.children[ci];
      if (!data) throw badStream(`a record batch lacks field ${ci + 1} ("${c.name}")`);
      return readColumn(data, c.type, `field ${ci + 1} ("${c.name}")`);
    });
    for (let r = 0; r < batch.numRows; r++) {
      const row: Value[] = new Array(cols.length);
      for (let c = 0; c < cols.length; c++) row[c] = cols[c]![r] ?? null;
      rows.push(row);
    }
  }
  const out: ArrowQueryResult = { columns, rows };
  const notices = schema.metadata.get(NOTICES_KEY);
  if (notices !== undefined) out.notices = parseNotices(notices);
  const scan = schema.metadata.get(SCAN_KEY);
  if (scan !== undefined) out.scan = parseScan(scan);
  return out;
}

/**
 * The rows of a result in either form of {@link QueryResult}: `r.rows`, or when the result came as
 * an Arrow IPC stream (`QueryOptions.resultFormat: 'arrow'`) the rows decoded from `r.arrow`
 * (stored representation, as {@link decodeArrowStream} gives them: bytea as plain Uint8Array).
 * @throws StratumError 22P03 when `r.arrow` is not a stream {@link encodeArrowStream} wrote.
 */
export function resultRows(r: QueryResult): Value[][] {
  return r.arrow === undefined ? r.rows : decodeArrowStream(r.arrow).rows;
}

function parseJsonMeta(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badStream(`schema metadata "${key}" is not JSON`, e);
  }
}

function parseNotices(text: string): string[] {
  const v = parseJsonMeta(NOTICES_KEY, text);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw badStream(`schema metadata "${NOTICES_KEY}" is not a string array`);
  return v;
}

function parseScan(text: string): { filesTotal: number; filesOpened: number } {
  const v = parseJsonMeta(SCAN_KEY, text) as { filesTotal?: unknown; filesOpened?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.filesTotal !== 'number' || typeof v.filesOpened !== 'number') {
    throw badStream(`schema metadata "${SCAN_KEY}" is not {filesTotal, filesOpened}`);
  }
  return { filesTotal: v.filesTotal, filesOpened: v.filesOpened };
}

/**
 * The stored values of one column of a record batch. Reads the buffers, not apache-arrow's
 * `get()`, which turns timestamps and dates into (inexact) milliseconds.
 */
function readColumn(data: Data, t: ResultType, where: string): Value[] {
  if (t === 'unknown' || !isArrayType(t)) return readScalar(data, t as Scalar, where);
  const elem = elementType(t as SqlType);
  const offsets = data.valueOffsets as Int32Array;
  const child = data.children[0];
  if (!child) throw badStream(`${where}: list without a child`);
  const flat = readScalar(child, elem, `${where} element`);
  const out: Value[] = new Array(data.length);
  const bitmap = validityBitmap(data);
  for (let i = 0; i < data.length; i++) {
    out[i] = validAt(bitmap, data.offset + i) ? flat.slice(offsets[i]!, offsets[i + 1]!) : null;
  }
  return out;
}

/**
 * The validity bitmap of `data` (LSB first from bit `data.offset`, 0 = null), or undefined when
 * every value is valid: what `Data.getValid` reads, without its per-value type checks.
 */
function validityBitmap(data: Data): Uint8Array | undefined {
  const bitmap = data.nullBitmap;
  return data.nullCount > 0 && bitmap && bitmap.byteLength > 0 ? bitmap : undefined;
}

/** Whether bit `pos` of a validity bitmap is set; every bit is without a bitmap. */
function validAt(bitmap: Uint8Array | undefined, pos: number): boolean {
  return !bitmap || (bitmap[pos >> 3]! & (1 << (pos & 7))) !== 0;
}

function readScalar(data: Data, t: Scalar, where: string): Value[] {
  const out: Value[] = new Array(data.length);
  const bitmap = validityBitmap(data);
  const values = data.values as ArrayLike<number | bigint> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
  /** The values buffer of a string column, as a Buffer (read without a view per value). */
  let text: Buffer | undefined;
  for (let i = 0; i < data.length; i++) {
    if (!validAt(bitmap, data.offset + i)) {
      out[i] = null;
      continue;
    }
    let v: Value;
    switch (t) {
      case 'boolean': {
        const bit = data.offset + i;
        v = ((data.values as Uint8Array)[bit >> 3]! & (1 << (bit & 7))) !== 0;
        break;
      }
      case 'smallint':
      case 'integer':
      case 'date':
      case 'real':
      case 'double':
        v = values[i] as number;
        break;
      case 'bigint':
      case 'timestamp':
      case 'timestamptz':
        v = values[i] as bigint;
        break;
      case 'time':
        v = Number(values[i] as bigint);
        break;
      case 'uuid': {
        const b = (data.values as Uint8Array).subarray(16 * i, 16 * i + 16);
        const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
        v = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
        break;
      }
      case 'interval': {
        const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
        const nanos = view.getBigInt64(16 * i + 8, true);
        if (nanos % 1000n !== 0n) throw badStream(`${where}, row ${i + 1}: interval with a sub-microsecond part (${nanos} ns)`);
        v = makeInterval({ months: view.getInt32(16 * i, true), days: view.getInt32(16 * i + 4, true), micros: nanos / 1000n });
        break;
      }
      case 'bytea': {
        const o = data.valueOffsets as Int32Array;
        v = new Uint8Array((data.values as Uint8Array).subarray(o[i]!, o[i + 1]!));
        break;
      }
      default: {
        const o = data.valueOffsets as Int32Array;
        const bytes = data.values as Uint8Array;
        const start = o[i]!;
        const end = o[i + 1]!;
        let ascii = true;
        for (let j = start; j < end && ascii; j++) ascii = bytes[j]! < 0x80;
        if (ascii) {
          // ASCII (most text) is valid UTF-8 and reads as latin1 alike, without a view per value;
          // short strings are built in JS, cheaper than a native call each (as msgpackr does).
          if (end - start <= 12) {
            let str = '';
            for (let j = start; j < end; j++) str += String.fromCharCode(bytes[j]!);
            v = str;
          } else {
            text ??= Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
            v = text.toString('latin1', start, end);
          }
          break;
        }
        try {
          v = utf8Decoder.decode(bytes.subarray(start, end));
        } catch (e) {
          throw badStream(`${where}, row ${i + 1}: invalid UTF-8`, e);
        }
      }
    }
    out[i] = v;
  }
  return out;
}
