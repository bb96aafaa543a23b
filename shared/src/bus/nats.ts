/**
 * NATS JetStream change bus (DESIGN §3): the {@link ChangeBus} interface over
 * `@nats-io/transport-node` + `@nats-io/jetstream` v3, compatible with nats-server ≥ 2.9
 * (single `filter_subject` per consumer, no stream compression).
 *
 * - Stream {@link CDC_STREAM} (subjects `stratum.cdc.>`, file storage, duplicate window
 *   2 min, max age 7 days by default); subject `stratum.cdc.<partition>.<engine>`; the
 *   message id travels in the `Nats-Msg-Id` header (publish option `msgID`), so the
 *   broker drops republished batches; position = stream sequence.
 * - Stream {@link CATALOG_STREAM} (subject `stratum.catalog`, file storage); catalog
 *   version = stream sequence.
 * - Subscriptions: per partition an ephemeral, in-memory, ack-none pull consumer filtered
 *   on `stratum.cdc.<p>.*` and started at `after + 1` — the "ordered consumer" pattern
 *   implemented here (consumer delivery sequences are checked for gaps; on a gap, a
 *   disconnect or any error the consumer is recreated at the last received stream
 *   sequence + 1). Messages are pulled with bounded `fetch()` calls (never more than
 *   `maxBatch` buffered per partition), so a slow handler holds back the pulls
 *   (backpressure). The library's `consume()` is not used: it refills on receipt, not on
 *   processing, so it buffers without bound behind a slow handler.
 * - The connection reconnects forever; while it is down, publishes fail fast with
 *   {@link BusUnavailableError} and subscriptions resume, without gaps, once it is back.
 */
import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos, nuid } from '@nats-io/transport-node';
import { BusUnavailableError, SqlState, StratumError } from '../errors.ts';
import { asError, checkPublishArgs, checkSubscribePartitions, resolveMaxBatch, Signal } from './common.ts';
import type { ChangeBus, DeliveredMessage, DeliveryHandler, PublishAck, SubscribeOptions, Subscription } from './types.ts';

/** JetStream stream holding the change batches. */
export const CDC_STREAM = 'STRATUM_CDC';
/** Subject prefix of change batches: `stratum.cdc.<partition>.<engine>`. */
export const CDC_SUBJECT_PREFIX = 'stratum.cdc';
/** JetStream stream holding the catalog (DDL) log. */
export const CATALOG_STREAM = 'STRATUM_CATALOG';
/** Subject of catalog records. */
export const CATALOG_SUBJECT = 'stratum.catalog';
/** Broker-side dedupe window of {@link CDC_STREAM} (ms): 2 min, JetStream's default. */
export const CDC_DUPLICATE_WINDOW_MS = 120_000;
/** Default retention of {@link CDC_STREAM} (ms): 7 days. */
export const DEFAULT_STREAM_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** Default bound on a publish round trip (ms). */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 2000;

/** How long one pull request waits for messages before it is re-issued (ms; the library minimum is 1000). */
const FETCH_EXPIRES_MS = 10_000;
/** Ephemeral consumers left behind (e.g. by a crashed process) vanish after this idle time (ms). */
const CONSUMER_INACTIVE_MS = 5 * 60_000;
/** Backoff between failed consumer (re)creations / fetches (ms): from MIN doubling up to MAX. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/** Delay between reconnect attempts (ms); attempts never stop. */
const RECONNECT_WAIT_MS = 500;

/** Options of {@link openNatsBus}. */
export interface NatsBusOptions {
  /** Server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222` or `host1:4222,host2:4222`. */
  servers: string;
  /** Retention of {@link CDC_STREAM} (ms); default 7 days. Applied on open (stream created or updated). */
  streamMaxAgeMs?: number;
  /** Bound on one publish (ms, default 2000): a publish without broker ack by then rejects with BusUnavailableError. */
  publishTimeoutMs?: number;
  /** Client connection name shown by the server's monitoring; default `stratum-bus`. */
  name?: string;
}

/**
 * Connect to NATS, create or update the streams {@link CDC_STREAM} and
 * {@link CATALOG_STREAM}, and return the bus. The connection then reconnects forever.
 * @throws BusUnavailableError when the server cannot be reached or JetStream is not
 *   enabled / the streams cannot be created.
 * @throws TypeError for invalid option values.
 */
