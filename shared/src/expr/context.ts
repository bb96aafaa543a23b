/**
 * Session state an evaluation reads (the transaction's clock, the TimeZone setting, sequences).
 * Re-exported by the evaluator API (index.ts).
 */

/** Session state an evaluation reads. */
export interface EvalContext {
  /** Transaction start (µs since epoch, UTC): now(), current_timestamp, transaction_timestamp(). */
  txnTimeUs: bigint;
  /** Statement start (µs since epoch): statement_timestamp(). */
  stmtTimeUs: bigint;
  /** Session TimeZone: an IANA name or a POSIX/ISO offset; default 'UTC'. */
  timeZone: string;
  /** Sequence functions; absent where sequences cannot be reached (0A000 names the call). */
  sequences?: SequenceAccess;
}

/** Sequence functions for nextval/currval/setval/lastval. */
export interface SequenceAccess {
  /**
   * The next value of `name`. Synchronous: an implementation without a value at hand throws
   * {@link SequenceClaimNeeded}; the caller awaits the claim and evaluates again.
   */
  nextval(name: string): bigint;
  /** @throws 55000 when nextval was not called in this session. */
  currval(name: string): bigint;
  setval(name: string, value: bigint, isCalled: boolean): bigint;
  lastval(): bigint;
}

/** Thrown by {@link SequenceAccess.nextval} when values of `sequence` must be claimed first (async). */
export class SequenceClaimNeeded extends Error {
  constructor(readonly sequence: string) {
    super(`values of sequence "${sequence}" must be claimed`);
    this.name = 'SequenceClaimNeeded';
  }
}
