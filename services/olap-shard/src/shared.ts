/**
 * TEMPORARY: re-exports of the shared modules this package uses, while
 * `shared/src/index.ts` cannot be loaded (it re-exports a missing `./bus/index.ts`).
 * Switch imports back to '@stratum/shared' and delete this file once it loads.
 */
export * from '../../../shared/src/errors.ts';
export * from '../../../shared/src/types.ts';
export * from '../../../shared/src/catalog.ts';
export * from '../../../shared/src/tiers.ts';
export * from '../../../shared/src/version.ts';
export type { ServiceHandle } from '../../../shared/src/service.ts';
