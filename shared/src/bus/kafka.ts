/**
 * Kafka change bus (DESIGN §3): the {@link ChangeBus} interface over `kafkajs` 2.x
 * (pure JavaScript client; Kafka brokers ≥ 0.11 for record headers, ≥ 2.4 when
 * `replicationFactor` is left to the broker default).
 *
 * Layout
 * - Topic {@link KAFKA_CDC_TOPIC} with P partitions (`partitions` option; created with the
 *   admin client when missing, otherwise its partition count is checked and a mismatch
 *   fails the open with a {@link ConfigError}). Kafka partition = stream partition; the
 *   message key is the partition number (decimal string); headers {@link HEADER_ENGINE}
 *   and {@link HEADER_MSG_ID} carry the engine and the dedupe id. Position = Kafka
 *   offset + 1 (positions start at 1 on every adapter, and `after = 0` means "from the
 *   beginning"), so the next offset to read after position `n` is `n`.
 * - Topic {@link KAFKA_CATALOG_TOPIC} with 1 partition and unlimited retention; catalog
 *   version = offset + 1.
 * - Producer: one idempotent producer (`idempotent: true`, `maxInFlightRequests: 1`,
 *   `acks: -1`) per bus, so kafkajs's own retries never duplicate or reorder a batch.
 *   A send that fails (after kafkajs's retries) replaces the producer (new producer id):
 *   kafkajs rolls its sequence numbers back after a failed send, and reusing them after a
 *   send that did reach the broker could make the broker drop a later, different message
 *   as a "duplicate". A publish rejects with {@link BusUnavailableError} on failure or
 *   after `publishTimeoutMs` (the send may still land later; it stays registered under its
 *   msgId until it settles); callers retry with the same msgId.
 *
 * Dedupe of republished msgIds (the contract: a republished id is reported
 * `duplicate: true` and delivered once). Kafka's idempotent producer only suppresses
 * retries inside one producer session, so the adapter adds two windows like JetStream's
 * duplicate window ({@link KAFKA_DEDUPE_WINDOW_MS}, at most {@link KAFKA_DEDUPE_MAX_IDS} ids):
 * - publisher side: every id this bus published (or is publishing) is remembered; a
 *   republish inside the window is answered `duplicate: true` with the original position
 *   (-1 when it was on another partition) without sending anything. On open the window is
 *   rebuilt from the tail of the CDC topic (messages younger than the window, at most
 *   `dedupeRecoverPerPartition` per partition), so this also holds across a restart.
 * - consumer side: each subscription drops a message whose msgId it already delivered
 *   within the window (message timestamps), so copies written by two bus instances or by
 *   a timed-out attempt that reached the broker after all are delivered once.
 * Limits, stated plainly: ids are not deduped across publishers that run at the same time
 * in different processes (each has its own window) — only their consumers filter the
 * copies; a subscription that starts between the original and the copy delivers the
 * copy; ids older than the window, or beyond the recovery cap after a restart, are not
 * deduped. Ingestion dedupes by seq and version anyway (DESIGN §4), so these cases cost
 * work, never correctness.
 *
 * Subscriptions. The contract needs "resume strictly after these positions" per
 * partition, i.e. manual assignment, which kafkajs lacks. Each subscription therefore
 * runs its own consumer in a consumer group of its own (`<groupPrefix>.<name>.<uuid>`)
 * with a partition assigner that hands exactly the requested partitions to the member,
 * `autoCommit: false` (nothing is committed; the caller stores positions), and on every
 * group join (`consumer.events.GROUP_JOIN`) seeks each partition to the next position to
 * deliver (the caller's `after`, later the last delivered one; earliest otherwise).
 * Messages at or below the last delivered position are filtered, so a rebalance or an
 * offset reset never re-delivers. `eachBatch` hands at most `maxBatch` messages per
 * handler call and only resolves offsets of handled messages; kafkajs fetches the next
 * batch only after `eachBatch` returned, so a slow handler holds back the fetches
 * (backpressure without pause()/resume(): at most one fetch response per broker is
 * buffered, and a long handler call is followed by a heartbeat). A group join takes a
 * few seconds on a default broker (`group.initial.rebalance.delay.ms`, 3 s). The group is
 * deleted (best effort) when the subscription stops.
 *
 * Partition assignment between ingestion engines: DESIGN §4 allows Kafka consumer groups
 * to assign partitions. That mode is NOT implemented by this adapter: it would be an
 * option naming a shared group (kafkajs's round-robin assigner, offsets from the
 * caller's store on every assignment change) plus a callback telling the owner which
 * partitions it gained or lost — the `ChangeBus` interface has no such callback yet, so
 * ownership stays in the config (`cluster.ingestion[].partitions`).
 *
 * Reconnects: kafkajs reconnects on demand; its retry options (`retry`) bound each
 * operation. `connected()` reflects the last publish or the periodic metadata probe
 * (every {@link KAFKA_HEALTH_INTERVAL_MS}); consumers that crash on a retriable error are
 * restarted by kafkajs and resume after the last delivered position.
 */
import { randomUUID } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import kafkajs, {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Kafka as KafkaClient,
  type KafkaConfig,
  type KafkaMessage,
  type logCreator,
  type Message,
  type PartitionAssigner,
  type Producer,
  type RetryOptions,
  type SASLOptions,
} from 'kafkajs';
import { BusUnavailableError, ConfigError, SqlState, StratumError } from '../errors.ts';
import { rootLogger } from '../log.ts';
import { asError, checkPublishArgs, checkSubscribePartitions, resolveMaxBatch } from './common.ts';
import type { ChangeBus, DeliveredMessage, DeliveryHandler, PublishAck, SubscribeOptions, Subscription } from './types.ts';

// kafkajs is CommonJS; its spread error exports defeat Node's named-export detection, so destructure the default.
const { Kafka, AssignerProtocol, ConfigResourceTypes, Partitioners, logLevel } = kafkajs;

