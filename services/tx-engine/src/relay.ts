/**
 * Outbox relay (DESIGN §2 step 4–5): publishes durable outbox entries to the bus in
 * per-(engine, partition) sequence order, many transactions per bus message, and deletes
 * them once the bus acknowledged. Every message carries the partition's closed timestamp;
 * idle partitions get a heartbeat-only message at least every `heartbeat_ms`. When the bus
 * is down, entries wait in the outbox and the relay retries with exponential backoff.
 *
 * Eager closing: the ingestion watermark is the minimum closed timestamp over every
 * (engine, partition) pair, so a commit on one partition becomes readable analytically only once
 * every other partition has closed past it too. After a data message, the idle partitions get a
 * heartbeat at once (at most one per `eagerGapMs` each), instead of at their next
 * `heartbeat_ms`: an analytical read after a write waits for the pipeline, not for the timer.
 */
import {
  batchMessageId,
  type Catalog,
  type ChangeBus,
  counter,
  type EncodedPart,
  encodeBusBatch,
  gauge,
  type Logger,
  PROTOCOL_VERSION,
} from '@stratum/shared';
import type { Engine } from './engine.ts';
import { type BatchOp, outboxKey } from './store.ts';

const mPublished = counter('stratum_relay_published_changes_total', 'Transaction parts published to the bus', ['engine']);
const mMessages = counter('stratum_relay_messages_total', 'Bus messages published (batches and heartbeats)', ['engine', 'kind']);
const mErrors = counter('stratum_relay_publish_errors_total', 'Failed publish attempts (retried)', ['engine']);
const mLag = gauge('stratum_relay_lag_seconds', 'Age of the oldest unpublished outbox entry (0 when empty)', ['engine']);
const mPending = gauge('stratum_relay_outbox_entries', 'Outbox entries waiting to be published', ['engine']);

interface PartitionState {
  pending: EncodedPart[];
  /** Highest durable sequence number known to the relay. */
  durableSeq: number;
  /** Highest sequence number the bus has acknowledged. */
  publishedSeq: number;
  /** Commits waiting for the bus to acknowledge their entry (durability: replicated). */
  waiters: { seq: number; resolve: () => void }[];
  busy: boolean;
  lastSentAt: number;
  /** Closed timestamp of the last message the bus acknowledged (ms). */
  lastClosedTs: number;
  backoffMs: number;
  retryAt: number;
}

/** Options of the relay. */
export interface RelayOptions {
  engine: Engine;
  bus: ChangeBus;
  catalog: Catalog;
  partitions: number;
  heartbeatMs: number;
  /**
   * Shortest gap (ms) between eager heartbeats of one idle partition after data messages on
   * others (module comment); 0 = none, heartbeats only every `heartbeatMs`.
   */
  eagerGapMs?: number;
  maxBatch: number;
  /** Most bytes of encoded parts in one bus message (a single larger part still goes alone). */
  maxBytes: number;
  log: Logger;
}

