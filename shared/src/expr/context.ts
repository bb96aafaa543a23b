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
  /** The session, for current_setting/set_config & co.; absent on the row tiers (0A000 names the call). */
  session?: SessionAccess;
}

/** What session information functions read and change (fn-session.ts). */
export interface SessionAccess {
  /** A setting as SHOW prints it, or undefined for an unknown name. */
  setting(name: string): string | undefined;
  /**
   * set_config(name, value, is_local): SET name = value (SET LOCAL when `isLocal`); returns the new value as SHOW prints it.
   * @throws what SET throws (42704, 22023, 0A000, 55P02).
   */
  setConfig(name: string, value: string, isLocal: boolean): string;
  /** The session's role (`$user` in search_path). */
  user: string;
  /** pg_backend_pid(): the id the session's BackendKeyData names (a process id here). */
  backendPid: number;
  /** txid_current(): an id of the current transaction (bigint). */
  txid(): bigint;
  /** pg_postmaster_start_time() (µs since epoch). */
  startTimeUs: bigint;
  /** version() text. */
  version: string;
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