/** Default topic of change batches. */
export const KAFKA_CDC_TOPIC = 'stratum.cdc';
/** Default topic of catalog (DDL) records (1 partition, never trimmed). */
export const KAFKA_CATALOG_TOPIC = 'stratum.catalog';
/** Partition count P used when the option is omitted and the CDC topic does not exist yet. */
export const DEFAULT_KAFKA_PARTITIONS = 16;
/** Dedupe window (ms) of republished msgIds: 2 min, like JetStream's default duplicate window. */
export const KAFKA_DEDUPE_WINDOW_MS = 120_000;
/** Most msgIds one dedupe window remembers (count); the oldest are forgotten first. */
export const KAFKA_DEDUPE_MAX_IDS = 100_000;
/** Default most messages per partition read back on open to rebuild the publisher's dedupe window (count). */
export const DEFAULT_KAFKA_DEDUPE_RECOVER_PER_PARTITION = 256;
/** Kafka's default `message.max.bytes` / topic `max.message.bytes` (bytes): 1 MiB + 12. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Bytes of `max.message.bytes` kept for the record batch and record overhead, key and headers. */
export const KAFKA_PAYLOAD_HEADROOM_BYTES = 4096;
/** Default bound on one publish (ms): a publish without broker ack by then rejects with BusUnavailableError. */
export const DEFAULT_KAFKA_PUBLISH_TIMEOUT_MS = 10_000;
/** Default bound on `openKafkaBus` (ms): connect, topic checks and dedupe recovery. */
export const DEFAULT_KAFKA_OPEN_TIMEOUT_MS = 30_000;
/** Default retention of the CDC topic when this adapter creates it (ms): 7 days. */
export const DEFAULT_KAFKA_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Interval of the broker metadata probe behind `connected()` (ms). */
export const KAFKA_HEALTH_INTERVAL_MS = 5000;
/** Record header carrying the publishing engine (UTF-8). */
export const HEADER_ENGINE = 'stratum-engine';
/** Record header carrying the dedupe id (UTF-8). */
export const HEADER_MSG_ID = 'stratum-msg-id';

/** Longest a fetch waits for new data on the broker (ms); also bounds how long `stop()` waits for an idle fetch. */
const FETCH_MAX_WAIT_MS = 1000;
/** Bound on background best-effort work (group deletion, probes) (ms). */
const BACKGROUND_TIMEOUT_MS = 5000;
/** Kafka topic names: ASCII letters, digits, '.', '_', '-', at most 249 characters. */
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;

/** kafkajs retry settings used unless `retry` overrides them: ~3 s of retries per operation. */
const DEFAULT_RETRY: RetryOptions = { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 };

/** Options of {@link openKafkaBus}. */
export interface KafkaBusOptions {
  /**
   * Bootstrap brokers: `kafka://HOST:PORT[,HOST:PORT...]`, `HOST:PORT[,HOST:PORT...]`, or a
   * list of `HOST:PORT` (IPv6 hosts in brackets).
   */
  brokers: string | string[];
  /**
   * Partition count P of the CDC topic. Given: the topic is created with P partitions, or an
   * existing topic must have exactly P (else ConfigError). Omitted: an existing topic's count
   * is used; a missing topic is created with {@link DEFAULT_KAFKA_PARTITIONS}.
   */
  partitions?: number;
  /** CDC topic name (default {@link KAFKA_CDC_TOPIC}). */
  cdcTopic?: string;
  /** Catalog topic name (default {@link KAFKA_CATALOG_TOPIC}). */
  catalogTopic?: string;
  /** Replication factor of topics this adapter creates (default: the broker's `default.replication.factor`). */
  replicationFactor?: number;
  /** `retention.ms` of the CDC topic when this adapter creates it (ms, default 7 days; -1 = forever). Existing topics are not altered. */
  retentionMs?: number;
  /**
   * `max.message.bytes` of the topics (bytes). Given: set on topics this adapter creates and
   * used for {@link ChangeBus.maxPayloadBytes}. Omitted: read from the CDC topic's config
   * (fallback {@link KAFKA_DEFAULT_MAX_MESSAGE_BYTES}).
   */
  maxMessageBytes?: number;
  /** Bound on one publish (ms, default {@link DEFAULT_KAFKA_PUBLISH_TIMEOUT_MS}). */
  publishTimeoutMs?: number;
  /** Bound on opening the bus (ms, default {@link DEFAULT_KAFKA_OPEN_TIMEOUT_MS}); also bounds joining a subscription's group. */
  openTimeoutMs?: number;
  /** Dedupe window (ms, default {@link KAFKA_DEDUPE_WINDOW_MS}; 0 disables msgId dedupe). */
  dedupeWindowMs?: number;
  /** Most ids per dedupe window (count, default {@link KAFKA_DEDUPE_MAX_IDS}). */
  dedupeMaxIds?: number;
  /** Most messages per partition read back on open to rebuild the dedupe window (count, default {@link DEFAULT_KAFKA_DEDUPE_RECOVER_PER_PARTITION}; 0 = no recovery). */
  dedupeRecoverPerPartition?: number;
  /** Kafka client id (default `stratum-bus`). */
  clientId?: string;
  /** Prefix of the per-subscription consumer group ids (default `stratum`). */
  groupPrefix?: string;
  /** kafkajs retry options of every operation (default: 5 retries, 100 ms doubling to 2 s). */
  retry?: RetryOptions;
  /** TCP connect timeout per broker connection attempt (ms, default 3000). */
  connectionTimeoutMs?: number;
  /** TLS: `true` or Node TLS options (default: plaintext). */
  ssl?: boolean | ConnectionOptions;
  /** SASL authentication (default: none). */
  sasl?: SASLOptions;
}

interface ResolvedOptions {
  brokers: string[];
  partitions: number | undefined;
  cdcTopic: string;
  catalogTopic: string;
  replicationFactor: number | undefined;
  retentionMs: number;
  maxMessageBytes: number | undefined;
  publishTimeoutMs: number;
  openTimeoutMs: number;
  dedupeWindowMs: number;
  dedupeMaxIds: number;
  dedupeRecoverPerPartition: number;
  clientId: string;
  groupPrefix: string;
  retry: RetryOptions;
}

/**
 * Parse a broker list: `kafka://HOST:PORT[,HOST:PORT...]` or the same without the scheme.
 * @returns the `HOST:PORT` entries, in order.
 * @throws TypeError when the list is empty or an entry is not HOST:PORT with a port in 1..65535.
 */