/** The relay of one engine. */
export class Relay {
  private readonly parts: PartitionState[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inflight = new Set<Promise<void>>();
  /** Eager closing: every partition should close past this commit timestamp (ms). */
  private closeTo = Number.NEGATIVE_INFINITY;
  /** A closing round is scheduled (setImmediate or a gap timer). */
  private closeScheduled = false;

  private constructor(private readonly o: RelayOptions) {}

  /** Decommissioned: heartbeats that cover the whole outbox carry `retired: true`. */
  private retired = false;
  /** Partitions whose retired heartbeat the bus acknowledged. */
  private readonly retiredSent = new Set<number>();

  /**
   * Drain the outbox and publish a retired heartbeat on every partition (protocol 2): after
   * it, ingestion stops counting this engine in its watermark. Resolves once the bus has
   * acknowledged all of them; keeps trying while the bus is down.
   */
  async retire(): Promise<void> {
    this.retired = true;
    for (let p = 0; p < this.parts.length; p++) this.kick(p);
    while (this.retiredSent.size < this.parts.length && !this.stopped) {
      for (let p = 0; p < this.parts.length; p++) if (!this.retiredSent.has(p)) this.kick(p);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Load the outbox left by a previous run and start publishing. */
  static async start(o: RelayOptions): Promise<Relay> {
    const r = new Relay(o);
    const seqs = o.engine.seqs;
    for (let p = 0; p < o.partitions; p++) {
      const pending = await o.engine.store.readOutbox(p, 0, Number.MAX_SAFE_INTEGER);
      const durableSeq = seqs[p] ?? 0;
      const publishedSeq = pending.length > 0 ? (pending[0]?.seq ?? 1) - 1 : durableSeq;
      r.parts.push({
        pending,
        durableSeq,
        publishedSeq,
        waiters: [],
        busy: false,
        lastSentAt: 0,
        lastClosedTs: Number.NEGATIVE_INFINITY,
        backoffMs: 0,
        retryAt: 0,
      });
    }
    o.engine.onCommitted((list) => r.onCommitted(list));
    r.timer = setInterval(() => r.tick(), Math.max(5, Math.floor(o.heartbeatMs / 2)));
    r.tick();
    return r;
  }

  private onCommitted(list: EncodedPart[]): void {
    const touched = new Set<number>();
    for (const part of list) {
      const s = this.parts[part.partition];
      if (!s) continue;
      s.pending.push(part);
      s.durableSeq = part.seq;
      touched.add(part.partition);
    }
    for (const p of touched) this.kick(p);
  }

  /**
   * Resolves once the bus has acknowledged every one of `parts` (durability: replicated).
   * Never rejects; `signal` (the caller's timeout) removes the waiters, so a long bus outage
   * does not pile them up.
   */
  whenPublished(parts: readonly { partition: number; seq: number }[], signal?: AbortSignal): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const { partition, seq } of parts) {
      const s = this.parts[partition];
      if (!s || s.publishedSeq >= seq) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const w = { seq, resolve };
          s.waiters.push(w);
          signal?.addEventListener(
            'abort',
            () => {
              const i = s.waiters.indexOf(w);
              if (i >= 0) s.waiters.splice(i, 1);
            },
            { once: true },
          );
        }),
      );
    }
    return waits.length === 0 ? Promise.resolve() : Promise.all(waits).then(() => undefined);
  }

  /** Entries not yet acknowledged by the bus. */
  pendingCount(): number {
    let n = 0;
    for (const s of this.parts) n += s.pending.length;
    return n;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    let oldest = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.parts.length; p++) {
      const s = this.parts[p]!;
      const first = s.pending[0];
      if (first && first.commitTs < oldest) oldest = first.commitTs;
      if (s.pending.length > 0 || now - s.lastSentAt >= this.o.heartbeatMs) this.kick(p);
    }
    mLag.set({ engine: this.o.engine.opts.id }, Number.isFinite(oldest) ? Math.max(0, now - oldest) / 1000 : 0);
    mPending.set({ engine: this.o.engine.opts.id }, this.pendingCount());
  }

  private kick(p: number): void {
    const s = this.parts[p];
    if (!s || s.busy || this.stopped || Date.now() < s.retryAt) return;
    s.busy = true;
    const job = this.publishOnce(p, s).finally(() => {
      s.busy = false;
      this.inflight.delete(job);
      if (s.pending.length > 0 && !this.stopped && s.backoffMs === 0) this.kick(p);
    });
    this.inflight.add(job);
  }

  private async publishOnce(p: number, s: PartitionState): Promise<void> {
    const engine = this.o.engine;
    const id = engine.opts.id;
    // Cut by count and by bytes (NATS refuses messages over its max_payload, 1 MiB by default).
    let n = 0;
    let bytes = 0;
    while (n < s.pending.length && n < this.o.maxBatch) {
      const b = s.pending[n]!.bytes.length;
      if (n > 0 && bytes + b > this.o.maxBytes) break;
      bytes += b;
      n++;
    }
    const take = s.pending.slice(0, n);
    const next = s.pending[take.length];
    const last = take[take.length - 1];
    // Closed timestamp: below the first entry not in this message; else the engine's.
    let closedTs = engine.closedTs();
    if (next) closedTs = Math.min(closedTs, next.commitTs - 1);
    const head = {
      protocolVersion: PROTOCOL_VERSION,
      engine: id,
      partition: p,
      catalogVersion: this.o.catalog.version,
      heartbeat: {
        engine: id,
        partition: p,
        seq: last ? last.seq : s.durableSeq,
        closedTs,
        // Final only when this message empties the outbox of the partition.
        ...(this.retired && take.length === s.pending.length ? { retired: true } : {}),
      },
    };
    const retiredNow = head.heartbeat.retired === true;
    try {
      await this.o.bus.publish(id, p, batchMessageId({ ...head, parts: take }), encodeBusBatch(head, take));
    } catch (e) {
      mErrors.inc({ engine: id });
      s.backoffMs = Math.min(s.backoffMs === 0 ? 50 : s.backoffMs * 2, 2000);
      s.retryAt = Date.now() + s.backoffMs;
      if (s.backoffMs >= 2000) this.o.log.warn({ err: (e as Error).message, partition: p }, 'bus publish failing; outbox entries wait');
      return;
    }
    s.backoffMs = 0;
    s.retryAt = 0;
    s.lastSentAt = Date.now();
    s.lastClosedTs = closedTs;
    if ((this.o.eagerGapMs ?? 0) > 0) {
      if (take.length > 0 && last) this.closeOthers(last.commitTs);
      // A message already in flight when a round ran may have closed below its target: go again.
      else if (closedTs < this.closeTo) this.closeOthers(this.closeTo);
    }
    if (retiredNow) this.retiredSent.add(p);
    mMessages.inc({ engine: id, kind: take.length > 0 ? 'batch' : 'heartbeat' });
    if (take.length > 0) {
      s.pending.splice(0, take.length);
      s.publishedSeq = Math.max(s.publishedSeq, last?.seq ?? 0);
      // Waiters join in commit order, which is sequence order: resolve from the front.
      let done = 0;
      while (done < s.waiters.length && (s.waiters[done]?.seq ?? 0) <= s.publishedSeq) s.waiters[done++]?.resolve();
      if (done > 0) s.waiters.splice(0, done);
      mPublished.inc({ engine: id }, take.length);
      const ops: BatchOp[] = take.map((t) => ({ type: 'del', key: outboxKey(p, t.seq) }));
      // Not synced: a delete lost in a crash only republishes entries the bus dedupes.
      await engine.store.write(ops, false).catch((e) => this.o.log.error({ err: e }, 'outbox delete failed'));
    }
  }

  /** Eager closing (module comment): have every partition close past `ts` soon. */
  private closeOthers(ts: number): void {
    if (ts > this.closeTo) this.closeTo = ts;
    if (this.closeScheduled) return;
    this.closeScheduled = true;
    // After this turn: commits published in the same turn share one round.
    setImmediate(() => this.closeRound());
  }

  /**
   * Heartbeat every idle partition that has not closed past `closeTo`, unless it sent one within
   * `eagerGapMs`; those get a timer for when their gap ends. Partitions with pending entries or
   * a message in flight close past it with that message.
   */
  private closeRound(): void {
    this.closeScheduled = false;
    if (this.stopped) return;
    const gap = this.o.eagerGapMs ?? 0;
    const now = Date.now();
    // A heartbeat now would close below `closeTo` (a commit still in flight, or the same ms).
    const closed = this.o.engine.closedTs();
    if (closed < this.closeTo) {
      this.closeScheduled = true;
      setTimeout(() => this.closeRound(), Math.min(Math.max(1, this.closeTo - closed), Math.max(1, gap))).unref();
      return;
    }
    let nextAt = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.parts.length; p++) {
      const s = this.parts[p]!;
      if (s.lastClosedTs >= this.closeTo || s.pending.length > 0 || s.busy) continue;
      if (now - s.lastSentAt >= gap) this.kick(p);
      else nextAt = Math.min(nextAt, s.lastSentAt + gap);
    }
    if (Number.isFinite(nextAt)) {
      this.closeScheduled = true;
      setTimeout(() => this.closeRound(), Math.max(1, nextAt - now)).unref();
    }
  }

  /**
   * Stop: wait up to `drainMs` for the outbox to empty (bus permitting), then stop timers.
   * Entries not published stay in the outbox for the next start.
   */
  async stop(drainMs: number): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.pendingCount() > 0 && Date.now() < deadline && this.o.bus.connected()) {
      for (let p = 0; p < this.parts.length; p++) this.kick(p);
      await new Promise((r) => setTimeout(r, 10));
    }
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
  }
}