export async function openNatsBus(opts: NatsBusOptions): Promise<ChangeBus> {
  const publishTimeoutMs = opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  const maxAgeMs = opts.streamMaxAgeMs ?? DEFAULT_STREAM_MAX_AGE_MS;
  if (!Number.isFinite(publishTimeoutMs) || publishTimeoutMs <= 0) throw new TypeError(`invalid publishTimeoutMs ${publishTimeoutMs}`);
  if (!Number.isFinite(maxAgeMs) || maxAgeMs < 0) throw new TypeError(`invalid streamMaxAgeMs ${maxAgeMs}`);
  const servers = opts.servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new TypeError('openNatsBus: no servers given');
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: opts.name ?? 'stratum-bus',
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      reconnectJitter: 100,
      timeout: Math.max(publishTimeoutMs, 2000),
      // Detect half-open connections within ~30 s (the default is 2 min).
      pingInterval: 10_000,
      maxPingOut: 3,
    });
  } catch (e) {
    throw new BusUnavailableError(`cannot connect to NATS at ${opts.servers}: ${asError(e).message}`, { cause: e });
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: Math.max(publishTimeoutMs, 5000) });
    await ensureStreams(jsm, maxAgeMs);
    const js = jetstream(nc, { timeout: publishTimeoutMs });
    return new NatsBus(nc, js, jsm, opts.servers, publishTimeoutMs, maxAgeMs);
  } catch (e) {
    await nc.close().catch(() => {});
    throw new BusUnavailableError(`NATS at ${opts.servers}: cannot set up JetStream streams: ${asError(e).message}`, { cause: e });
  }
}