export function parseKafkaBrokers(spec: string | string[]): string[] {
  const raw = Array.isArray(spec) ? spec : spec.replace(/^kafka:\/\//, '').split(',');
  const out = raw.map((s) => s.trim()).filter((s) => s !== '');
  if (out.length === 0) throw new TypeError(`no Kafka brokers in ${JSON.stringify(spec)}: expected kafka://HOST:PORT[,HOST:PORT...]`);
  for (const b of out) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s/,:[\]]+):(\d{1,5})$/.exec(b);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      throw new TypeError(`invalid Kafka broker ${JSON.stringify(b)}: expected HOST:PORT with a port in 1..65535`);
    }
  }
  return out;
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < min) throw new TypeError(`invalid ${name} ${String(v)}: must be an integer >= ${min}`);
  return n;
}

function topicName(name: string, v: string | undefined, dflt: string): string {
  const t = v ?? dflt;
  if (!TOPIC_RE.test(t) || t === '.' || t === '..') {
    throw new TypeError(`invalid ${name} ${JSON.stringify(t)}: Kafka topic names are 1..249 of [A-Za-z0-9._-]`);
  }
  return t;
}

function resolveOptions(opts: KafkaBusOptions): ResolvedOptions {
  const partitions = opts.partitions === undefined ? undefined : positiveInt('partitions', opts.partitions, 0);
  const cdcTopic = topicName('cdcTopic', opts.cdcTopic, KAFKA_CDC_TOPIC);
  const catalogTopic = topicName('catalogTopic', opts.catalogTopic, KAFKA_CATALOG_TOPIC);
  if (cdcTopic === catalogTopic) throw new TypeError(`cdcTopic and catalogTopic must differ (both ${JSON.stringify(cdcTopic)})`);
  const retentionMs = opts.retentionMs ?? DEFAULT_KAFKA_RETENTION_MS;
  if (!Number.isSafeInteger(retentionMs) || (retentionMs < 1 && retentionMs !== -1)) {
    throw new TypeError(`invalid retentionMs ${String(opts.retentionMs)}: must be a positive integer or -1`);
  }
  const maxMessageBytes =
    opts.maxMessageBytes === undefined
      ? undefined
      : positiveInt('maxMessageBytes', opts.maxMessageBytes, 0, 2 * KAFKA_PAYLOAD_HEADROOM_BYTES);
  return {
    brokers: parseKafkaBrokers(opts.brokers),
    partitions,
    cdcTopic,
    catalogTopic,
    replicationFactor: opts.replicationFactor === undefined ? undefined : positiveInt('replicationFactor', opts.replicationFactor, 0),
    retentionMs,
    maxMessageBytes,
    publishTimeoutMs: positiveInt('publishTimeoutMs', opts.publishTimeoutMs, DEFAULT_KAFKA_PUBLISH_TIMEOUT_MS),
    openTimeoutMs: positiveInt('openTimeoutMs', opts.openTimeoutMs, DEFAULT_KAFKA_OPEN_TIMEOUT_MS),
    dedupeWindowMs: positiveInt('dedupeWindowMs', opts.dedupeWindowMs, KAFKA_DEDUPE_WINDOW_MS, 0),
    dedupeMaxIds: positiveInt('dedupeMaxIds', opts.dedupeMaxIds, KAFKA_DEDUPE_MAX_IDS),
    dedupeRecoverPerPartition: positiveInt(
      'dedupeRecoverPerPartition',
      opts.dedupeRecoverPerPartition,
      DEFAULT_KAFKA_DEDUPE_RECOVER_PER_PARTITION,
      0,
    ),
    clientId: opts.clientId ?? 'stratum-bus',
    groupPrefix: (opts.groupPrefix ?? 'stratum').replace(/[^A-Za-z0-9._-]/g, '_'),
    retry: { ...DEFAULT_RETRY, ...(opts.retry ?? {}) },
  };
}

/** `p`, or a rejection with `onTimeout()` after `ms` milliseconds (the timer is cleared either way). */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** kafkajs log lines → the process logger (`component: kafkajs`); kafkajs errors are mostly retried, so they log as warnings. */
function kafkaLogCreator(): logCreator {
  return () => (entry) => {
    const log = rootLogger();
    const { message, timestamp: _ts, logger: _lg, ...extra } = entry.log;
    const obj = { component: 'kafkajs', namespace: entry.namespace, ...extra };
    if (/^Limiting retries for the idempotent producer/.test(message)) {
      // Intentional: failed producers are replaced (see the module doc), which keeps EoS intact.
      log.debug(obj, message);
    } else if (entry.level === logLevel.ERROR || entry.level === logLevel.WARN) log.warn(obj, message);
    else if (entry.level === logLevel.INFO) log.debug(obj, message);
    else log.trace(obj, message);
  };
}

/**
 * A bounded memory of recently seen message ids: an id is remembered for `windowMs` after
 * its timestamp, and at most `maxIds` ids are kept (the oldest inserted are forgotten first).
 * Timestamps are milliseconds on whatever clock the caller uses consistently.
 */
export class MsgIdWindow<V> {
  private readonly ids = new Map<string, { at: number; value: V }>();
  private newest = 0;

  /**
   * @param windowMs how long an id is remembered (ms); 0 remembers nothing.
   * @param maxIds most ids kept (count).
   */
  constructor(
    readonly windowMs: number,
    readonly maxIds: number,
  ) {}

  /** Number of ids currently held (some may already be outside the window). */
  get size(): number {
    return this.ids.size;
  }

  /** The value stored with `id` when it was seen within `windowMs` of time `at`, else undefined. */
  get(id: string, at: number): V | undefined {
    const e = this.ids.get(id);
    if (e === undefined || Math.abs(at - e.at) > this.windowMs) return undefined;
    return e.value;
  }

  /** Remember `id` (with `value`) as seen at time `at`, then forget ids outside the window or beyond `maxIds`. */
  add(id: string, value: V, at: number): void {
    if (this.windowMs <= 0) return;
    this.ids.delete(id);
    this.ids.set(id, { at, value });
    if (at > this.newest) this.newest = at;
    const cutoff = this.newest - this.windowMs;
    for (const [k, e] of this.ids) {
      if (this.ids.size <= this.maxIds && e.at >= cutoff) break;
      this.ids.delete(k);
    }
  }
}

