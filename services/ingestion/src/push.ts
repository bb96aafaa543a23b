/**
 * The OLAP push stage of ingestion (DESIGN §4 "OLAP push"; docs/architecture.md "Ingestion"):
 * versions below the watermark, read back from LMDB by commit time, written to the shards that
 * hold them as Parquet. The engine (ingestion.ts) decides when a push is due.
 */
import {
  type Catalog,
  counter,
  decode,
  type Logger,
  type OlapShardApi,
  shardOfVersion,
  shardsOfTable,
  type Value,
  type VersionRecord,
} from '@stratum/shared';
import { rowKey, toBufferKey } from './keys.ts';
import { type BytimeValue, type HistoryValue, IngestionStore, KEY_MAX, toRecord, toStored } from './store.ts';

const mPushed = counter('stratum_ingestion_pushed_versions_total', 'Versions pushed to OLAP', ['ingestion']);

/** An OLAP shard as ingestion pushes to it: its id (as in `cluster.olap_shards`, used by placement) and API. */
export interface OlapTarget {
  id: string;
  api: OlapShardApi;
}

/** What one push reads and where it writes. */
export interface PushContext {
  /** This ingestion engine's id: the shards keep an OLAP watermark per (table, source). */
  source: string;
  /** Every OLAP shard of the cluster, in config order (placement indexes into it). */
  targets: readonly OlapTarget[];
  /** The ingestion watermark W (ms): nothing above it is pushed. */
  watermark: number;
  catalog: Catalog;
  store: IngestionStore;
  /** Most versions per table in one push (cut at a commitTs boundary). */
  pushRows: number;
  log: Logger;
}

/**
 * One push, per table and shard: versions that `shardOfVersion` places on shard s with commitTs
 * in (s's watermark for this source, W], `pushRows` at a time (cut at a commitTs boundary). A push
 * with no versions still advances s's watermark. A shard that fails is logged and retried next
 * time; the others go on.
 * @returns whether every table reached W on every shard (false: a shard failed or a table was cut)
 */
export async function pushBelowWatermark(c: PushContext): Promise<boolean> {
  const w = c.watermark;
  const targets = c.targets;
  const ids = targets.map((t) => t.id);
  const marks = new Map<string, Record<string, number> | undefined>();
  await Promise.all(
    targets.map(async (t) => {
      try {
        marks.set(t.id, await t.api.watermarks(c.source));
      } catch (e) {
        marks.set(t.id, undefined);
        c.log.warn({ shard: t.id, err: (e as Error).message }, 'OLAP shard unreachable; its push waits');
      }
    }),
  );
  let complete = true;
  for (const info of c.catalog.list()) {
    const shards = shardsOfTable(info, ids).filter((id) => marks.get(id) !== undefined);
    if (shards.length < shardsOfTable(info, ids).length) complete = false;
    const from = new Map(shards.map((id) => [id, marks.get(id)?.[info.storage] ?? -1]));
    const lo = Math.min(...from.values());
    if (!(lo < w)) continue;
    const buckets = new Map<string, VersionRecord[]>(shards.map((id) => [id, []]));
    let upTo = w;
    let n = 0;
    let lastTs = lo;
    for (const { key, value } of c.store.bytime.getRange({ start: [info.storage, lo, KEY_MAX], end: [info.storage, w, KEY_MAX] })) {
      const ts = (key as [string, number])[1];
      if (ts <= lo) continue;
      if (n >= c.pushRows && ts !== lastTs) {
        upTo = lastTs;
        complete = false;
        break;
      }
      lastTs = ts;
      const l = decode<BytimeValue>(value, 'bytime entry');
      for (let i = 0; i < l.length; i += 2) {
        const k = l[i] as Value[];
        const version = l[i + 1] as string;
        const hv = IngestionStore.read<HistoryValue>(c.store.history, [toBufferKey(rowKey(info.storage, k)), ts, version]);
        if (!hv || hv[5] === 1) continue;
        const shard = shards.length === 1 ? (shards[0] as string) : shardOfVersion(info, k, hv[4], ids);
        if (ts <= (from.get(shard) ?? Number.POSITIVE_INFINITY)) continue;
        buckets.get(shard)?.push(toRecord(version, toStored(info.storage, k, ts, hv)));
        n++;
      }
    }
    for (const id of shards) {
      const fromTs = from.get(id) ?? -1;
      if (fromTs >= upTo) continue;
      const versions = buckets.get(id) ?? [];
      try {
        const api = targets.find((t) => t.id === id)?.api as OlapShardApi;
        await api.push({ source: c.source, table: info.storage, fromTs, toTs: upTo, versions });
        mPushed.inc({ ingestion: c.source }, versions.length);
      } catch (e) {
        complete = false;
        c.log.warn({ shard: id, table: info.name, storage: info.storage, err: (e as Error).message }, 'OLAP push failed; will retry');
      }
    }
  }
  return complete;
}
