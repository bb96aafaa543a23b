/**
 * Clock client (DESIGN §8, issue 5 item 4): every node polls the clock sources (primary first,
 * then backups) each `heartbeatMs` over HTTP (`GET /time` → `{ node, time, eps }`) and keeps an
 * interval around true time from the best answer:
 *
 *   t0, t1 = this node's oscillator (`local()`) before and after the request, rtt = t1 − t0.
 *   The source read its clock somewhere in [t0, t1], so true time at t1 lies in
 *   [time − eps_p, time + eps_p + rtt]: mid = time + rtt/2, half-width = eps_p + rtt/2.
 *   At a later local reading L: now() = mid + (L − t1) ± (half-width + drift_ppm/1e6 × (L − t1)),
 *   i.e. ε = eps_primary + rtt/2 + drift × time since the last good heartbeat.
 *
 * Failover: the sample used is the one of the highest-priority source that answered in the
 * latest round; when none answered, the last good sample ages and ε grows. Past
 * `maxUncertaintyMs` — or before any good heartbeat, or while two sources' intervals do not
 * intersect, or after this node's oscillator was caught drifting beyond `driftPpm` — the clock
 * reports itself unsynchronized, and `unsynchronizedReason()` says why.
 *
 * Time is read only through `local()` (monotonic by default), so wall-clock steps on this node
 * do not move the interval.
 */
import type { Clock, TimeInterval } from './clock.ts';
import type { Logger } from './log.ts';
import { counter, gauge } from './metrics.ts';

/** ε of every node, in seconds (the clock service exports its own served ε under the same name). */
export const clockUncertaintyGauge = gauge('stratum_clock_uncertainty_seconds', 'Clock uncertainty ε of this node (s)', ['node']);
const mOffset = gauge(
  'stratum_clock_offset_seconds',
  "Offset of the clock source's time from this node's local oscillator (s; positive = local is behind)",
  ['node'],
);
const mSync = gauge('stratum_clock_synchronized', '1 when this node considers its clock synchronized (ε within max_uncertainty_ms)', [
  'node',
]);
const mSource = gauge('stratum_clock_source_info', 'The clock source this node currently takes time from (value 1)', ['node', 'source']);
const mFailovers = counter('stratum_clock_failovers_total', 'Switches of the clock source a node takes time from (failover and back)', [
  'node',
]);
const mRejected = counter(
  'stratum_clock_rejected_heartbeats_total',
  'Heartbeat answers discarded: unknown_node, malformed, or prediction (disagrees with the local prediction: oscillator drift)',
  ['node', 'source', 'reason'],
);

/** Half-width of `now()` before any good heartbeat (ms, one year): finite, so midpoints stay numbers. */
export const UNKNOWN_HALF_WIDTH_MS = 365 * 86_400_000;

/** One clock source: its configured node id and where it serves `GET /time`. */
export interface ClockSource {
  id: string;
  url: string;
}

/** Options of {@link startClockClient}. */
export interface ClockClientOptions {
  /** This node's id (the `node` label of the metrics). */
  node: string;
  /** Clock sources, primary first, then backups in order of preference. At least one. */
  sources: ClockSource[];
  /** Poll period and per-request timeout (ms). */
  heartbeatMs: number;
  /** Assumed worst-case drift of `local()` (ppm): ε grows by this × time since the last good heartbeat. */
  driftPpm: number;
  /** Past this ε (ms) the clock reports itself unsynchronized. */
  maxUncertaintyMs: number;
  /**
   * This node's oscillator (ms; only differences matter). Default `performance.timeOrigin +
   * performance.now()`, which does not jump with the wall clock. Tests inject a fault-injecting clock.
   */
  local?: () => number;
  log: Logger;
}

/** A snapshot of the client's state, for health endpoints, logs and tests. */
export interface ClockClientStatus {
  /** Id of the source whose sample is in use, or undefined before any good heartbeat. */
  source: string | undefined;
  /** Current ε (ms); Infinity before any good heartbeat. */
  eps: number;
  /** Reference time − local oscillator (ms) from the sample in use; NaN before any. */
  offsetMs: number;
  /** Local ms since the sample in use was taken; Infinity before any. */
  lastGoodAgeMs: number;
  synchronized: boolean;
  /** Why unsynchronized, '' when synchronized. */
  reason: string;
}