/**
 * A kafkajs partition assigner that gives every member of the group exactly `partitions` of
 * `topic` (the group is private to one subscription, so every member is that subscription;
 * a stale member of an earlier generation must not take partitions away from the live one).
 */
export function fixedPartitionAssigner(topic: string, partitions: number[]): PartitionAssigner {
  const name = 'StratumFixedAssigner';
  const version = 1;
  return () => ({
    name,
    version,
    async assign({ members }) {
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version,
          assignment: { [topic]: [...partitions] },
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return { name, metadata: AssignerProtocol.MemberMetadata.encode({ version, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

/** First value of header `name` as a UTF-8 string ('' when absent). */
export function headerString(headers: IHeaders | undefined, name: string): string {
  const v = headers?.[name];
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined) return '';
  return typeof x === 'string' ? x : x.toString('utf8');
}

/** A fetched record as a {@link DeliveredMessage} (payload copied; position = offset + 1). */
export function toDeliveredMessage(partition: number, m: KafkaMessage): DeliveredMessage {
  return {
    partition,
    position: Number(m.offset) + 1,
    engine: headerString(m.headers, HEADER_ENGINE),
    msgId: headerString(m.headers, HEADER_MSG_ID),
    payload: m.value === null ? new Uint8Array(0) : new Uint8Array(m.value),
  };
}

function messageTime(m: KafkaMessage): number {
  const t = Number(m.timestamp);
  return Number.isFinite(t) && t > 0 ? t : Date.now();
}

/** Where a msgId was stored. */
interface StoredAt {
  partition: number;
  position: number;
}

/** What a reader (one consumer in a private group) needs. */
interface ReaderSpec {
  /** Used in the group id. */
  label: string;
  topic: string;
  partitions: number[];
  /** Next offset to read for a partition at (re)join; 0 = earliest. */
  nextOffset: (partition: number) => number;
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** kafkajs gave up (non-retriable crash). */
  onFatal: (e: Error) => void;
}

/** A started reader. */
interface Reader {
  consumer: Consumer;
  groupId: string;
  /** Set by stopReader(): kafkajs must not restart the consumer any more. */
  stopped: boolean;
}

/** Something `close()` must stop. */
interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Connect to Kafka, create or check the topics {@link KAFKA_CDC_TOPIC} (P partitions) and
 * {@link KAFKA_CATALOG_TOPIC} (1 partition), rebuild the publisher's dedupe window from the
 * tail of the CDC topic, connect the idempotent producer, and return the bus.
 * @throws BusUnavailableError when no broker can be reached or the setup does not finish
 *   within `openTimeoutMs` (retry with backoff).
 * @throws ConfigError when an existing topic has a different partition count than required.
 * @throws TypeError for invalid option values or broker lists (before any connection).
 */
export async function openKafkaBus(opts: KafkaBusOptions): Promise<ChangeBus> {
  const cfg = resolveOptions(opts);
  const kcfg: KafkaConfig = {
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    connectionTimeout: positiveInt('connectionTimeoutMs', opts.connectionTimeoutMs, 3000),
    retry: cfg.retry,
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(),
  };
  if (opts.ssl !== undefined) kcfg.ssl = opts.ssl;
  if (opts.sasl !== undefined) kcfg.sasl = opts.sasl;
  const kafka = new Kafka(kcfg);
  const admin = kafka.admin();
  let aborted = false;
  let bus: KafkaBus | undefined;
  const check = (): void => {
    if (aborted) throw new BusUnavailableError('open aborted');
  };
  const setup = async (): Promise<KafkaBus> => {
    await admin.connect();
    check();
    const existing = new Set(await admin.listTopics());
    check();
    const cdcEntries = [
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: String(cfg.retentionMs) },
    ];
    const catalogEntries = [
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: '-1' },
      { name: 'retention.bytes', value: '-1' },
    ];
    if (cfg.maxMessageBytes !== undefined) {
      cdcEntries.push({ name: 'max.message.bytes', value: String(cfg.maxMessageBytes) });
      catalogEntries.push({ name: 'max.message.bytes', value: String(cfg.maxMessageBytes) });
    }
    const partitions = await ensureTopic(admin, existing, cfg.cdcTopic, cfg.partitions, cdcEntries, cfg.replicationFactor);
    check();
    await ensureTopic(admin, existing, cfg.catalogTopic, 1, catalogEntries, cfg.replicationFactor);
    check();
    const maxMessageBytes = cfg.maxMessageBytes ?? (await topicMaxMessageBytes(admin, cfg.cdcTopic)) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    check();
    const b = new KafkaBus(kafka, admin, cfg, partitions, maxMessageBytes);
    bus = b;
    await b.recoverDedupe();
    check();
    await b.connectProducer();
    check();
    b.startHealthProbe();
    return b;
  };
  try {
    return await withTimeout(
      setup(),
      cfg.openTimeoutMs,
      () => new BusUnavailableError(`timed out after ${cfg.openTimeoutMs} ms (openTimeoutMs)`),
    );
  } catch (e) {
    aborted = true;
    if (bus !== undefined) await bus.close().catch(() => {});
    await admin.disconnect().catch(() => {});
    if (e instanceof ConfigError) throw e;
    throw new BusUnavailableError(`cannot open the Kafka bus at ${cfg.brokers.join(',')}: ${asError(e).message}`, { cause: e });
  }
}

/**
 * Create `topic` when missing (with `want` partitions, default {@link DEFAULT_KAFKA_PARTITIONS}),
 * else check its partition count. @returns the topic's partition count.
 * @throws ConfigError on a partition count other than `want`.
 */
async function ensureTopic(
  admin: Admin,
  existing: Set<string>,
  topic: string,
  want: number | undefined,
  configEntries: Array<{ name: string; value: string }>,
  replicationFactor: number | undefined,
): Promise<number> {
  if (!existing.has(topic)) {
    const spec: { topic: string; numPartitions: number; configEntries: typeof configEntries; replicationFactor?: number } = {
      topic,
      numPartitions: want ?? DEFAULT_KAFKA_PARTITIONS,
      configEntries,
    };
    if (replicationFactor !== undefined) spec.replicationFactor = replicationFactor;
    // Resolves false when another process created it meanwhile: then it is checked below.
    await admin.createTopics({ topics: [spec], waitForLeaders: true });
  }
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  const have = md.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  if (have === 0) throw new BusUnavailableError(`Kafka topic ${topic} has no partition metadata`);
  if (want !== undefined && have !== want) {
    throw new ConfigError(
      `Kafka topic ${topic} has ${have} partitions but ${want} are required` +
        (want === 1 ? '' : ' (cluster.partitions is fixed for the life of the cluster)'),
      { hint: `use the topic's count, or another topic name, or recreate ${topic}` },
    );
  }
  return have;
}

/** The topic's `max.message.bytes`, or undefined when it cannot be read (ACLs, old broker). */
async function topicMaxMessageBytes(admin: Admin, topic: string): Promise<number | undefined> {
  try {
    const r = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
      includeSynonyms: false,
    });
    const v = r.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue;
    const n = Number(v);
    return Number.isSafeInteger(n) && n > 2 * KAFKA_PAYLOAD_HEADROOM_BYTES ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True when `e` (or one of its causes) is Kafka's MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE (never worth retrying). */
function isTooLarge(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x !== undefined && x !== null && depth < 5; depth++) {
    const t = (x as { type?: unknown }).type;
    if (t === 'MESSAGE_TOO_LARGE' || t === 'RECORD_LIST_TOO_LARGE') return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}

class KafkaBus implements ChangeBus {
  readonly kind = 'kafka' as const;
  private closed = false;
  private up = true;
  /** The producer in use and its connect promise (replaced after a failed send). */
  private producer: { producer: Producer; ready: Promise<Producer> } | undefined;
  private readonly producers = new Set<Producer>();
  /** msgIds stored by this bus (or read back on open) within the dedupe window. */
  private readonly recent: MsgIdWindow<StoredAt>;
  /** msgIds whose send is still running (until the send settles, even after a publish timed out). */
  private readonly pending = new Map<string, Promise<StoredAt>>();
  private readonly subs = new Set<Stoppable>();
  private readonly background = new Set<Promise<void>>();
  private healthTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private rejectClosing: (e: Error) => void = () => {};
  /** Rejects when the bus closes: pending publishes race it. */
  private readonly closing: Promise<never>;
  private readonly servers: string;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly admin: Admin,
    readonly cfg: ResolvedOptions,
    /** Partition count P of the CDC topic. */
    readonly partitions: number,
    private readonly maxMessageBytes: number,
  ) {
    this.recent = new MsgIdWindow(cfg.dedupeWindowMs, cfg.dedupeMaxIds);
    this.servers = cfg.brokers.join(',');
    this.closing = new Promise<never>((_, reject) => {
      this.rejectClosing = reject;
    });
    this.closing.catch(() => {});
  }

  isClosed(): boolean {
    return this.closed;
  }

  unavailable(what: string, e?: unknown): BusUnavailableError {
    const opts = e === undefined ? {} : { cause: e };
    if (this.closed) return new BusUnavailableError(`Kafka bus (${this.servers}) is closed`, opts);
    const msg = e === undefined ? 'not connected' : asError(e).message;
    return new BusUnavailableError(`Kafka bus (${this.servers}): ${what} failed: ${msg}`, opts);
  }

  /** Run `p` in the background; `close()` waits (bounded) for it. */
  track(p: Promise<unknown>): void {
    const q = withTimeout(p, BACKGROUND_TIMEOUT_MS, () => new Error('background task timed out')).then(
      () => {},
      () => {},
    );
    this.background.add(q);
    void q.finally(() => this.background.delete(q));
  }

  removeSubscription(s: Stoppable): void {
    this.subs.delete(s);
  }

  // ── producer ────────────────────────────────────────────────────────────────

  private getProducer(): Promise<Producer> {
    if (this.closed) return Promise.reject(this.unavailable('publish'));
    if (this.producer === undefined) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: this.cfg.retry,
      });
      const current = { producer, ready: producer.connect().then(() => producer) };
      this.producer = current;
      this.producers.add(producer);
      current.ready.catch(() => this.discardProducer(producer));
    }
    return this.producer.ready;
  }

  /** Stop using `producer` (after a failed send): the next publish gets a new producer (new producer id). */
  private discardProducer(producer: Producer): void {
    if (this.producer?.producer === producer) this.producer = undefined;
    if (this.producers.delete(producer)) this.track(producer.disconnect());
  }

  async connectProducer(): Promise<void> {
    try {
      await this.getProducer();
    } catch (e) {
      throw this.unavailable('producer connect', e);
    }
  }

  /** Send one record; resolves with its offset once the broker acknowledged it (acks = all). */
  private async sendRecord(topic: string, message: Message, what: string): Promise<number> {
    let producer: Producer;
    try {
      producer = await this.getProducer();
    } catch (e) {
      this.up = false;
      throw this.unavailable(what, e);
    }
    try {
      const md = await producer.send({ topic, acks: -1, timeout: this.cfg.publishTimeoutMs, messages: [message] });
      const r = md[0];
      const off = r?.baseOffset ?? r?.offset;
      if (r === undefined || r.errorCode !== 0 || off === undefined || !/^\d+$/.test(off)) {
        throw new Error(`unexpected produce response ${JSON.stringify(md)}`);
      }
      this.up = true;
      return Number(off);
    } catch (e) {
      if (isTooLarge(e)) {
        // Rejected by the broker, nothing stored: the producer's sequence numbers stay valid.
        throw new StratumError(SqlState.programLimitExceeded, `Kafka bus: ${what}: ${asError(e).message}`, { cause: e });
      }
      this.discardProducer(producer);
      this.up = false;
      this.probeSoon();
      throw this.unavailable(what, e);
    }
  }

  /** `p` bounded by `publishTimeoutMs` and by close(). */
  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return Promise.race([
      withTimeout(p, this.cfg.publishTimeoutMs, () =>
        this.unavailable(what, new Error(`no broker ack within ${this.cfg.publishTimeoutMs} ms`)),
      ),
      this.closing,
    ]);
  }

  private checkPayload(n: number, what: string): void {
    const max = this.maxPayloadBytes();
    if (n > max) {
      throw new StratumError(
        SqlState.programLimitExceeded,
        `Kafka bus: payload of ${n} bytes exceeds the limit of ${max} bytes (max.message.bytes ${this.maxMessageBytes} minus ${KAFKA_PAYLOAD_HEADROOM_BYTES}) (${what})`,
      );
    }
  }

  private checkRange(partition: number): void {
    if (partition >= this.partitions) {
      throw new TypeError(
        `invalid partition ${partition}: topic ${this.cfg.cdcTopic} has ${this.partitions} partitions (0..${this.partitions - 1})`,
      );
    }
  }

  async publish(engine: string, partition: number, msgId: string, payload: Uint8Array): Promise<PublishAck> {
    checkPublishArgs(engine, partition, msgId, payload);
    this.checkRange(partition);
    this.checkPayload(payload.byteLength, `partition ${partition}`);
    const what = `publish of ${msgId} to ${this.cfg.cdcTopic}[${partition}]`;
    for (;;) {
      if (this.closed) throw this.unavailable(what);
      const known = this.recent.get(msgId, Date.now());
      if (known !== undefined) return { position: known.partition === partition ? known.position : -1, duplicate: true };
      const inflight = this.pending.get(msgId);
      if (inflight === undefined) break;
      try {
        const s = await this.bounded(inflight, what);
        return { position: s.partition === partition ? s.position : -1, duplicate: true };
      } catch (e) {
        // Still running (our wait timed out) or the bus closed: report unavailable.
        if (this.closed || this.pending.get(msgId) === inflight) throw e instanceof BusUnavailableError ? e : this.unavailable(what, e);
        // The earlier attempt failed for good: publish it ourselves.
      }
    }
    const message: Message = {
      key: String(partition),
      value: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      partition,
      headers: { [HEADER_ENGINE]: engine, [HEADER_MSG_ID]: msgId },
    };
    const attempt: Promise<StoredAt> = this.sendRecord(this.cfg.cdcTopic, message, what)
      .then((offset) => {
        const s = { partition, position: offset + 1 };
        this.recent.add(msgId, s, Date.now());
        return s;
      })
      .finally(() => {
        if (this.pending.get(msgId) === attempt) this.pending.delete(msgId);
      });
    attempt.catch(() => {});
    this.pending.set(msgId, attempt);
    const s = await this.bounded(attempt, what);
    return { position: s.position, duplicate: false };
  }

  async publishCatalog(payload: Uint8Array): Promise<number> {
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    this.checkPayload(payload.byteLength, 'catalog');
    if (this.closed) throw this.unavailable('publishCatalog');
    const what = `publish to ${this.cfg.catalogTopic}`;
    const offset = await this.bounded(
      this.sendRecord(
        this.cfg.catalogTopic,
        { value: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), partition: 0 },
        what,
      ),
      what,
    );
    return offset + 1;
  }

  // ── readers ─────────────────────────────────────────────────────────────────

  /** Start one consumer in a private group reading `spec.partitions` of `spec.topic` (see the module doc). */
  async startReader(spec: ReaderSpec): Promise<Reader> {
    if (this.closed) throw this.unavailable(`subscribe to ${spec.topic}`);
    const label = spec.label.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'sub';
    const groupId = `${this.cfg.groupPrefix}.${label}.${randomUUID()}`;
    let reader: Reader | undefined;
    const isStopped = (): boolean => this.closed || reader?.stopped === true;
    const consumer = this.kafka.consumer({
      groupId,
      partitionAssigners: [fixedPartitionAssigner(spec.topic, spec.partitions)],
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      maxBytesPerPartition: Math.max(1024 * 1024, this.maxMessageBytes),
      maxBytes: Math.max(10 * 1024 * 1024, 2 * this.maxMessageBytes),
      // kafkajs restarts a crashed consumer on retriable errors; never once the reader was stopped.
      retry: { ...this.cfg.retry, restartOnFailure: async () => !isStopped() },
    });
    reader = { consumer, groupId, stopped: false };
    const r = reader;
    consumer.on(consumer.events.GROUP_JOIN, (ev) => {
      // Called synchronously inside kafkajs's join: must not throw.
      try {
        if (isStopped()) {
          void consumer.disconnect().catch(() => {}); // a restart raced stopReader()
          return;
        }
        for (const p of ev.payload.memberAssignment[spec.topic] ?? []) {
          const next = spec.nextOffset(p);
          if (next > 0) consumer.seek({ topic: spec.topic, partition: p, offset: String(next) });
        }
      } catch (e) {
        spec.onFatal(asError(e));
      }
    });
    consumer.on(consumer.events.CRASH, (ev) => {
      if (!ev.payload.restart && !isStopped()) spec.onFatal(asError(ev.payload.error));
    });
    try {
      await withTimeout(
        (async () => {
          await consumer.connect();
          await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
          await consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: 1,
            eachBatch: async (payload) => {
              if (isStopped()) return; // offsets stay unresolved; the consumer is going away
              await spec.eachBatch(payload);
            },
          });
        })(),
        this.cfg.openTimeoutMs,
        () => new Error(`consumer did not start within ${this.cfg.openTimeoutMs} ms`),
      );
    } catch (e) {
      r.stopped = true;
      await consumer.disconnect().catch(() => {});
      throw this.unavailable(`subscribe to ${spec.topic}`, e);
    }
    return r;
  }

  /** Disconnect a reader (waits for its in-flight `eachBatch`) and delete its group in the background. */
  async stopReader(r: Reader): Promise<void> {
    r.stopped = true;
    await r.consumer.disconnect().catch(() => {});
    this.track(this.admin.deleteGroups([r.groupId]));
  }

  /**
   * Rebuild the publisher's dedupe window from the tail of the CDC topic: per partition the
   * messages younger than the window, at most `dedupeRecoverPerPartition`.
   */
  async recoverDedupe(): Promise<void> {
    const { dedupeRecoverPerPartition: cap, dedupeWindowMs, cdcTopic } = this.cfg;
    if (cap === 0 || dedupeWindowMs === 0) return;
    const now = Date.now();
    const [offsets, byTime] = await Promise.all([
      this.admin.fetchTopicOffsets(cdcTopic),
      this.admin.fetchTopicOffsetsByTimestamp(cdcTopic, now - dedupeWindowMs),
    ]);
    const ranges = new Map<number, { from: number; to: number }>();
    for (const o of offsets) {
      const high = Number(o.high);
      const low = Number(o.low);
      const fromTime = Number(byTime.find((t) => t.partition === o.partition)?.offset ?? high);
      const from = Math.max(low, fromTime, high - cap);
      if (from < high) ranges.set(o.partition, { from, to: high });
    }
    if (ranges.size === 0) return;
    const progress = new Map<number, number>();
    let resolveDone: () => void = () => {};
    let rejectDone: (e: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    const checkDone = (): void => {
      for (const [p, r] of ranges) if ((progress.get(p) ?? r.from) < r.to) return;
      resolveDone();
    };
    const reader = await this.startReader({
      label: 'dedupe-recovery',
      topic: cdcTopic,
      partitions: [...ranges.keys()],
      nextOffset: (p) => progress.get(p) ?? ranges.get(p)?.from ?? 0,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        const r = ranges.get(batch.partition);
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) return;
          const off = Number(m.offset);
          if (r !== undefined && off >= r.from && off < r.to) {
            const id = headerString(m.headers, HEADER_MSG_ID);
            if (id !== '') this.recent.add(id, { partition: batch.partition, position: off + 1 }, messageTime(m));
          }
          progress.set(batch.partition, Math.max(progress.get(batch.partition) ?? 0, off + 1));
          resolveOffset(m.offset);
        }
        // Records kafkajs filtered out (control records) still count as read.
        const lastOffset = Number(batch.lastOffset());
        if (Number.isSafeInteger(lastOffset)) progress.set(batch.partition, Math.max(progress.get(batch.partition) ?? 0, lastOffset + 1));
        checkDone();
      },
      onFatal: (e) => rejectDone(e),
    });
    try {
      await Promise.race([done, this.closing]);
    } finally {
      await this.stopReader(reader);
    }
  }

  async subscribe(opts: SubscribeOptions, handler: DeliveryHandler, onError?: (e: Error) => void): Promise<Subscription> {
    const partitions = checkSubscribePartitions(opts.partitions, opts.after);
    for (const p of partitions) this.checkRange(p);
    const maxBatch = resolveMaxBatch(opts.maxBatch);
    if (this.closed) throw this.unavailable('subscribe');
    const sub = new KafkaSubscription(this, opts.name, partitions, opts.after, maxBatch, handler, onError);
    this.subs.add(sub);
    try {
      await sub.start();
    } catch (e) {
      this.subs.delete(sub);
      await sub.stop();
      throw e;
    }
    return sub;
  }

  async subscribeCatalog(after: number, handler: (version: number, payload: Uint8Array) => void): Promise<Subscription> {
    if (!Number.isSafeInteger(after) || after < 0) throw new TypeError(`invalid catalog version ${String(after)}`);
    if (this.closed) throw this.unavailable('subscribeCatalog');
    let target: number;
    try {
      const offs = await withTimeout(
        this.admin.fetchTopicOffsets(this.cfg.catalogTopic),
        this.cfg.openTimeoutMs,
        () => new Error(`no answer within ${this.cfg.openTimeoutMs} ms`),
      );
      target = Number(offs.find((o) => o.partition === 0)?.high ?? 0);
    } catch (e) {
      throw this.unavailable(`offsets of ${this.cfg.catalogTopic}`, e);
    }
    const sub = new KafkaCatalogSubscription(this, after, target, handler);
    this.subs.add(sub);
    try {
      await sub.start();
      await sub.caughtUp;
    } catch (e) {
      await sub.stop();
      throw e;
    }
    return sub;
  }

  // ── health, limits, close ───────────────────────────────────────────────────

  startHealthProbe(): void {
    this.healthTimer = setInterval(() => this.probeSoon(), KAFKA_HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }

  /** Ask the brokers for cluster metadata (one probe at a time); sets `connected()`. */
  private probeSoon(): void {
    if (this.closed || this.probing !== undefined) return;
    const call = this.admin.describeCluster();
    call.catch(() => {});
    this.probing = withTimeout(call, BACKGROUND_TIMEOUT_MS, () => new Error('probe timed out'))
      .then(
        () => {
          this.up = true;
        },
        () => {
          this.up = false;
        },
      )
      .finally(() => {
        // Allow the next probe only when the metadata call itself has settled.
        void call.then(
          () => {
            this.probing = undefined;
          },
          () => {
            this.probing = undefined;
          },
        );
      });
  }

  connected(): boolean {
    return !this.closed && this.up;
  }

  maxPayloadBytes(): number {
    return Math.max(1024, this.maxMessageBytes - KAFKA_PAYLOAD_HEADROOM_BYTES);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    this.rejectClosing(this.unavailable('publish'));
    await Promise.all([...this.subs].map((s) => s.stop()));
    await Promise.all([...this.producers].map((p) => p.disconnect().catch(() => {})));
    this.producers.clear();
    await Promise.all([...this.background]);
    await this.probing?.catch(() => {});
    await this.admin.disconnect().catch(() => {});
  }
}

