/**
 * `IngestionApi.find`: live rows of one table by a row source (tiers.ts `RowSource`), latest or
 * as of a time, read from ingestion's LMDB store (store.ts, indexes.ts).
 *
 * | source | latest | as of `asOf` |
 * |---|---|---|
 * | `scan` | `latest` in storage-key order from `afterKey` | the same keys, each row's version at `asOf` |
 * | `range`, no index | a seek in `latest` when the key's first column orders like PostgreSQL (keys.ts `lmdbOrdersLikePg`), else a filtered scan | the same, versions at `asOf` |
 * | `index`, `range` on an index | the `index` db: equality on leading columns, or a range on the first, in index order | the keys the index finds now plus every key with a version committed after `asOf` (`bytime`), each read at `asOf` and filtered, in storage-key order (the index holds latest versions only; past 100,000 such versions, a filtered scan) |
 *
 * An index whose build on this engine is not done (or failed) is not used: the lookup is answered
 * by a filtered scan, which gives the same rows. Results are in storage-key order except for latest
 * index lookups (index order: values, then key). `afterKey` (exclusive) pages scans and key ranges; an
 * index source refuses it, since its order is not key order. With `asOf` the answer is exact for
 * `asOf` at or after the GC horizon (older reads belong to OLAP), like `getMany`. A comparison
 * with NULL (a NULL bound or `eq` value) matches no row, as in SQL.
 */
import {
  type Catalog,
  decode,
  type Row,
  type RowSource,
  type RowVersion,
  readField,
  SchemaError,
  SqlState,
  StratumError,
  type TableInfo,
  type Value,
} from '@stratum/shared';
import { type IndexPlan, indexPlans } from './indexes.ts';
import {
  compareSortable,
  decodeKeyValues,
  keyPart,
  lmdbOrdersLikePg,
  NULL_SORTABLE,
  prefixEnd,
  rowKey,
  sortable,
  toBufferKey,
} from './keys.ts';
import { type BytimeValue, type HistoryValue, IngestionStore, KEY_MAX, type LatestValue } from './store.ts';

/** A source `find` takes (key lists and candidates go through `getMany`). */
export type FindSource = Exclude<RowSource, { by: 'key' } | { by: 'candidates' }>;

/** Options of `find`. */
export interface FindOptions {
  /** Read as of this time (ms since epoch, inclusive); undefined = latest. */
  asOf?: number;
  /** At most this many rows. */
  limit?: number;
  /** Storage-key values: only rows after this key (scans and key ranges). */
  afterKey?: Value[];
}

/** What `find` needs of the ingestion engine. */
export interface FindContext {
  store: IngestionStore;
  catalog: Catalog;
  /** The version of a row at `asOf` (ms) by its encoded `latest` key. */
  getAsOfRaw(lk: Buffer, asOf: number): RowVersion | null;
  /** True when this engine's build of index `oid` of `storage` is done (the index answers lookups). */
  indexReady(storage: string, oid: number): boolean;
}

type Bound = { v: Value; incl: boolean } | undefined;

/**
 * Most versions committed after `asOf` an as-of index lookup reads from `bytime` before it gives
 * up for a filtered scan (a lookup far in the past may meet more changes than the table has rows).
 */
const BYTIME_MAX = 100_000;

/**
 * Live rows of `table` (storage name) found by `source` (see the module comment).
 * @throws SchemaError 42P01 for an unknown table, 42704 for an unknown index; StratumError 22023
 *   for a bad limit, asOf or afterKey (wrong arity, or with an index source).
 */