/** A good heartbeat: true time at local reading `t1` lies in [mid − half, mid + half]. */
interface Sample {
  source: string;
  /** Local reading after the answer arrived (ms). */
  t1: number;
  /** Midpoint estimate of true time at t1 (ms). */
  mid: number;
  /** Half-width at t1: eps_p + rtt/2 (ms). */
  half: number;
  rtt: number;
}

type Outcome = { ok: true; sample: Sample } | { ok: false; reason: 'unknown_node' | 'malformed' | 'unreachable'; detail: string };

/**
 * A {@link Clock} fed by heartbeats from clock sources (see the module comment for the formula).
 *
 * Before the first good heartbeat `eps()` is Infinity, `now()` is the local reading ±
 * {@link UNKNOWN_HALF_WIDTH_MS} (nothing is known, but commit timestamps taken from its midpoint
 * stay finite), and `synchronized()` is false.
 */
export class ClockClient implements Clock {
  private readonly local: () => number;
  private readonly log: Logger;
  private current: Sample | undefined;
  /** Each source's sample of the previous round (deleted when it did not answer), for the drift check. */
  private readonly previous = new Map<string, Sample>();
  private disagreement: string | undefined;
  private driftSuspect: string | undefined;
  private readonly logged = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private round: Promise<void> | undefined;
  private lastSourceLabel: string | undefined;

  /** Use {@link startClockClient}; `start()` must be called before the clock is of use. */
  constructor(private readonly o: ClockClientOptions) {
    if (o.sources.length === 0) throw new Error('clock client: at least one clock source is needed');
    this.local = o.local ?? (() => performance.timeOrigin + performance.now());
    this.log = o.log;
  }

  /** Poll once, then every `heartbeatMs`. Resolves after the first round, answered or not. */
  async start(): Promise<void> {
    await this.poll();
    if (this.closed) return;
    this.timer = setInterval(() => {
      if (!this.round) void this.poll();
    }, this.o.heartbeatMs);
    this.timer.unref();
  }

  /** Stop polling (the last state is kept and keeps aging). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** Interval containing true time (ms since the epoch); ±Infinity before any good heartbeat. */
  now(): TimeInterval {
    const l = this.local();
    const s = this.current;
    // Nothing known yet: the local oscillator (started from the wall clock) as the midpoint, so
    // timestamps stay finite, and a half-width no bound can pass (ε is Infinity, unsynchronized).
    if (!s) return { earliest: l - UNKNOWN_HALF_WIDTH_MS, latest: l + UNKNOWN_HALF_WIDTH_MS };
    const t = s.mid + (l - s.t1);
    const e = this.epsAt(s, l);
    return { earliest: t - e, latest: t + e };
  }

  /** ε (ms) = eps_p + rtt/2 + driftPpm/1e6 × (local − t1); Infinity before any good heartbeat. */
  eps(): number {
    return this.current ? this.epsAt(this.current, this.local()) : Number.POSITIVE_INFINITY;
  }

  /** False before any good heartbeat, while ε > maxUncertaintyMs, while sources disagree, or after a drift was caught. */
  synchronized(): boolean {
    return this.unsynchronizedReason() === '';
  }

  /** One sentence naming ε, the bound and the last good source and its age; '' when synchronized. */
  unsynchronizedReason(): string {
    const s = this.current;
    const bound = this.o.maxUncertaintyMs;
    if (!s)
      return `clock of node ${this.o.node} has had no good heartbeat yet from ${this.o.sources.map((x) => x.id).join(', ')} (ε unbounded, max ${bound} ms)`;
    const l = this.local();
    const e = this.epsAt(s, l);
    const last = `last good heartbeat from ${s.source} ${fmt(l - s.t1)} ms ago`;
    if (this.disagreement)
      return `clock sources disagree beyond their bounds: ${this.disagreement} (ε ${fmt(e)} ms, max ${bound} ms, ${last})`;
    if (this.driftSuspect) return `${this.driftSuspect} (ε ${fmt(e)} ms, max ${bound} ms, ${last})`;
    if (e > bound) return `clock uncertainty ε ${fmt(e)} ms exceeds max_uncertainty_ms ${bound} ms (${last})`;
    return '';
  }