/** A running CDC subscription: one consumer in a private group (see the module doc). */
class KafkaSubscription implements Subscription {
  /** Last position per partition that was delivered (or skipped as a duplicate / at or below `after`). */
  private readonly last = new Map<number, number>();
  private readonly wanted: Set<number>;
  /** msgIds delivered by this subscription, with their message timestamps. */
  private readonly seen: MsgIdWindow<true>;
  private reader: Reader | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private inFlight: Promise<unknown> | undefined;
  private started: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: KafkaBus,
    private readonly name: string,
    private readonly partitions: number[],
    after: Map<number, number>,
    private readonly maxBatch: number,
    private readonly handler: DeliveryHandler,
    private readonly onError: ((e: Error) => void) | undefined,
  ) {
    this.wanted = new Set(partitions);
    for (const p of partitions) this.last.set(p, after.get(p) ?? 0);
    this.seen = new MsgIdWindow(bus.cfg.dedupeWindowMs, bus.cfg.dedupeMaxIds);
  }

  start(): Promise<void> {
    this.started = (async () => {
      this.reader = await this.bus.startReader({
        label: this.name,
        topic: this.bus.cfg.cdcTopic,
        partitions: this.partitions,
        // Position n = offset n - 1, so the next offset to read after position n is n.
        nextOffset: (p) => this.last.get(p) ?? 0,
        eachBatch: (payload) => this.onBatch(payload),
        onFatal: (e) => this.fail(e),
      });
      if (this.stopped) await this.shutdown();
    })();
    return this.started;
  }

  /** Hand `batch` to the handler; false (and the subscription failed) when it threw or rejected. */
  private async deliver(batch: DeliveredMessage[]): Promise<boolean> {
    try {
      const call = this.handler(batch);
      this.inFlight = call;
      await call;
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    } finally {
      this.inFlight = undefined;
    }
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const p = batch.partition;
    if (!this.wanted.has(p)) {
      const lastMsg = batch.messages[batch.messages.length - 1];
      if (lastMsg !== undefined) resolveOffset(lastMsg.offset);
      return;
    }
    const live = (): boolean => !this.stopped && isRunning() && !isStale();
    let chunk: DeliveredMessage[] = [];
    let times: number[] = [];
    const chunkIds = new Set<string>();
    /** Offset (string) and position of the last message looked at in this batch. */
    let examinedOffset: string | undefined;
    let examinedPos = 0;
    const flush = async (): Promise<boolean> => {
      if (chunk.length > 0) {
        if (!(await this.deliver(chunk))) return false;
        chunk.forEach((m, i) => {
          if (m.msgId !== '') this.seen.add(m.msgId, true, times[i] ?? Date.now());
        });
        chunk = [];
        times = [];
        chunkIds.clear();
      }
      if (examinedOffset !== undefined) {
        if (examinedPos > (this.last.get(p) ?? 0)) this.last.set(p, examinedPos);
        resolveOffset(examinedOffset);
      }
      return true;
    };
    for (const m of batch.messages) {
      if (!live()) return;
      const pos = Number(m.offset) + 1;
      examinedOffset = m.offset;
      examinedPos = pos;
      if (pos <= (this.last.get(p) ?? 0)) continue;
      const dm = toDeliveredMessage(p, m);
      const at = messageTime(m);
      if (dm.msgId !== '' && (chunkIds.has(dm.msgId) || this.seen.get(dm.msgId, at) !== undefined)) continue; // redelivered duplicate
      chunk.push(dm);
      times.push(at);
      chunkIds.add(dm.msgId);
      if (chunk.length >= this.maxBatch) {
        if (!(await flush())) return;
        try {
          await heartbeat();
        } catch {
          return; // rebalance or connection trouble: kafkajs rejoins; unhandled messages are fetched again
        }
      }
    }
    if (!live()) return;
    await flush();
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bus.removeSubscription(this);
    void this.shutdown();
    if (this.onError) this.onError(asError(e));
  }

  /** Stop the reader once it exists (start() calls this again when a stop came first). */
  private shutdown(): Promise<void> {
    const r = this.reader;
    if (r === undefined) return Promise.resolve();
    this.stopping ??= (async () => {
      await this.bus.stopReader(r);
      await this.inFlight?.catch(() => {});
    })();
    return this.stopping;
  }

  ack(_partition: number, _position: number): void {
    // Kafka keeps its own retention (retention.ms); nothing to trim client-side.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.removeSubscription(this);
    await this.started.catch(() => {});
    await this.shutdown();
  }
}