function cdcStreamConfig(maxAgeMs: number): StreamConfig {
  return {
    name: CDC_STREAM,
    subjects: [`${CDC_SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(CDC_DUPLICATE_WINDOW_MS),
    max_age: nanos(maxAgeMs),
    num_replicas: 1,
  } as StreamConfig;
}

function catalogStreamConfig(): StreamConfig {
  return {
    name: CATALOG_STREAM,
    subjects: [CATALOG_SUBJECT],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: 0,
    num_replicas: 1,
  } as StreamConfig;
}

function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;
}

/** Create the streams, or update subjects / retention / duplicate window when they differ. */
async function ensureStreams(jsm: JetStreamManager, maxAgeMs: number): Promise<void> {
  for (const want of [cdcStreamConfig(maxAgeMs), catalogStreamConfig()]) {
    try {
      const si = await jsm.streams.info(want.name);
      const have = si.config;
      const differs =
        JSON.stringify(have.subjects ?? []) !== JSON.stringify(want.subjects) ||
        (have.max_age ?? 0) !== want.max_age ||
        (want.duplicate_window !== undefined && have.duplicate_window !== want.duplicate_window);
      if (differs) {
        const upd: Partial<StreamConfig> = { subjects: want.subjects, max_age: want.max_age };
        if (want.duplicate_window !== undefined) upd.duplicate_window = want.duplicate_window;
        await jsm.streams.update(want.name, upd);
      }
    } catch (e) {
      if (!isStreamNotFound(e)) throw e;
      await jsm.streams.add(want);
    }
  }
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

class NatsBus implements ChangeBus {
  readonly kind = 'nats' as const;
  private isUp = true;
  private closed = false;
  /** Notified on every connection status change and on close. */
  readonly connSignal = new Signal();
  private readonly feeds = new Set<PullFeed>();
  private readonly subs = new Set<NatsSubscription | NatsCatalogSubscription>();
  private readonly statusLoop: Promise<void>;
  private ensuring: Promise<void> | undefined;

  constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly servers: string,
    private readonly publishTimeoutMs: number,
    private readonly maxAgeMs: number,
  ) {
    this.statusLoop = (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.setUp(false);
        else if (s.type === 'reconnect') this.setUp(true);
      }
    })().catch(() => {});
  }

  private setUp(up: boolean): void {
    this.isUp = up;
    // Whatever the pulls were doing is suspect after a connection change: restart them
    // from their last received positions (consumers may be gone after a server restart).
    for (const f of this.feeds) f.reset();
    this.connSignal.notify();
  }

  /** True when the connection is up and the bus is open. */
  isConnected(): boolean {
    return !this.closed && this.isUp && !this.nc.isClosed();
  }

  isClosed(): boolean {
    return this.closed;
  }

  addFeed(f: PullFeed): void {
    this.feeds.add(f);
  }

  removeFeed(f: PullFeed): void {
    this.feeds.delete(f);
  }

  removeSubscription(s: NatsSubscription | NatsCatalogSubscription): void {
    this.subs.delete(s);
  }

  private unavailable(what: string, e?: unknown): BusUnavailableError {
    if (this.closed) return new BusUnavailableError(`NATS bus (${this.servers}) is closed`, e === undefined ? {} : { cause: e });
    const msg = e === undefined ? 'not connected' : asError(e).message;
    return new BusUnavailableError(`NATS bus (${this.servers}): ${what} failed: ${msg}`, e === undefined ? {} : { cause: e });
  }

  /** Recreate the streams in the background after a "stream not found" (e.g. a wiped server). */
  private reensureStreams(): void {
    this.ensuring ??= ensureStreams(this.jsm, this.maxAgeMs)
      .catch(() => {})
      .finally(() => {
        this.ensuring = undefined;
      });
  }

  private async jsPublish(subject: string, payload: Uint8Array, msgId: string | undefined): Promise<{ seq: number; duplicate: boolean }> {
    if (!this.isConnected()) throw this.unavailable(`publish to ${subject}`);
    const max = this.nc.info?.max_payload;
    if (max !== undefined && payload.byteLength > max) {
      throw new StratumError(
        SqlState.programLimitExceeded,
        `NATS bus: payload of ${payload.byteLength} bytes exceeds the server's max_payload of ${max} bytes (${subject})`,
      );
    }
    try {
      const opts: { timeout: number; msgID?: string } = { timeout: this.publishTimeoutMs };
      if (msgId !== undefined) opts.msgID = msgId;
      const pa = await this.js.publish(subject, payload, opts);
      return { seq: pa.seq, duplicate: pa.duplicate };
    } catch (e) {
      if (isStreamNotFound(e)) this.reensureStreams();
      if (/max_payload/i.test(asError(e).message)) {
        throw new StratumError(SqlState.programLimitExceeded, `NATS bus: ${asError(e).message} (${subject})`, { cause: e });
      }
      throw this.unavailable(`publish to ${subject}`, e);
    }
  }

  async publish(engine: string, partition: number, msgId: string, payload: Uint8Array): Promise<PublishAck> {
    checkPublishArgs(engine, partition, msgId, payload);
    const pa = await this.jsPublish(`${CDC_SUBJECT_PREFIX}.${partition}.${engine}`, payload, msgId);
    return { position: pa.seq > 0 ? pa.seq : -1, duplicate: pa.duplicate };
  }

  async subscribe(opts: SubscribeOptions, handler: DeliveryHandler, onError?: (e: Error) => void): Promise<Subscription> {
    const partitions = checkSubscribePartitions(opts.partitions, opts.after);
    const maxBatch = resolveMaxBatch(opts.maxBatch);
    if (this.closed) throw this.unavailable('subscribe');
    const sub = new NatsSubscription(this, opts.name, partitions, opts.after, maxBatch, handler, onError);
    this.subs.add(sub);
    sub.start();
    return sub;
  }

  async publishCatalog(payload: Uint8Array): Promise<number> {
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    const pa = await this.jsPublish(CATALOG_SUBJECT, payload, undefined);
    return pa.seq;
  }

  async subscribeCatalog(after: number, handler: (version: number, payload: Uint8Array) => void): Promise<Subscription> {
    if (!Number.isSafeInteger(after) || after < 0) throw new TypeError(`invalid catalog version ${String(after)}`);
    if (!this.isConnected()) throw this.unavailable('subscribeCatalog');
    let lastSeq: number;
    try {
      lastSeq = (await this.jsm.streams.info(CATALOG_STREAM)).state.last_seq;
    } catch (e) {
      throw this.unavailable(`stream info ${CATALOG_STREAM}`, e);
    }
    const sub = new NatsCatalogSubscription(this, after, lastSeq, handler);
    this.subs.add(sub);
    sub.start();
    try {
      await sub.caughtUp;
    } catch (e) {
      await sub.stop();
      throw e;
    }
    return sub;
  }

  maxPayloadBytes(): number {
    // Headers (Nats-Msg-Id) and the protocol line take a little of max_payload.
    return Math.max(1024, (this.nc.info?.max_payload ?? 1024 * 1024) - 4096);
  }

  connected(): boolean {
    return this.isConnected();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connSignal.notify();
    await Promise.all([...this.subs].map((s) => s.stop()));
    // Pending publishes reject with ClosedConnectionError → BusUnavailableError.
    await this.nc.close().catch(() => {});
    await this.statusLoop;
  }
}

/**
 * One pull feed: an ephemeral ack-none pull consumer on `stream` (optionally filtered)
 * that hands received messages, in stream order and without gaps, to `deliver`.
 * Pulls at most `room()` messages at a time and waits (on `roomSignal`) while `room()` is 0.
 */
