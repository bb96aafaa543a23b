/**
 * Error types of the wire layer.
 *
 * Protocol reference: PostgreSQL 15 docs §55.8 "Error and Notice Message Fields" and
 * Appendix A "PostgreSQL Error Codes".
 */
import type { PgErrorLike } from './types.ts';

/** Optional ErrorResponse fields of a {@link PgError}. */
export interface PgErrorExtra {
  severity?: 'ERROR' | 'FATAL';
  detail?: string;
  hint?: string;
  /** 1-based character position in the query string. */
  position?: number;
  /** Context (ErrorResponse field 'W'), e.g. `COPY t, line 3, column b: "x"`. */
  where?: string;
}

/** An error with a SQLSTATE, sent to the client as an ErrorResponse ('E'). */
export class PgError extends Error implements PgErrorLike {
  /** SQLSTATE, five characters. */
  readonly code: string;
  readonly severity: 'ERROR' | 'FATAL';
  detail?: string;
  hint?: string;
  position?: number;
  where?: string;

  constructor(code: string, message: string, extra: PgErrorExtra = {}) {
    super(message);
    this.name = 'PgError';
    this.code = code;
    this.severity = extra.severity ?? 'ERROR';
    if (extra.detail !== undefined) this.detail = extra.detail;
    if (extra.hint !== undefined) this.hint = extra.hint;
    if (extra.position !== undefined) this.position = extra.position;
    if (extra.where !== undefined) this.where = extra.where;
  }
}

/**
 * A framing or message-layout violation by the client. The connection answers with a
 * FATAL ErrorResponse 08P01 (protocol_violation) and is closed; other connections are unaffected.
 */
export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Normalise anything thrown by the SQL layer into a {@link PgErrorLike}: objects carrying a
 * five-character `code` keep their fields; anything else becomes XX000 internal_error with its message.
 */
export function toPgErrorLike(err: unknown): PgErrorLike {
  if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (typeof e.code === 'string' && SQLSTATE.test(e.code)) {
      const out: PgErrorLike = { code: e.code, message };
      if (e.severity === 'ERROR' || e.severity === 'FATAL') out.severity = e.severity;
      if (typeof e.detail === 'string') out.detail = e.detail;
      if (typeof e.hint === 'string') out.hint = e.hint;
      if (typeof e.position === 'number' && Number.isInteger(e.position) && e.position > 0) out.position = e.position;
      if (typeof e.where === 'string') out.where = e.where;
      return out;
    }
    return { code: 'XX000', message };
  }
  return { code: 'XX000', message: String(err) };
}
