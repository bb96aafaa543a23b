/**
 * Test helpers shared by the test suites of all packages (not part of the production
 * entry `shared/src/index.ts`; import `@stratum/shared/src/testing/index.ts` or a relative path).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type { NatsServerHandle, NatsServerOptions } from './nats-server.ts';
export { natsServerBinary, startNatsServer } from './nats-server.ts';
export { freePort } from './ports.ts';

/**
 * Create a fresh temp directory `<os.tmpdir()>/<prefix>XXXXXX` (fs.mkdtemp) and return its
 * absolute path. The caller removes it (e.g. `rm(dir, { recursive: true, force: true })`).
 */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
export { ANALYTICAL_CASES, ANALYTICAL_KNOWN_DIFFERENCES } from './analytical-cases.ts';
export { ANALYTICAL_FIXTURE, type FixtureTable } from './analytical-fixture.ts';
export type { ClockFaults } from './clock.ts';
export { FaultInjectingClock } from './clock.ts';
export type { PartitionProxy } from './partition.ts';
export { startPartitionProxy } from './partition.ts';
export type { PostgresHandle, PostgresOptions } from './postgres.ts';
export { postgresBinDir, startPostgres } from './postgres.ts';
export * from './random.ts';