class PullFeed {
  /** Last stream sequence handed to `deliver` (or the start position). */
  lastSeq: number;
  private consumer: Consumer | undefined;
  private lastDseq = 0;
  private iter: ConsumerMessages | undefined;
  private needsReset = false;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  /** Notified by stop() to interrupt waits. */
  private readonly stopSignal = new Signal();

  constructor(
    private readonly bus: NatsBus,
    private readonly stream: string,
    private readonly filter: string | undefined,
    after: number,
    private readonly namePrefix: string,
    private readonly room: () => number,
    private readonly roomSignal: Signal,
    private readonly deliver: (m: JsMsg) => void,
    private readonly onFatal: (e: Error) => void,
  ) {
    this.lastSeq = after;
  }

  start(): void {
    this.bus.addFeed(this);
    this.loop = this.run();
  }

  /** Drop the current consumer and recreate it from `lastSeq + 1` (connection change, gap). */
  reset(): void {
    this.needsReset = true;
    this.iter?.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.removeFeed(this);
    this.iter?.stop();
    this.stopSignal.notify();
    this.roomSignal.notify();
    await this.loop;
  }

  private dropConsumer(): void {
    const c = this.consumer;
    this.consumer = undefined;
    this.lastDseq = 0;
    if (c !== undefined && this.bus.isConnected()) void c.delete().catch(() => {});
  }

  private async createConsumer(): Promise<Consumer> {
    const start = this.lastSeq + 1;
    const cfg: Partial<ConsumerConfig> = {
      name: `${this.namePrefix}_${nuid.next()}`,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
    };
    if (start <= 1) cfg.deliver_policy = DeliverPolicy.All;
    else {
      cfg.deliver_policy = DeliverPolicy.StartSequence;
      cfg.opt_start_seq = start;
    }
    if (this.filter !== undefined) cfg.filter_subject = this.filter;
    const ci = await this.bus.jsm.consumers.add(this.stream, cfg);
    return this.bus.js.consumers.getConsumerFromInfo(ci);
  }

  private async pause(ms: number): Promise<void> {
    await this.stopSignal.waitTimeout(this.stopSignal.version, ms);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped && !this.bus.isClosed()) {
      const want = this.room();
      if (want <= 0) {
        const seen = this.roomSignal.version;
        if (this.room() <= 0 && !this.stopped) await this.roomSignal.wait(seen);
        continue;
      }
      if (!this.bus.isConnected()) {
        await this.bus.connSignal.waitTimeout(this.bus.connSignal.version, 1000);
        continue;
      }
      try {
        if (this.needsReset) {
          this.needsReset = false;
          this.dropConsumer();
        }
        this.consumer ??= await this.createConsumer();
        if (this.stopped || this.needsReset) continue;
        const iter = await this.consumer.fetch({ max_messages: want, expires: FETCH_EXPIRES_MS });
        this.iter = iter;
        if (this.stopped || this.needsReset) iter.stop();
        for await (const m of iter) {
          const dseq = m.info.deliverySequence;
          if (dseq !== this.lastDseq + 1) {
            // A message went missing between server and client: recreate at lastSeq + 1.
            this.needsReset = true;
            iter.stop();
            break;
          }
          this.lastDseq = dseq;
          if (m.seq <= this.lastSeq) continue;
          this.deliver(m);
          this.lastSeq = m.seq;
        }
        this.iter = undefined;
        failures = 0;
      } catch (e) {
        this.iter = undefined;
        if (this.stopped) break;
        this.dropConsumer();
        if (e instanceof JetStreamApiError && !isStreamNotFound(e) && e.status === 400) {
          // A request the server will never accept (bad config): retrying cannot help.
          this.onFatal(e);
          break;
        }
        failures++;
        await this.pause(Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS));
      }
      await yieldToLoop();
    }
    this.dropConsumer();
  }
}

function consumerPrefix(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32);
  return clean === '' ? 'stratum' : clean;
}

