/**
 * Version stamps (DESIGN §2): every row version gets a UUIDv7 (RFC 9562 §5.7) whose 48-bit
 * time field is the transaction's commit timestamp in ms. The generator is monotonic per
 * engine: stamps it hands out sort strictly increasing, even within one millisecond.
 *
 * Layout (RFC 9562 §6.2 "Method 1: Fixed Bit-Length Dedicated Counter"): after the time field
 * and the version nibble, a 42-bit counter fills `rand_a` (12 bits) and the top 30 bits of
 * `rand_b`; the last 32 bits of `rand_b` are random per generator (one per TX engine process).
 * The counter starts at a random value below 2^41 and only ever increments (it is not reseeded
 * each millisecond), so consecutive stamps differ in a few low bits: Parquet's encodings and ZSTD
 * then store `_version` in a few bytes per row instead of ~12 for per-stamp random bits
 * (services/olap-shard/bench/file-size.ts). Uniqueness across engines rests on the 32 random
 * bits plus the time field and counter; within an engine on strict monotonicity.
 */
import { randomInt } from 'node:crypto';

const COUNTER_BITS = 42;
const LOW_BITS = 30;
const LOW_MASK = 2 ** LOW_BITS;

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

/** Monotonic UUIDv7 generator that stamps a given commit timestamp. */
export class VersionGenerator {
  private lastTs = 0;
  private counter: number;
  private readonly node: string;

  constructor() {
    // Random start below 2^41 leaves 2^41 increments before the 42-bit counter could wrap.
    this.counter = randomInt(0, 2 ** 40) * 2 + randomInt(0, 2);
    this.node = hex(randomInt(0, 2 ** 32), 8);
  }

  /**
   * A new version for commit timestamp `ts` (ms). `ts` must not go backwards; when it does
   * (the caller's clock stepped back), the last timestamp is reused so order holds.
   */
  next(ts: number): string {
    if (ts < this.lastTs) ts = this.lastTs;
    this.counter++;
    if (this.counter >= 2 ** COUNTER_BITS) {
      // Wrapped (after 2^41 stamps): move to the next millisecond so order still holds.
      this.counter = 0;
      ts = this.lastTs + 1;
    }
    this.lastTs = ts;
    const t = hex(ts, 12);
    const high = Math.floor(this.counter / LOW_MASK); // 12 bits → rand_a
    const low = this.counter % LOW_MASK; // 30 bits → top of rand_b, after the variant bits 10
    const b = hex(0x80000000 + low, 8);
    return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${hex(high, 3)}-${b.slice(0, 4)}-${b.slice(4, 8)}${this.node}`;
  }
}

/** Commit timestamp (ms) stored in a UUIDv7's first 48 bits. */
export function versionTimestamp(version: string): number {
  return Number.parseInt(version.slice(0, 8) + version.slice(9, 13), 16);
}
