/**
 * Change-bus adapters behind one interface (DESIGN §3): the embedded LMDB log, NATS
 * JetStream, and (later) Kafka. Everything a service needs to publish or consume changes.
 */
import { openLocalBus } from './local.ts';
import { openNatsBus } from './nats.ts';
import type { ChangeBus } from './types.ts';

export { DEFAULT_MAX_BATCH } from './common.ts';
export { LOCAL_DEDUPE_MIN_MESSAGES, LOCAL_DEDUPE_WINDOW_MS, openLocalBus } from './local.ts';
export type { NatsBusOptions } from './nats.ts';
export {
  CATALOG_STREAM,
  CATALOG_SUBJECT,
  CDC_DUPLICATE_WINDOW_MS,
  CDC_STREAM,
  CDC_SUBJECT_PREFIX,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  DEFAULT_STREAM_MAX_AGE_MS,
  openNatsBus,
} from './nats.ts';
export * from './types.ts';

/**
 * Open the bus named by `url`:
 * - `"local"` → the embedded LMDB log in directory `localDir` ({@link openLocalBus});
 * - `"nats://HOST:PORT"` (several separated by commas) → NATS JetStream ({@link openNatsBus}).
 * @throws BusUnavailableError when the broker cannot be reached or the directory cannot be opened.
 * @throws TypeError for any other URL (Kafka is not implemented yet).
 */
export async function openBus(url: string, localDir: string): Promise<ChangeBus> {
  if (url === 'local') return openLocalBus(localDir);
  if (url.startsWith('nats://')) return openNatsBus({ servers: url });
  // KAFKA: a later adapter adds `kafka://BROKERS` → openKafkaBus(...) here (and runs runBusContract in kafka.test.ts).
  throw new TypeError(`unsupported bus URL ${JSON.stringify(url)}: expected "local" or "nats://HOST:PORT"`);
}
