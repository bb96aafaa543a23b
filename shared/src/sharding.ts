/**
 * OLAP shard placement (DESIGN §5): which shard holds a row version of a table, and which
 * shards a query's predicates can touch. Every service computes the same answer from the
 * table's options and the cluster's shard list:
 *
 * - `shard_key: col` — shard = `shards[fnv1a(keyString([value])) mod shards.length]`, where
 *   `shards` = the table's `shards` option or every shard of the cluster, in config order.
 * - `time_shards: [{shard, until}, …, {shard}]` — the first entry whose `until` is after the
 *   row's time column value (UTC); the last entry takes the rest and NULL times.
 * - neither — the first of `shards` (one shard holds the whole table).
 *
 * A row must never move between shards, so a `shard_key` is a primary-key column (or the table
 * is append-only) and time sharding needs an append-only table; {@link checkPlacement} says so.
 */
import { readField, type TableInfo } from './catalog.ts';
import { SchemaError } from './errors.ts';
import { fnv1a, keyString } from './partition.ts';
import type { Row, Value } from './types.ts';

/** Shard ids that may hold rows of `info`, in placement order. `all` = the cluster's shard ids in config order. */
export function shardsOfTable(info: TableInfo, all: readonly string[]): string[] {
  const o = info.options;
  if (o.timeShards) return [...new Set(o.timeShards.map((t) => t.shard))];
  if (o.shards) return [...o.shards];
  return o.shardKey ? [...all] : all.slice(0, 1);
}

/** Milliseconds since epoch of a stored time-column value (timestamp µs bigint, date day number); null stays null. */
export function timeValueMs(v: Value, type: string): number | null {
  if (v === null || v === undefined) return null;
  if (type === 'date') return Number(v) * 86_400_000;
  if (typeof v === 'bigint') return Number(v / 1000n);
  if (typeof v === 'number') return type === 'timestamp' || type === 'timestamptz' ? Math.floor(v / 1000) : v;
  return null;
}

/** The shard of a shard-key value (hash placement over `shards`). */
export function shardOfKeyValue(v: Value, shards: readonly string[]): string {
  return shards[fnv1a(keyString([v])) % shards.length] as string;
}

/** The shard of a time value (ms; null → the last entry). */
export function shardOfTime(ms: number | null, timeShards: readonly { shard: string; untilMs?: number }[]): string {
  if (ms !== null) {
    for (const t of timeShards) if (t.untilMs === undefined || ms < t.untilMs) return t.shard;
  }
  return (timeShards[timeShards.length - 1] as { shard: string }).shard;
}

/**
 * The shard that holds a version of a row of `info`.
 * @param key primary-key values in key order (used for deletes, whose `row` is null)
 * @param row the row after the change (keyed by field), or null for a delete
 */
export function shardOfVersion(info: TableInfo, key: readonly Value[], row: Row | null, all: readonly string[]): string {
  const o = info.options;
  const shards = shardsOfTable(info, all);
  // Options name columns; rows are keyed by field (protocol 3).
  const fieldValue = (name: string): Value => {
    const col = info.columns[info.columnIndex.get(name) ?? -1];
    return row ? (col ? readField(row, col) : (row[name] ?? null)) : null;
  };
  if (o.timeShards) {
    const tc = o.timeColumn as string;
    const col = info.columns[info.columnIndex.get(tc) ?? -1];
    return shardOfTime(timeValueMs(fieldValue(tc), col?.type ?? 'timestamp'), o.timeShards);
  }
  if (o.shardKey) {
    let v: Value = fieldValue(o.shardKey);
    if (!row) {
      const ki = info.pkIndexes.findIndex((ci) => info.columns[ci]?.name === o.shardKey);
      v = ki >= 0 ? (key[ki] ?? null) : null;
    }
    return shardOfKeyValue(v, shards);
  }
  return shards[0] as string;
}

/** What a query's WHERE clause says about a sharded table's placement columns. */
export interface PlacementPredicate {
  /** The shard key equals one of these values (`=` or `IN`). */
  shardKeyIn?: Value[];
  /** The time column lies in [loMs, hiMs] (either end open). */
  timeRange?: { loMs?: number; hiMs?: number };
}

/** The shards a query with predicate `p` on table `info` must read (all of them when `p` says nothing useful). */
export function shardsFor(info: TableInfo, p: PlacementPredicate, all: readonly string[]): string[] {
  const o = info.options;
  const shards = shardsOfTable(info, all);
  if (o.shardKey && p.shardKeyIn) return [...new Set(p.shardKeyIn.map((v) => shardOfKeyValue(v, shards)))];
  if (o.timeShards && p.timeRange) {
    const out = new Set<string>();
    let lo = Number.NEGATIVE_INFINITY;
    for (const t of o.timeShards) {
      const hi = t.untilMs ?? Number.POSITIVE_INFINITY; // this entry holds [lo, hi)
      const qlo = p.timeRange.loMs ?? Number.NEGATIVE_INFINITY;
      const qhi = p.timeRange.hiMs ?? Number.POSITIVE_INFINITY;
      if (qlo < hi && qhi >= lo) out.add(t.shard);
      lo = hi;
    }
    return [...out];
  }
  return shards;
}

/**
 * Check a table's placement options against its schema and the cluster's shards.
 * @throws SchemaError 42P16 when the shard key is not a column, not a primary-key column of a
 *   mutable table, when time sharding lacks an append-only table with a time column, or when a
 *   shard id is not in the cluster.
 */
export function checkPlacement(info: TableInfo, all: readonly string[]): void {
  const o = info.options;
  const bad = (m: string) => new SchemaError('42P16', `table ${info.name}: ${m}`);
  for (const s of [...(o.shards ?? []), ...(o.timeShards ?? []).map((t) => t.shard)]) {
    if (!all.includes(s)) throw bad(`shard "${s}" is not in cluster.olap_shards (have: ${all.join(', ')})`);
  }
  if (o.shardKey) {
    const ci = info.columnIndex.get(o.shardKey);
    if (ci === undefined) throw bad(`shard_key "${o.shardKey}" is not a column`);
    if (!o.appendOnly && !info.pkIndexes.includes(ci)) {
      throw bad(`shard_key "${o.shardKey}" must be a primary-key column (or the table append_only): a row must never move between shards`);
    }
  }
  if (o.timeShards) {
    if (!o.appendOnly || !o.timeColumn)
      throw bad('time_shards needs append_only: true and a time_column (a row must never move between shards)');
    if (o.shardKey) throw bad('shard_key and time_shards cannot both be set');
  }
}
