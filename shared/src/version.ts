/**
 * Version stamps (DESIGN §2): every row version gets a UUIDv7 (RFC 9562 §5.7) whose 48-bit
 * time field is the transaction's commit timestamp in ms. The generator is monotonic per
 * engine: stamps it hands out sort strictly increasing, even within one millisecond.
 */
import { V7Generator } from 'uuidv7';

/** Monotonic UUIDv7 generator that stamps a given commit timestamp. */
export class VersionGenerator {
  private readonly gen = new V7Generator();
  private lastTs = 0;

  /**
   * A new version for commit timestamp `ts` (ms). `ts` must not go backwards; when it does
   * (the caller's clock stepped back), the last timestamp is reused so order holds.
   */
  next(ts: number): string {
    if (ts < this.lastTs) ts = this.lastTs;
    this.lastTs = ts;
    const u = this.gen.generateOrAbortCore(ts, 10_000);
    return (u ?? this.gen.generateOrResetCore(ts, 10_000)).toString();
  }
}

/** Commit timestamp (ms) stored in a UUIDv7's first 48 bits. */
export function versionTimestamp(version: string): number {
  return Number.parseInt(version.slice(0, 8) + version.slice(9, 13), 16);
}
