/**
 * Sequence values, unique across every node (DESIGN §7; issue 10 "values are unique across
 * engines, gaps are allowed, as in PostgreSQL"). A router claims a range of a sequence with a
 * `seq_claim` catalog event; the catalog log orders all claims, so every node computes the
 * same ranges and no two nodes ever hand out the same value. Values come from the claimed range
 * until it is used up (then the next claim) or until `setval` / ALTER SEQUENCE resets the
 * sequence (ranges claimed before the reset are dropped).
 */
import { randomUUID } from 'node:crypto';
import { type Catalog, type DdlEvent, type SequenceAccess, SequenceClaimNeeded, SqlState, StratumError } from '@stratum/shared';
import { parseNameParts } from './catalog/rewrite.ts';

/** A claimed range being used. */
interface Range {
  next: bigint;
  last: bigint;
  step: bigint;
  /** Catalog version of the claim. */
  version: number;
}

/** Fewest values a claim asks for (PostgreSQL's CACHE 1 would cost a catalog round trip per value). */
const MIN_CLAIM = 32;
/** Most values a claim asks for when values are used fast. */
const MAX_CLAIM = 4096;

/** The router's sequence ranges, shared by its sessions. */
export class SequenceAllocator {
  private readonly ranges = new Map<string, Range>();
  private readonly claiming = new Map<string, Promise<void>>();
  /** Values per claim, per sequence (doubles while claims come fast). */
  private readonly size = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly catalog: Catalog,
    private readonly publish: (ev: DdlEvent) => Promise<number>,
    private readonly timeoutMs: number,
  ) {}

  /**
   * The next value of `name` from a claimed range, or undefined when none is at hand.
   * @throws StratumError 42P01 for an unknown sequence.
   */
  take(name: string): bigint | undefined {
    const s = this.catalog.sequence(name);
    if (!s) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    const r = this.ranges.get(name);
    if (!r || r.version < s.resetVersion || (r.step > 0n ? r.next > r.last : r.next < r.last)) return undefined;
    const v = r.next;
    r.next += r.step;
    return v;
  }

  /**
   * The sequence a nextval/currval/setval argument names, read as PostgreSQL reads a regclass
   * (`public.s`, `"S"`, `S` folded to `s`); a name that is exactly a sequence's is that one.
   * @throws StratumError 42P01 for a schema other than public (Stratum has one schema).
   */
  resolve(raw: string): string {
    if (this.catalog.sequence(raw)) return raw;
    const parts = parseNameParts(raw);
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'public')) {
      throw new StratumError(SqlState.undefinedTable, `relation "${raw}" does not exist`);
    }
    return parts[parts.length - 1] ?? raw;
  }

  /** @throws StratumError 42P01 when `name` is not a sequence. */
  known(name: string): void {
    if (!this.catalog.sequence(name)) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
  }

  /**
   * Claim the next range of `name` (one claim in flight per sequence).
   * @throws StratumError 2200H when the sequence is exhausted; 08006 when the catalog does not answer.
   */
  claim(name: string): Promise<void> {
    let p = this.claiming.get(name);
    if (!p) {
      p = this.doClaim(name).finally(() => this.claiming.delete(name));
      this.claiming.set(name, p);
    }
    return p;
  }

  private async doClaim(name: string): Promise<void> {
    const s = this.catalog.sequence(name);
    if (!s) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    const now = Date.now();
    const sz = this.size.get(name) ?? { n: Math.max(MIN_CLAIM, s.cache), at: 0 };
    if (now - sz.at < 1000) sz.n = Math.min(MAX_CLAIM, sz.n * 2);
    sz.at = now;
    this.size.set(name, sz);
    const claim = randomUUID();
    const version = await this.publish({ kind: 'seq_claim', name, claim, count: sz.n, at: now });
    await this.catalog.waitFor(version, this.timeoutMs);
    const got = this.catalog.claimed(claim);
    if (!got) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    if (s.increment > 0n ? got.last < got.first : got.last > got.first) {
      const bound = s.increment > 0n ? `maximum value of sequence "${name}" (${s.max})` : `minimum value of sequence "${name}" (${s.min})`;
      throw new StratumError('2200H', `nextval: reached ${bound}`);
    }
    this.ranges.set(name, { next: got.first, last: got.last, step: got.step, version: got.version });
  }

  /**
   * setval: publish the new position and wait until it applies; this router's range is dropped.
   * @throws StratumError 22003 when the value is outside the sequence's bounds.
   */
  async set(name: string, value: bigint, isCalled: boolean): Promise<void> {
    const s = this.catalog.sequence(name);
    if (!s) throw new StratumError(SqlState.undefinedTable, `relation "${name}" does not exist`);
    if (value < s.min || value > s.max) {
      throw new StratumError(
        SqlState.numericValueOutOfRange,
        `setval: value ${value} is out of bounds for sequence "${name}" (${s.min}..${s.max})`,
      );
    }
    const version = await this.publish({ kind: 'seq_set', name, value, isCalled, at: Date.now() });
    await this.catalog.waitFor(version, this.timeoutMs);
    this.ranges.delete(name);
  }
}

/**
 * One session's view of sequences (`SequenceAccess` of the evaluator): nextval from the
 * router's ranges (throwing {@link SequenceClaimNeeded} when a claim is needed), currval and
 * lastval of this session (55000 before nextval, as PostgreSQL), setval queued and published by
 * {@link SessionSequences.flush} after the evaluation.
 */
export class SessionSequences implements SequenceAccess {
  private readonly current = new Map<string, bigint>();
  private last: bigint | undefined;
  private pending: { name: string; value: bigint; isCalled: boolean }[] = [];

  constructor(readonly allocator: SequenceAllocator) {}

  nextval(raw: string): bigint {
    const name = this.allocator.resolve(raw);
    const v = this.allocator.take(name);
    if (v === undefined) throw new SequenceClaimNeeded(name);
    this.current.set(name, v);
    this.last = v;
    return v;
  }

  currval(raw: string): bigint {
    const name = this.allocator.resolve(raw);
    this.allocator.known(name);
    const v = this.current.get(name);
    if (v === undefined) throw new StratumError('55000', `currval of sequence "${name}" is not yet defined in this session`);
    return v;
  }

  setval(raw: string, value: bigint, isCalled: boolean): bigint {
    const name = this.allocator.resolve(raw);
    this.pending.push({ name, value, isCalled });
    if (isCalled) {
      this.current.set(name, value);
      this.last = value;
    }
    return value;
  }

  lastval(): bigint {
    if (this.last === undefined) throw new StratumError('55000', 'lastval is not yet defined in this session');
    return this.last;
  }

  /** Publish the setval calls of the last evaluation. */
  async flush(): Promise<void> {
    const list = this.pending;
    this.pending = [];
    for (const p of list) await this.allocator.set(p.name, p.value, p.isCalled);
  }
}
