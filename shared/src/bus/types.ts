/**
 * The `ChangeBus` interface (DESIGN §3): one durable, partitioned log of change batches
 * plus a catalog (DDL) log. Implementations: local (embedded, LMDB-backed), NATS
 * JetStream, Kafka. All pass the contract suite in `contract.ts`:
 * ordering per (engine, partition), at-least-once delivery, redelivery after a consumer
 * restarts from its stored positions, dedupe of republished message ids, backpressure.
 */

/** A message handed to a subscriber. */
export interface DeliveredMessage {
  /** Stream partition (0..P-1). */
  partition: number;
  /**
   * Bus position of this message within its partition's delivery order: strictly increasing
   * per partition (NATS: stream sequence; local: log index; Kafka: offset + 1). Consumers store
   * it and pass it back as `after` to resume.
   */
  position: number;
  /** Engine that published it. */
  engine: string;
  /** Dedupe id it was published with. */
  msgId: string;
  /** Encoded `BusBatch` (see protocol/index.ts); the bus never looks inside. */
  payload: Uint8Array;
}

/** Where and how to subscribe. */
export interface SubscribeOptions {
  /** Consumer name, for logs and metrics. */
  name: string;
  /** Partitions to consume. */
  partitions: number[];
  /** Resume strictly after these positions, per partition; a partition not present starts at the beginning. */
  after: Map<number, number>;
  /** Most messages handed to the handler at once (default 256). */
  maxBatch?: number;
}

/** A running subscription. */
export interface Subscription {
  /**
   * The consumer has durably processed `partition` up to and including `position`: the bus
   * may discard older messages of that partition if its retention allows (local bus trims; NATS/Kafka keep
   * their own retention). Never required for correctness of delivery.
   */
  ack(partition: number, position: number): void;
  /** Stop delivering; resolves after the in-flight handler call (if any) has finished. */
  stop(): Promise<void>;
}

/**
 * Handler for delivered messages. Called with messages in order per partition (messages of
 * different partitions may interleave); the next call happens only after the returned
 * promise settles (backpressure). If it rejects, the subscription stops and reports the
 * error through `onError` (delivery does not skip the failed messages).
 */
export type DeliveryHandler = (msgs: DeliveredMessage[]) => Promise<void>;

/** Result of a publish. */
export interface PublishAck {
  /** Bus position assigned (for a duplicate: the position of the original when known, else -1). */
  position: number;
  /** The bus already had a message with this id (within its dedupe window); nothing new was stored. */
  duplicate: boolean;
}

/** The change bus. Every method may throw BusUnavailableError when the broker cannot be reached. */
export interface ChangeBus {
  /** Which adapter this is. */
  readonly kind: 'local' | 'nats' | 'kafka';
  /**
   * Publish one message to (engine, partition) with dedupe id `msgId`. Resolves once the bus
   * has durably stored it (broker ack). @throws BusUnavailableError (retry with backoff).
   */
  publish(engine: string, partition: number, msgId: string, payload: Uint8Array): Promise<PublishAck>;
  /** Start consuming. `onError` receives handler or transport failures that stop the subscription. */
  subscribe(opts: SubscribeOptions, handler: DeliveryHandler, onError?: (e: Error) => void): Promise<Subscription>;
  /** Append a catalog record; resolves with its catalog version (1-based position in the catalog log). */
  publishCatalog(payload: Uint8Array): Promise<number>;
  /**
   * Follow the catalog log from after version `after` (0 = from the start). The handler is
   * called in order for every existing record and then for new ones as they arrive; the
   * returned promise resolves once all records existing at call time have been handled.
   */
  subscribeCatalog(after: number, handler: (version: number, payload: Uint8Array) => void): Promise<Subscription>;
  /** Health: true when the broker is currently reachable. */
  connected(): boolean;
  /** Largest payload one message may carry (bytes); publishers must not exceed it. */
  maxPayloadBytes(): number;
  /** Close connections and files. Pending publishes reject. */
  close(): Promise<void>;
}
