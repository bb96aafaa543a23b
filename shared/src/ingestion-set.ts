/**
 * Several ingestion engines that split the stream partitions (DESIGN §4), seen as one
 * {@link IngestionApi}: row reads go to the engine that consumes the key's partition
 * (`partitionOf`), the status reports the lowest watermark (every version at or below it is
 * merged on every engine), conflicts are gathered from all, `find` asks every engine (each holds
 * the rows of its partitions) and merges the answers, `indexStatus` is done once every engine is
 * done. Used by TX engines for reads of rows they do not hold and for retention.
 */
import { toBufferKey } from 'ordered-binary';
import { partitionOf } from './partition.ts';
import { encode } from './protocol/index.ts';
import type { ConflictInfo, IndexBuildStatus, IngestionApi, IngestionStatus, RowVersion, VersionRecord } from './tiers.ts';
import type { Value } from './types.ts';

/**
 * A storage-key value as ingestion writes it in an LMDB (ordered-binary) key: byte strings and
 * arrays, which ordered-binary would copy raw, become strings (`x` + hex, `a` + hex of
 * MessagePack); other values stay as they are. Ingestion's row order (`find` scans, `afterKey`)
 * is ordered-binary's order of these parts.
 */
export function storageKeyPart(v: Value): string | number | bigint | boolean | null {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) return `x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  return `a${encode(v).toString('hex')}`;
}

/** Ingestion's order of two storage keys (see {@link storageKeyPart}). */
export function compareStorageKeys(a: readonly Value[], b: readonly Value[]): number {
  return Buffer.compare(toBufferKey(a.map(storageKeyPart)), toBufferKey(b.map(storageKeyPart)));
}

/** An ingestion engine and the partitions it consumes. */
export interface IngestionMember {
  id: string;
  api: IngestionApi;
  partitions: number[];
}

/**
 * One IngestionApi over `members`.
 * @param partitions the cluster's partition count P
 * @throws (from calls) Error naming the partition when no member consumes it
 */
export function ingestionSet(members: IngestionMember[], partitions: number): IngestionApi {
  if (members.length === 1) return (members[0] as IngestionMember).api;
  const owner = new Map<number, IngestionMember>();
  for (const m of members) for (const p of m.partitions) owner.set(p, m);
  const of = (table: string, key: Value[]): IngestionMember => {
    const p = partitionOf(table, key, partitions);
    const m = owner.get(p);
    if (!m) throw new Error(`no ingestion engine consumes partition ${p}`);
    return m;
  };
  return {
    get: (table, key) => of(table, key).api.get(table, key),
    async getMany(table, keys, asOf) {
      const out: (RowVersion | null)[] = new Array(keys.length).fill(null);
      const groups = new Map<IngestionMember, number[]>();
      keys.forEach((k, i) => {
        const m = of(table, k);
        groups.set(m, [...(groups.get(m) ?? []), i]);
      });
      await Promise.all(
        [...groups].map(async ([m, idx]) => {
          const got = await m.api.getMany(
            table,
            idx.map((i) => keys[i] as Value[]),
            asOf,
          );
          idx.forEach((i, j) => {
            out[i] = got[j] ?? null;
          });
        }),
      );
      return out;
    },
    delta(): Promise<{ versions: VersionRecord[]; lastLsn: number; watermark: number }> {
      throw new Error('delta() is per ingestion engine (LSNs are local to one engine); call a member');
    },
    async status(): Promise<IngestionStatus> {
      const all = await Promise.all(members.map((m) => m.api.status()));
      const low = all.reduce((a, b) => (b.watermark < a.watermark ? b : a));
      return { ...low, watermark: Math.min(...all.map((s) => s.watermark)) };
    },
    async conflicts(q): Promise<ConflictInfo[]> {
      const all = await Promise.all(members.map((m) => m.api.conflicts(q)));
      return all.flat().sort((a, b) => a.detectedAt - b.detectedAt);
    },
    async find(table, source, opts) {
      const all = await Promise.all(members.map((m) => m.api.find(table, source, opts)));
      const rows = all.flat();
      // Scans and key ranges come in storage-key order from each engine: merged in that order, so
      // `limit` and `afterKey` page exactly. Index lookups come engine by engine.
      if (source.by !== 'index' && !(source.by === 'range' && source.index !== undefined)) {
        rows.sort((x, y) => compareStorageKeys(x.key ?? [], y.key ?? []));
      }
      return opts.limit === undefined ? rows : rows.slice(0, opts.limit);
    },
    async indexStatus(table, index): Promise<IndexBuildStatus> {
      const all = await Promise.all(members.map((m) => m.api.indexStatus(table, index)));
      return all.find((s) => s.state === 'failed') ?? all.find((s) => s.state === 'building') ?? { state: 'done' };
    },
    async retireEngine(engine) {
      const all = await Promise.all(members.map((m) => m.api.retireEngine(engine)));
      return all[0] as IngestionStatus;
    },
  };
}