export function findRows(ctx: FindContext, table: string, source: FindSource, opts: FindOptions = {}): RowVersion[] {
  const info = ctx.catalog.byStorage(table);
  if (!info) {
    throw new SchemaError(
      SqlState.undefinedTable,
      `relation with storage name "${table}" does not exist on this ingestion engine (catalog version ${ctx.catalog.version})`,
    );
  }
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 0) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
    throw new StratumError(SqlState.invalidParameterValue, `find: limit must be a non-negative integer (got ${String(opts.limit)})`);
  }
  const asOf = opts.asOf;
  if (asOf !== undefined && !Number.isFinite(asOf)) {
    throw new StratumError(SqlState.invalidParameterValue, `find: asOf must be a time in ms (got ${String(asOf)})`);
  }
  if (limit === 0) return [];
  const pkCols = info.pkIndexes.map((i) => info.columns[i] as TableInfo['columns'][number]);
  let after: Buffer | undefined;
  if (opts.afterKey !== undefined) {
    if (!Array.isArray(opts.afterKey) || opts.afterKey.length !== pkCols.length) {
      throw new StratumError(
        SqlState.invalidParameterValue,
        `find: afterKey of table "${info.name}" must have ${pkCols.length} value(s) (${info.primaryKey.join(', ')})`,
      );
    }
    after = toBufferKey(rowKey(table, opts.afterKey));
  }
  const scan = new Scan(ctx, info, asOf, limit, after);
  const base = toBufferKey([table]);
  switch (source?.by) {
    case 'scan':
      return scan.run(base, prefixEnd(base));
    case 'range': {
      if (isNullBound(source.lo) || isNullBound(source.hi)) return [];
      if (source.index === undefined) return keyRange(scan, info, pkCols[0] as TableInfo['columns'][number], source.lo, source.hi);
      const p = planOf(info, source.index);
      if (after) throw afterKeyRefused();
      const col = p.columns[0];
      if (!col) return [];
      const lo = source.lo === undefined ? undefined : sortable(source.lo.v, col.type);
      const hi = source.hi === undefined ? undefined : sortable(source.hi.v, col.type);
      const pred = (row: Row) => inRange(sortable(readField(row, col), col.type), lo, source.lo, hi, source.hi);
      if (ctx.indexReady(table, p.oid)) {
        const prefix = (s: string) => toBufferKey([table, p.oid, s]);
        const start = lo === undefined ? toBufferKey([table, p.oid]) : source.lo?.incl ? prefix(lo) : prefixEnd(prefix(lo));
        const end = hi === undefined ? prefix(NULL_SORTABLE) : source.hi?.incl ? prefixEnd(prefix(hi)) : prefix(hi);
        const rows = asOf === undefined ? scan.index(start, end) : scan.indexAsOf(start, end, asOf, pred);
        if (rows) return rows;
      }
      return scan.run(base, prefixEnd(base), pred);
    }
    case 'index': {
      const p = planOf(info, source.index);
      if (after) throw afterKeyRefused();
      const eq = source.eq ?? [];
      if (!Array.isArray(eq) || eq.length > p.columns.length) {
        throw new StratumError(
          SqlState.invalidParameterValue,
          `find: index "${p.name}" has ${p.columns.length} column(s), got ${eq.length} value(s)`,
        );
      }
      if (eq.some((v) => v === null || v === undefined)) return [];
      const want = eq.map((v, i) => {
        const c = p.columns[i];
        return c ? sortable(v, c.type) : NULL_SORTABLE;
      });
      const pred = (row: Row) =>
        want.every((w, i) => {
          const c = p.columns[i];
          return c !== undefined && sortable(readField(row, c), c.type) === w;
        });
      if (ctx.indexReady(table, p.oid)) {
        const prefix = toBufferKey([table, p.oid, ...want]);
        const rows = asOf === undefined ? scan.index(prefix, prefixEnd(prefix)) : scan.indexAsOf(prefix, prefixEnd(prefix), asOf, pred);
        if (rows) return rows;
      }
      return scan.run(base, prefixEnd(base), pred);
    }
    default:
      throw new StratumError(
        SqlState.invalidParameterValue,
        `find: unknown row source ${JSON.stringify((source as { by?: unknown })?.by)}`,
      );
  }
}

/** A range on the storage key's first column: a seek when LMDB orders its type like PostgreSQL, else a filtered scan. */
function keyRange(scan: Scan, info: TableInfo, col: TableInfo['columns'][number], lo: Bound, hi: Bound): RowVersion[] {
  const t = info.storage;
  const base = toBufferKey([t]);
  if (lmdbOrdersLikePg(col.type)) {
    const at = (v: Value) => toBufferKey([t, keyPart(v)]);
    const start = lo === undefined ? base : lo.incl ? at(lo.v) : prefixEnd(at(lo.v));
    const end = hi === undefined ? prefixEnd(base) : hi.incl ? prefixEnd(at(hi.v)) : at(hi.v);
    return scan.run(start, end);
  }
  const f = col.field ?? col.name;
  const los = lo === undefined ? undefined : sortable(lo.v, col.type);
  const his = hi === undefined ? undefined : sortable(hi.v, col.type);
  return scan.run(base, prefixEnd(base), (row) => inRange(sortable(row[f] ?? null, col.type), los, lo, his, hi));
}

function inRange(v: string, lo: string | undefined, loB: Bound, hi: string | undefined, hiB: Bound): boolean {
  if (v === NULL_SORTABLE) return false;
  if (lo !== undefined) {
    const c = compareSortable(v, lo);
    if (c < 0 || (c === 0 && !loB?.incl)) return false;
  }
  if (hi !== undefined) {
    const c = compareSortable(v, hi);
    if (c > 0 || (c === 0 && !hiB?.incl)) return false;
  }
  return true;
}

function isNullBound(b: Bound): boolean {
  return b !== undefined && (b.v === null || b.v === undefined);
}

function planOf(info: TableInfo, name: string): IndexPlan {
  const p = indexPlans(info).find((x) => x.name === name);
  if (!p) throw new SchemaError(SqlState.undefinedObject, `index "${name}" of relation "${info.name}" does not exist`);
  return p;
}

