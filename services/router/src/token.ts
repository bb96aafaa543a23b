/**
 * Session tokens (DESIGN §6, monotonic_reads): what a session has written and read, carried by
 * the client so a later request — on another connection, router or after a router restart —
 * reads no older state. Over HTTP it is the `Stratum-Session-Token` header (the server returns
 * the updated token on every answer; the client sends it back); over pgwire each connection
 * keeps its own, readable with `SHOW stratum.session_token` and adopted with
 * `SET stratum.session_token = '…'`.
 *
 * Form: `v1.<payload>.<mac>`, payload = base64url(JSON {e, w, s}), mac = base64url of
 * HMAC-SHA256(secret, "v1." + payload) (RFC 2104). Tokens are not secret (they hold timestamps
 * only) but must be unforgeable: a forged `s` far in the future would make every read wait.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SqlState, StratumError } from '@stratum/shared';

/** What a session token says. */
export interface SessionState {
  /** Index of the TX engine the session is sticky to (in `cluster.tx_engines` order). */
  e: number;
  /** Highest commit timestamp (ms) the session wrote through each TX engine, by engine index. */
  w: number[];
  /** Highest commit timestamp (ms) of any version the session has written or read. */
  s: number;
}

/** Largest number of TX engines a token may name (sanity bound for decoding). */
const MAX_ENGINES = 1024;

/** Signs and verifies session tokens with one HMAC key. */
export class SessionTokens {
  private readonly key: Buffer;

  /** @param secret shared by every router of a cluster (`router.session_token_secret`); default a random key of this process. */
  constructor(secret?: string) {
    this.key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  /** Encode and sign `st`. */
  encode(st: SessionState): string {
    const payload = Buffer.from(JSON.stringify({ e: st.e, w: st.w, s: st.s })).toString('base64url');
    return `v1.${payload}.${this.mac(`v1.${payload}`)}`;
  }

  /**
   * Verify and decode a token.
   * @param engines number of TX engines of this cluster (an index at or past it is refused)
   * @param latestMs the router's `now().latest` (ms): a token claiming later commits is refused
   * @throws StratumError 22023 naming what is wrong: not `v1.<payload>.<mac>`, a signature that
   *   does not match (forged, altered, or signed with another secret), a payload that is not the
   *   expected JSON, an unknown engine, or timestamps in the future.
   */
  decode(token: string, engines: number, latestMs: number): SessionState {
    const bad = (why: string) =>
      new StratumError(SqlState.invalidParameterValue, `invalid session token: ${why}`, {
        hint: 'Send back the token exactly as the server returned it (Stratum-Session-Token header, SHOW stratum.session_token), or none to start a new session.',
      });
    const t = token.trim();
    const m = /^v1\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/.exec(t);
    if (!m) throw bad(`malformed (expected v1.<payload>.<signature>, got ${JSON.stringify(t.slice(0, 60))}${t.length > 60 ? '…' : ''})`);
    const want = Buffer.from(this.mac(`v1.${m[1]}`), 'utf8');
    const got = Buffer.from(m[2] as string, 'utf8');
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      throw bad('signature does not match (forged, altered, or signed by a router with another session_token_secret)');
    }
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(m[1] as string, 'base64url').toString('utf8'));
    } catch {
      throw bad('payload is not JSON');
    }
    const o = v as Partial<SessionState> | null;
    const isTs = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (!o || typeof o !== 'object' || !Number.isInteger(o.e) || !Array.isArray(o.w) || !isTs(o.s) || !o.w.every(isTs)) {
      throw bad('payload is not {e: engine index, w: [commit ts per engine], s: commit ts}');
    }
    if ((o.e as number) < 0 || (o.e as number) >= Math.min(engines, MAX_ENGINES) || o.w.length > MAX_ENGINES) {
      throw bad(`engine index ${o.e} is not one of this cluster's ${engines} TX engines`);
    }
    const newest = Math.max(o.s, ...o.w);
    if (newest > latestMs) {
      throw bad(
        `it claims commits at ${new Date(newest).toISOString()}, later than this router's clock allows (${new Date(latestMs).toISOString()})`,
      );
    }
    return { e: o.e as number, w: o.w.slice(0, engines), s: o.s };
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}
