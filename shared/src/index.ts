/** Public entry of @stratum/shared: what two or more services need. */

export * from './abort.ts';
export * from './bus/index.ts';
export * from './catalog.ts';
export * from './catalog-sync.ts';
export * from './clock.ts';
export * from './clock-client.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './expr/index.ts';
export * from './ingestion-set.ts';
export * from './lockfile.ts';
export * from './log.ts';
export * from './metrics.ts';
export * from './partition.ts';
export * from './pool.ts';
export * from './protocol/index.ts';
export * from './rpc.ts';
export * from './service.ts';
export * from './sharding.ts';
export * from './threads/index.ts';
export * from './tiers.ts';
export * from './types.ts';
export * from './version.ts';
export * from './watermark-watcher.ts';