function afterKeyRefused(): StratumError {
  return new StratumError(
    SqlState.invalidParameterValue,
    'find: afterKey pages scans and storage-key ranges only; an index source returns rows in index order',
  );
}

/** One `find` call's reading state: table, time, limit, paging and the rows found so far. */
class Scan {
  private readonly out: RowVersion[] = [];
  private readonly pkFields: string[];

  constructor(
    private readonly ctx: FindContext,
    private readonly info: TableInfo,
    private readonly asOf: number | undefined,
    private readonly limit: number,
    private readonly after: Buffer | undefined,
  ) {
    this.pkFields = info.pkIndexes.map((i) => {
      const c = info.columns[i] as TableInfo['columns'][number];
      return c.field ?? c.name;
    });
  }

  /** Rows whose `latest` keys are in [start, end) (after `after`), matching `pred`, in key order. */
  run(start: Buffer, end: Buffer, pred?: (row: Row) => boolean): RowVersion[] {
    const s = this.ctx.store;
    let from = start;
    if (this.after && Buffer.compare(this.after, from) >= 0) from = this.after;
    for (const { key, value } of s.latestRaw.getRange({ start: from, end })) {
      if (this.out.length >= this.limit) break;
      if (this.after?.equals(key)) continue;
      const lk = Buffer.from(key);
      let rv: RowVersion | null;
      if (this.asOf === undefined) {
        const lv = decode<LatestValue>(value, 'latest');
        const hv = IngestionStore.read<HistoryValue>(s.history, [lk, lv[0], lv[2]]);
        rv = hv && hv[0] !== 'delete' ? { version: lv[2], commitTs: lv[0], row: hv[4] } : null;
      } else rv = this.ctx.getAsOfRaw(lk, this.asOf);
      const row = rv?.row;
      if (!rv || !row || (pred && !pred(row))) continue;
      rv.key = this.pkFields.map((f) => row[f] ?? null);
      this.out.push(rv);
    }
    return this.out;
  }

  /**
   * Rows matching `pred` as of `asOf` (ms) among the index entries in [start, end), in storage-key
   * order, or undefined when more than {@link BYTIME_MAX} versions of the table were committed
   * after `asOf` (the caller scans instead). The index holds latest versions only, but a row whose
   * version at `asOf` matched either still has that version as its latest (its entry is in range
   * now) or got a version committed after `asOf` (a `bytime` entry after it): those keys, each read
   * as of `asOf` and re-checked, are the answer, exact whichever engines wrote. The index is read
   * before `bytime`, so a merge between the two reads cannot hide a row from both.
   */
  indexAsOf(start: Buffer, end: Buffer, asOf: number, pred: (row: Row) => boolean): RowVersion[] | undefined {
    const s = this.ctx.store;
    const t = this.info.storage;
    const keys = new Map<string, Buffer>();
    const note = (key: Value[]) => {
      const lk = toBufferKey(rowKey(t, key));
      keys.set(lk.toString('latin1'), lk);
    };
    for (const { value } of s.indexRaw.getRange({ start, end })) note(decodeKeyValues(value));
    let versions = 0;
    const after = toBufferKey([t, asOf, KEY_MAX]);
    for (const { value } of s.bytimeRaw.getRange({ start: after, end: prefixEnd(toBufferKey([t])) })) {
      const l = decode<BytimeValue>(value, 'bytime entry');
      versions += l.length / 2;
      if (versions > BYTIME_MAX) return undefined;
      for (let i = 0; i < l.length; i += 2) note(l[i] as Value[]);
    }
    for (const lk of [...keys.values()].sort(Buffer.compare)) {
      if (this.out.length >= this.limit) break;
      const rv = this.ctx.getAsOfRaw(lk, asOf);
      const row = rv?.row;
      if (!rv || !row || !pred(row)) continue;
      rv.key = this.pkFields.map((f) => row[f] ?? null);
      this.out.push(rv);
    }
    return this.out;
  }

  /** Rows of the index entries in [start, end), in index order (latest versions). */
  index(start: Buffer, end: Buffer): RowVersion[] {
    const s = this.ctx.store;
    const t = this.info.storage;
    for (const { value } of s.indexRaw.getRange({ start, end })) {
      if (this.out.length >= this.limit) break;
      const key = decodeKeyValues(value);
      const lk = toBufferKey(rowKey(t, key));
      const lv = IngestionStore.read<LatestValue>(s.latest, lk);
      if (!lv) continue;
      const hv = IngestionStore.read<HistoryValue>(s.history, [lk, lv[0], lv[2]]);
      if (!hv || hv[0] === 'delete' || !hv[4]) continue;
      this.out.push({ version: lv[2], commitTs: lv[0], row: hv[4], key });
    }
    return this.out;
  }
}