/** A running catalog subscription: one consumer on the 1-partition catalog topic, handler called in order. */
class KafkaCatalogSubscription implements Subscription {
  /** Resolves once every record with version ≤ the topic's end at subscribe time was handled. */
  readonly caughtUp: Promise<void>;
  private resolveCaughtUp: () => void = () => {};
  private rejectCaughtUp: (e: Error) => void = () => {};
  private isCaughtUp = false;
  private lastVersion: number;
  private reader: Reader | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private started: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: KafkaBus,
    after: number,
    private readonly target: number,
    private readonly handler: (version: number, payload: Uint8Array) => void,
  ) {
    this.lastVersion = after;
    this.caughtUp = new Promise<void>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => {});
    if (after >= target) this.markCaughtUp();
  }

  start(): Promise<void> {
    this.started = (async () => {
      this.reader = await this.bus.startReader({
        label: 'catalog',
        topic: this.bus.cfg.catalogTopic,
        partitions: [0],
        nextOffset: () => this.lastVersion,
        eachBatch: (payload) => this.onBatch(payload),
        onFatal: (e) => this.fail(e),
      });
      if (this.stopped) await this.shutdown();
    })();
    return this.started;
  }

  private markCaughtUp(): void {
    if (this.isCaughtUp) return;
    this.isCaughtUp = true;
    this.resolveCaughtUp();
  }

  private async onBatch({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload): Promise<void> {
    for (const m of batch.messages) {
      if (this.stopped || !isRunning() || isStale()) return;
      const version = Number(m.offset) + 1;
      if (version > this.lastVersion) {
        try {
          this.handler(version, m.value === null ? new Uint8Array(0) : new Uint8Array(m.value));
        } catch (e) {
          this.fail(e);
          return;
        }
        this.lastVersion = version;
        if (version >= this.target) this.markCaughtUp();
      }
      resolveOffset(m.offset);
    }
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bus.removeSubscription(this);
    void this.shutdown();
    if (this.isCaughtUp) {
      process.emitWarning(`catalog subscription stopped: ${asError(e).message}`, { code: 'STRATUM_CATALOG_HANDLER' });
    } else {
      this.rejectCaughtUp(asError(e));
    }
  }

  /** Stop the reader once it exists (start() calls this again when a stop came first). */
  private shutdown(): Promise<void> {
    const r = this.reader;
    if (r === undefined) return Promise.resolve();
    this.stopping ??= this.bus.stopReader(r);
    return this.stopping;
  }

  ack(_partition: number, _position: number): void {
    // The catalog topic is never trimmed.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.removeSubscription(this);
    await this.started.catch(() => {});
    await this.shutdown();
    if (!this.isCaughtUp) this.rejectCaughtUp(new BusUnavailableError('catalog subscription stopped before it caught up'));
  }
}
