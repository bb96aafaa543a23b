/**
 * Change-bus adapters behind one interface (DESIGN §3): the embedded LMDB log, NATS
 * JetStream, and Kafka. Everything a service needs to publish or consume changes.
 */
import { openKafkaBus, parseKafkaBrokers } from './kafka.ts';
import { openLocalBus } from './local.ts';
import { openNatsBus } from './nats.ts';
import type { ChangeBus } from './types.ts';

export { DEFAULT_MAX_BATCH } from './common.ts';
export type { KafkaBusOptions } from './kafka.ts';
export {
  DEFAULT_KAFKA_PARTITIONS,
  KAFKA_CATALOG_TOPIC,
  KAFKA_CDC_TOPIC,
  KAFKA_DEDUPE_WINDOW_MS,
  openKafkaBus,
  parseKafkaBrokers,
} from './kafka.ts';
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
 * - `"nats://HOST:PORT"` (several separated by commas) → NATS JetStream ({@link openNatsBus});
 * - `"kafka://HOST:PORT[,HOST:PORT...]"` → Kafka ({@link openKafkaBus}, default topics and options;
 *   the CDC topic must have `partitions` partitions (the cluster's P) and is created with them if missing;
 *   without `partitions`, an existing topic's count is used and a missing one gets 16).
 * @throws BusUnavailableError when the broker cannot be reached or the directory cannot be opened.
 * @throws ConfigError when an existing Kafka topic has an unexpected partition count.
 * @throws TypeError for any other URL, or a Kafka URL without a valid HOST:PORT list.
 */
export async function openBus(url: string, localDir: string, partitions?: number): Promise<ChangeBus> {
  if (url === 'local') return openLocalBus(localDir);
  if (url.startsWith('nats://')) return openNatsBus({ servers: url });
  if (url.startsWith('kafka://')) {
    return openKafkaBus({ brokers: parseKafkaBrokers(url), ...(partitions !== undefined ? { partitions } : {}) });
  }
  throw new TypeError(
    `unsupported bus URL ${JSON.stringify(url)}: expected "local", "nats://HOST:PORT" or "kafka://HOST:PORT[,HOST:PORT...]"`,
  );
}