/** A running CDC subscription: one pull feed per partition, one dispatch loop. */
class NatsSubscription implements Subscription {
  private readonly buffers = new Map<number, DeliveredMessage[]>();
  private readonly feeds: PullFeed[] = [];
  /** Data arrived, room freed or stop requested. */
  private readonly signal = new Signal();
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: NatsBus,
    name: string,
    private readonly partitions: number[],
    after: Map<number, number>,
    private readonly maxBatch: number,
    private readonly handler: DeliveryHandler,
    private readonly onError: ((e: Error) => void) | undefined,
  ) {
    const prefix = consumerPrefix(name);
    for (const p of partitions) {
      const buf: DeliveredMessage[] = [];
      this.buffers.set(p, buf);
      this.feeds.push(
        new PullFeed(
          bus,
          CDC_STREAM,
          `${CDC_SUBJECT_PREFIX}.${p}.*`,
          after.get(p) ?? 0,
          `${prefix}_p${p}`,
          () => this.maxBatch - buf.length,
          this.signal,
          (m) => {
            buf.push(toDelivered(p, m));
            this.signal.notify();
          },
          (e) => this.fail(e),
        ),
      );
    }
  }

  start(): void {
    for (const f of this.feeds) f.start();
    this.loop = this.run();
  }

  private take(start: number): DeliveredMessage[] {
    const out: DeliveredMessage[] = [];
    const n = this.partitions.length;
    for (let i = 0; i < n && out.length < this.maxBatch; i++) {
      const buf = this.buffers.get(this.partitions[(start + i) % n] as number) as DeliveredMessage[];
      if (buf.length === 0) continue;
      out.push(...buf.splice(0, this.maxBatch - out.length));
    }
    return out;
  }

  private async run(): Promise<void> {
    let rr = 0;
    while (!this.stopped) {
      const seen = this.signal.version;
      const batch = this.take(rr++);
      if (batch.length === 0) {
        await this.signal.wait(seen);
        continue;
      }
      this.signal.notify(); // room freed: wake the feeds
      try {
        await this.handler(batch);
      } catch (e) {
        this.fail(e);
        return;
      }
    }
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.signal.notify();
    void Promise.all(this.feeds.map((f) => f.stop()));
    this.bus.removeSubscription(this);
    if (this.onError) this.onError(asError(e));
  }

  ack(_partition: number, _position: number): void {
    // JetStream keeps its own retention (max_age); nothing to trim client-side.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.notify();
    this.bus.removeSubscription(this);
    await Promise.all(this.feeds.map((f) => f.stop()));
    await this.loop;
  }
}

function toDelivered(partition: number, m: JsMsg): DeliveredMessage {
  const engine = m.subject.slice(CDC_SUBJECT_PREFIX.length + 1).split('.')[1] ?? '';
  return {
    partition,
    position: m.seq,
    engine,
    msgId: m.headers?.get('Nats-Msg-Id') ?? '',
    // Copy: the client may reuse its read buffers.
    payload: new Uint8Array(m.data),
  };
}

/** A running catalog subscription: one pull feed on the catalog stream, handler called in order. */
class NatsCatalogSubscription implements Subscription {
  /** Resolves once every record with version ≤ the stream's last sequence at subscribe time was handled. */
  readonly caughtUp: Promise<void>;
  private resolveCaughtUp: () => void = () => {};
  private rejectCaughtUp: (e: Error) => void = () => {};
  private isCaughtUp = false;
  private readonly feed: PullFeed;
  private stopped = false;

  constructor(
    private readonly bus: NatsBus,
    after: number,
    private readonly target: number,
    private readonly handler: (version: number, payload: Uint8Array) => void,
  ) {
    this.caughtUp = new Promise<void>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => {});
    this.feed = new PullFeed(
      bus,
      CATALOG_STREAM,
      undefined,
      after,
      'stratum_catalog',
      () => 256,
      new Signal(),
      (m) => this.onMessage(m),
      (e) => this.fail(e),
    );
    if (after >= target) this.markCaughtUp();
  }

  private markCaughtUp(): void {
    if (this.isCaughtUp) return;
    this.isCaughtUp = true;
    this.resolveCaughtUp();
  }

  private onMessage(m: JsMsg): void {
    if (this.stopped) return;
    try {
      this.handler(m.seq, new Uint8Array(m.data));
    } catch (e) {
      this.fail(e);
      throw e; // stops the feed's loop iteration; the feed is stopped by fail()
    }
    if (m.seq >= this.target) this.markCaughtUp();
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.feed.stop();
    this.bus.removeSubscription(this);
    if (this.isCaughtUp) {
      process.emitWarning(`catalog subscription stopped: ${asError(e).message}`, { code: 'STRATUM_CATALOG_HANDLER' });
    } else {
      this.rejectCaughtUp(asError(e));
    }
  }

  start(): void {
    this.feed.start();
  }

  ack(_partition: number, _position: number): void {
    // The catalog stream is never trimmed.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.removeSubscription(this);
    await this.feed.stop();
    if (!this.isCaughtUp) this.rejectCaughtUp(new BusUnavailableError('catalog subscription stopped before it caught up'));
  }
}