  /** Snapshot of the state (see {@link ClockClientStatus}). */
  status(): ClockClientStatus {
    const s = this.current;
    const l = this.local();
    const reason = this.unsynchronizedReason();
    return {
      source: s?.source,
      eps: s ? this.epsAt(s, l) : Number.POSITIVE_INFINITY,
      offsetMs: s ? s.mid - s.t1 : Number.NaN,
      lastGoodAgeMs: s ? l - s.t1 : Number.POSITIVE_INFINITY,
      synchronized: reason === '',
      reason,
    };
  }

  private epsAt(s: Sample, l: number): number {
    return s.half + (this.o.driftPpm / 1e6) * Math.max(0, l - s.t1);
  }

  /** One round: ask every source at once, then update the state from the answers. */
  private poll(): Promise<void> {
    const r = (async () => {
      const outcomes = await Promise.all(this.o.sources.map((src) => this.ask(src)));
      if (!this.closed) this.apply(outcomes);
      this.updateGauges();
    })().finally(() => {
      this.round = undefined;
    });
    this.round = r;
    return r;
  }

  private async ask(src: ClockSource): Promise<Outcome> {
    const t0 = this.local();
    let body: unknown;
    try {
      const res = await fetch(new URL('/time', src.url), { signal: AbortSignal.timeout(this.o.heartbeatMs) });
      body = await res.json().catch(() => undefined);
      if (!res.ok) {
        const err = (body as { error?: unknown } | undefined)?.error;
        return { ok: false, reason: 'unreachable', detail: `HTTP ${res.status}${typeof err === 'string' ? `: ${err}` : ''}` };
      }
    } catch (e) {
      return { ok: false, reason: 'unreachable', detail: (e as Error).message };
    }
    const t1 = this.local();
    const b = body as { node?: unknown; time?: unknown; eps?: unknown } | undefined;
    if (!b || typeof b !== 'object' || typeof b.node !== 'string' || typeof b.time !== 'number' || typeof b.eps !== 'number')
      return {
        ok: false,
        reason: 'malformed',
        detail: `expected { node: string, time: number, eps: number }, got ${JSON.stringify(body)?.slice(0, 200)}`,
      };
    if (b.node !== src.id)
      return {
        ok: false,
        reason: 'unknown_node',
        detail: `heartbeat from unknown node "${b.node}" at ${src.url} (configured as ${src.id})`,
      };
    if (!Number.isFinite(b.time) || !Number.isFinite(b.eps) || b.eps < 0)
      return { ok: false, reason: 'malformed', detail: `time ${b.time} / eps ${b.eps} is not a finite, non-negative reading` };
    const rtt = Math.max(0, t1 - t0);
    return { ok: true, sample: { source: src.id, t1, mid: b.time + rtt / 2, half: b.eps + rtt / 2, rtt } };
  }

