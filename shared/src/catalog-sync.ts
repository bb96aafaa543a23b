/**
 * Keeping a {@link Catalog} in step with the bus's catalog stream (DESIGN §7: "DDL updates
 * the catalog and is published on the bus ahead of data").
 */
import type { ChangeBus, Subscription } from './bus/types.ts';
import type { Catalog, DdlEvent } from './catalog.ts';
import type { Logger } from './log.ts';
import { type CatalogRecord, decode, encode, PROTOCOL_VERSION } from './protocol/index.ts';

/**
 * Replay the catalog log into `catalog` and follow it. Resolves once every record that
 * existed at call time is applied. Malformed records are logged and skipped (they cannot
 * come from a Stratum writer).
 */
export function followCatalog(bus: ChangeBus, catalog: Catalog, log?: Logger): Promise<Subscription> {
  return bus.subscribeCatalog(catalog.version, (version, payload) => {
    try {
      const rec = decode<CatalogRecord>(payload, 'catalog record');
      if (typeof rec?.protocolVersion !== 'number' || rec.protocolVersion > PROTOCOL_VERSION || !rec.event) {
        throw new Error(`unsupported catalog record (protocolVersion ${String(rec?.protocolVersion)})`);
      }
      catalog.apply(version, rec.event);
    } catch (e) {
      log?.error({ err: e, version }, 'skipping malformed catalog record');
      catalog.apply(version, null);
    }
  });
}

/** Publish a DDL event; resolves with its catalog version once the bus stored it. */
export function publishDdl(bus: ChangeBus, event: DdlEvent): Promise<number> {
  const rec: CatalogRecord = { protocolVersion: PROTOCOL_VERSION, event };
  return bus.publishCatalog(encode(rec));
}
