/**
 * Secondary indexes in ingestion's LMDB store (DESIGN §7: lookups by them are point reads).
 *
 * One named db `index` holds every index of every table: key
 * `[storage, index oid, ...values, ...storage key]` (values encoded with {@link sortable}, the
 * storage key with {@link keyPart}), value = the exact storage-key values (MessagePack; the
 * decoded key would lose bigint precision). Entries cover the latest live version of each row:
 * the merge that changes a row's latest removes the old version's entries and adds the new
 * one's in the same LMDB transaction (ingestion.ts `issue`).
 *
 * A new index (catalog state `building`) is back-filled from `latest` in chunks, each chunk one
 * LMDB transaction run exclusively with merges, while merges maintain the index from the moment
 * the catalog has it; the chunk cursor and the outcome are kept in `meta` under
 * `['ixb', storage, oid]` ({@link BuildRecord}). A unique index whose live rows hold a value twice
 * (NULLs are distinct, PostgreSQL's default NULLS DISTINCT) fails the build with 23505 as
 * PostgreSQL words it for CREATE UNIQUE INDEX, whether the back-fill finds the duplicate or a
 * merge brings it while the catalog still has the index `building` (after that, uniqueness is
 * the TX engines' to enforce).
 */
import { type ColumnDef, formatValue, readField, SqlState, type TableInfo, type Value } from '@stratum/shared';
import type { Key as LmdbKey } from 'lmdb';
import { encodeKeyValues, keyPart, NULL_SORTABLE, sortable, toBufferKey } from './keys.ts';

/** An index of a table as maintenance needs it. */
export interface IndexPlan {
  oid: number;
  name: string;
  unique: boolean;
  /** The catalog still has it `building` (not yet valid on every row tier). */
  building: boolean;
  /** Indexed columns, in order (undefined: a field the table no longer has; its values read as NULL). */
  columns: (ColumnDef | undefined)[];
  fields: string[];
}

const plans = new WeakMap<TableInfo, IndexPlan[]>();

/** The indexes of a table (cached per catalog definition). */
export function indexPlans(info: TableInfo): IndexPlan[] {
  let p = plans.get(info);
  if (!p) {
    p = (info.indexes ?? [])
      .filter((i) => i.oid !== undefined)
      .map((i) => ({
        oid: i.oid as number,
        name: i.name,
        unique: i.unique,
        building: i.state === 'building',
        fields: i.columns,
        columns: i.columns.map((f) => {
          const at = info.fieldIndex.get(f);
          return at === undefined ? undefined : info.columns[at];
        }),
      }));
    plans.set(info, p);
  }
  return p;
}

/** An index entry of one row. */
export interface IndexEntry {
  /** The whole LMDB key. */
  key: Buffer;
  /** `[storage, oid, ...values]` encoded: the entries of rows with equal values share it. */
  prefix: Buffer;
  /** Some indexed value is NULL (never a duplicate). */
  hasNull: boolean;
  /** Exact storage-key values (the entry's value). */
  value: Buffer;
}

/** The encoded values of `row` in index `p`. */
export function indexValues(p: IndexPlan, row: Readonly<Record<string, Value>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.fields.length; i++) {
    const c = p.columns[i];
    out.push(c ? sortable(readField(row, c), c.type) : NULL_SORTABLE);
  }
  return out;
}

/** The entry of a live row (`row`, storage key `key`) of table `storage` in index `p`. */
export function indexEntry(storage: string, p: IndexPlan, row: Readonly<Record<string, Value>>, key: readonly Value[]): IndexEntry {
  const vals = indexValues(p, row);
  const prefixParts: LmdbKey[] = [storage, p.oid, ...vals];
  const prefix = toBufferKey(prefixParts);
  const keyParts: LmdbKey[] = [prefix];
  for (const v of key) keyParts.push(keyPart(v));
  return { key: toBufferKey(keyParts), prefix, hasNull: vals.includes(NULL_SORTABLE), value: encodeKeyValues(key) };
}

/** Build progress of one index on this ingestion engine, as kept in `meta` under `['ixb', storage, oid]`. */
export interface BuildRecord {
  /** Index name when the build started (for logs). */
  name: string;
  state: 'building' | 'done' | 'failed';
  /** Raw `latest` key of the last row back-filled (the next chunk starts after it). */
  cursor?: Buffer;
  /** Why the build failed (23505 for a duplicate value of a unique index). */
  error?: { code: string; message: string; detail?: string };
}

/**
 * PostgreSQL's error for a duplicate found while building a unique index (`could not create
 * unique index "name"`, DETAIL `Key (a, b)=(1, x) is duplicated.`), values in text output.
 */
export function duplicateError(p: IndexPlan, row: Readonly<Record<string, Value>>): NonNullable<BuildRecord['error']> {
  const names = p.columns.map((c, i) => c?.name ?? p.fields[i]);
  const vals = p.columns.map((c) => {
    if (!c) return 'null';
    const v = readField(row, c);
    return v === null ? 'null' : (formatValue(v, c.type) ?? 'null');
  });
  return {
    code: SqlState.uniqueViolation,
    message: `could not create unique index "${p.name}"`,
    detail: `Key (${names.join(', ')})=(${vals.join(', ')}) is duplicated.`,
  };
}