  private apply(outcomes: Outcome[]): void {
    const good: Sample[] = [];
    let driftNote: string | undefined;
    outcomes.forEach((out, i) => {
      const src = this.o.sources[i] as ClockSource;
      if (!out.ok) {
        this.previous.delete(src.id);
        if (out.reason !== 'unreachable') mRejected.inc({ node: this.o.node, source: src.id, reason: out.reason });
        this.logOnce(
          src.id,
          out.reason,
          `clock heartbeat from ${src.id} ${out.reason === 'unreachable' ? 'failed' : 'rejected'}: ${out.detail}`,
        );
        return;
      }
      const s = out.sample;
      // The drift check: this source's previous answer, aged by our assumed drift, must still
      // overlap its new answer; if not, our oscillator ran off faster than driftPpm (or the
      // source stepped). The sample is taken anyway (a reset), but the clock stays
      // unsynchronized until an answer agrees with its prediction again.
      const prev = this.previous.get(src.id);
      this.previous.set(src.id, s);
      if (prev) {
        const gap = Math.abs(s.mid - (prev.mid + (s.t1 - prev.t1)));
        const allowed = s.half + this.epsAt(prev, s.t1);
        if (gap > allowed) {
          mRejected.inc({ node: this.o.node, source: src.id, reason: 'prediction' });
          const msg = `heartbeat from ${src.id} is ${fmt(gap)} ms off the prediction (allowed ${fmt(allowed)} ms): the local oscillator drifts beyond drift_ppm ${this.o.driftPpm}, or ${src.id} stepped; state reset to its answer`;
          this.logOnce(src.id, 'prediction', msg);
          driftNote ??= msg;
        } else this.logged.delete(`${src.id}:prediction`);
      }
      this.rearm(src.id);
      good.push(s);
    });
    if (good.length === 0) return;
    this.driftSuspect = driftNote;
    // Do the fresh answers agree? Every pair's intervals, projected to the latest t1, must intersect.
    const l = Math.max(...good.map((s) => s.t1));
    let disagreement: string | undefined;
    for (let a = 0; a < good.length && !disagreement; a++) {
      for (let b = a + 1; b < good.length && !disagreement; b++) {
        const x = good[a] as Sample;
        const y = good[b] as Sample;
        const diff = x.mid - x.t1 - (y.mid - y.t1);
        const room = this.epsAt(x, l) + this.epsAt(y, l);
        if (Math.abs(diff) > room)
          disagreement = `${x.source} and ${y.source} are ${fmt(Math.abs(diff))} ms apart, more than their bounds allow (${fmt(room)} ms)`;
      }
    }
    if (disagreement && disagreement !== this.disagreement) this.log.warn({ node: this.o.node }, `clock sources disagree: ${disagreement}`);
    if (!disagreement && this.disagreement) this.log.info({ node: this.o.node }, 'clock sources agree again');
    this.disagreement = disagreement;
    const chosen = good[0] as Sample; // highest priority among those that answered
    if (this.current && this.current.source !== chosen.source) {
      mFailovers.inc({ node: this.o.node });
      this.log.warn(
        { node: this.o.node, from: this.current.source, to: chosen.source },
        `clock source switched from ${this.current.source} to ${chosen.source}`,
      );
    }
    this.current = chosen;
  }

  private logOnce(source: string, reason: string, msg: string): void {
    const key = `${source}:${reason}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log.warn({ node: this.o.node, source, reason }, msg);
  }

  /** A good answer from `source`: log its next failures again. */
  private rearm(source: string): void {
    for (const r of ['unknown_node', 'malformed', 'unreachable']) this.logged.delete(`${source}:${r}`);
  }

  private updateGauges(): void {
    const node = this.o.node;
    const st = this.status();
    clockUncertaintyGauge.set({ node }, Number.isFinite(st.eps) ? st.eps / 1000 : Number.POSITIVE_INFINITY);
    if (Number.isFinite(st.offsetMs)) mOffset.set({ node }, st.offsetMs / 1000);
    mSync.set({ node }, st.synchronized ? 1 : 0);
    if (st.source !== this.lastSourceLabel) {
      if (this.lastSourceLabel !== undefined) mSource.remove({ node, source: this.lastSourceLabel });
      if (st.source !== undefined) mSource.set({ node, source: st.source }, 1);
      this.lastSourceLabel = st.source;
    }
  }
}

const fmt = (ms: number): string => (Math.abs(ms) >= 100 ? ms.toFixed(0) : ms.toFixed(2));

/**
 * Start a {@link ClockClient}: polls once (resolves after that first round, whether or not a
 * source answered), then every `heartbeatMs` until `close()`.
 * @throws Error when `sources` is empty.
 */
export async function startClockClient(opts: ClockClientOptions): Promise<ClockClient> {
  const c = new ClockClient(opts);
  await c.start();
  return c;
}
